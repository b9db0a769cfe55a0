"""The task registry: ``TASKS[name]`` for every benchmark task, in ``--list`` order."""

from __future__ import annotations

from . import ckm, digits, tdcm

TASKS = {t.name: t for module in (digits, ckm, tdcm) for t in module.TASKS}

__all__ = ["TASKS"]
