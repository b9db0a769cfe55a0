"""The embedded demo (``python -m skhda``) as a benchmark task, and its proxy tasks.

``digits`` is the demo itself (source 0-4 -> target 5-9). ``digits-proxy``
holds other 5 / 5 class splits of the same digits, whose labels may be used
to choose defaults: the demo split never appears there (its reverse does:
there the demo's target digits are the labelled source, and the digits
scored are the demo's labelled source digits). No data files.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from ...datasets import load_digits_transfer
from .._core import Method, Task, TransferData

DEMO = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))


def proxy_splits(n_random=3, seed=12345):
    """Named (source classes, target classes) splits: the demo's reverse and random ones."""
    splits = {"5-9 -> 0-4": (DEMO[1], DEMO[0]), "evens -> odds": ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9)),
              "odds -> evens": ((1, 3, 5, 7, 9), (0, 2, 4, 6, 8))}
    rng = np.random.RandomState(seed)
    while len(splits) < 3 + n_random:
        src = tuple(sorted(rng.choice(10, 5, replace=False).tolist()))
        tgt = tuple(sorted(set(range(10)) - set(src)))
        if {src, tgt} & set(DEMO) or src in [s for s, _ in splits.values()]:
            continue
        splits[f"{''.join(map(str, src))} -> {''.join(map(str, tgt))}"] = (src, tgt)
    return splits


def split_data(source_classes, target_classes):
    """The embedded digits of these classes, pixels / 16 as the demo scales them."""
    X, y = load_digits(return_X_y=True)
    s, t = np.isin(y, source_classes), np.isin(y, target_classes)
    return TransferData(X[s] / 16.0, y[s], X[t] / 16.0, y[t])


def _load_split(data_dir, condition):
    return split_data(*proxy_splits()[condition])


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


_COMMON = {"setting": "UDA, disjoint label sets", "files": (), "methods": _rows()}

TASKS = [
    Task(name="digits",
         title="Embedded digits: source 0-4 (labelled) -> target 5-9 (8 x 8, scikit-learn)",
         paper="none (the package's demo, python -m skhda)", cpu_time="about 1 min per seed",
         load=_load, seeds=3, **_COMMON),
    Task(name="digits-proxy",
         title="Embedded digits, other class splits (8 x 8): the proxy tasks of the demo's "
               "defaults",
         paper="none (settings protocol: labels that may be used to choose defaults)",
         cpu_time="about 6 min per seed (6 splits)", load=_load_split, seeds=2,
         conditions=tuple(proxy_splits()),
         notes="Each cell pools the 6 class splits and the seeds; the demo split (0-4 -> 5-9) "
               "is never among them.", **_COMMON),
]
