"""Class splits of sklearn's embedded digits used to choose defaults (never the demo split).

The demo (``python -m skhda``) is source 0-4 -> target 5-9; settings must not be
chosen on its labels, so the proxy tasks here are other 5/5 class splits.
"""

import numpy as np
from sklearn.datasets import load_digits

DEMO_SPLIT = (0, 1, 2, 3, 4)


def _random_splits(n, seed=12345):
    rng = np.random.RandomState(seed)
    out = []
    while len(out) < n:
        src = tuple(sorted(rng.choice(10, 5, replace=False).tolist()))
        tgt = tuple(sorted(set(range(10)) - set(src)))
        if DEMO_SPLIT in (src, tgt) or src in [s for s, _ in out]:
            continue
        out.append((src, tgt))
    return out


PROXY_SPLITS = {
    "5-9->0-4": ((5, 6, 7, 8, 9), DEMO_SPLIT),
    "evens->odds": ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9)),
    "odds->evens": ((1, 3, 5, 7, 9), (0, 2, 4, 6, 8)),
    **{f"rand{i}": s for i, s in enumerate(_random_splits(3))},
}


def digits_split(source_classes, target_classes):
    """(Xs, ys, Xt, yt) of the embedded digits, pixel values / 16, as the demo scales them."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    s, t = np.isin(y, source_classes), np.isin(y, target_classes)
    return X[s], y[s], X[t], y[t]
