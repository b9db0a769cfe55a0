"""The embedded demo (``python -m skhda``) as a benchmark task: no data files."""

from __future__ import annotations

from ...datasets import load_digits_transfer
from .._core import Method, Task, TransferData


def _load(data_dir, condition):
    Xs, ys, Xt, yt = load_digits_transfer()
    return TransferData(Xs / 16.0, ys, Xt / 16.0, yt)


def _rows():
    from ...__main__ import demo_estimators

    names = [name for name, _ in demo_estimators()]

    def make(name):
        return lambda ctx: dict(demo_estimators(5, ctx.seed))[name]

    return tuple(Method(n, make(n), deep=not n.startswith(("k-means", "spectral")))
                 for n in names)


TASKS = [Task(
    name="digits",
    title="Embedded digits: source 0-4 (labelled) -> target 5-9 (8 x 8, scikit-learn)",
    paper="none (the package's demo, python -m skhda)",
    setting="UDA, disjoint label sets",
    files=(),
    cpu_time="about 1 min per seed",
    load=_load,
    methods=_rows(),
    seeds=3,
)]
