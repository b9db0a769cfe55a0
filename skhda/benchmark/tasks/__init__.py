"""The task registry: ``TASKS[name]`` for every benchmark task, in ``--list`` order."""

from __future__ import annotations

from . import ccn, ckm, digits, memory, overhead, ssan, tdcm, xdc

TASKS = {t.name: t for m in (digits, ckm, tdcm, ssan, xdc, overhead, memory, ccn) for t in m.TASKS}

__all__ = ["TASKS"]
