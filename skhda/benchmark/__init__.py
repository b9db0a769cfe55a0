"""Benchmark tasks: every table of ``doc/benchmarks/`` as data, and the runner.

``python -m skhda benchmark --list`` lists the tasks; ``python -m skhda
benchmark TASK`` fits them (see :mod:`skhda.benchmark._cli`). From Python:

>>> from skhda.benchmark import TASKS, run_task, results_table
>>> task = TASKS["digits"]
>>> records = run_task(task, seeds=[0], methods=["k-means on target"], progress=False)
>>> print(results_table(task, records).splitlines()[2].split("|")[1].strip())
k-means on target

Tasks are declared once, in :mod:`skhda.benchmark.tasks`: a
:class:`Task` names its paper, setting, data files and expected CPU time,
loads its data per condition with the loaders of :mod:`skhda.datasets`, and
lists :class:`Method` rows that build an estimator for a seed.
"""

from ._core import (
    FitContext,
    Method,
    Task,
    TransferData,
    fit_and_score,
    load_results,
    results_table,
    run_task,
)
from .tasks import TASKS

__all__ = ["TASKS", "FitContext", "Method", "Task", "TransferData", "fit_and_score",
           "load_results", "results_table", "run_task"]
