"""Class splits of sklearn's embedded digits used to choose defaults (never the demo split).

The demo (``python -m skhda``) is source 0-4 -> target 5-9; settings must not be
chosen on its labels. The splits are those of the registry's ``digits-proxy``
task (:func:`skhda.benchmark.tasks.digits.proxy_splits`), under the short names
the tuning records of ``defaults_ccn_xdc.py`` use.
"""

from skhda.benchmark.tasks.digits import DEMO, proxy_splits, split_data

DEMO_SPLIT = DEMO[0]

PROXY_SPLITS = dict(zip(["5-9->0-4", "evens->odds", "odds->evens", "rand0", "rand1", "rand2"],
                        proxy_splits().values(), strict=True))


def digits_split(source_classes, target_classes):
    """(Xs, ys, Xt, yt) of the embedded digits, pixel values / 16, as the demo scales them."""
    d = split_data(source_classes, target_classes)
    return d.X_source, d.y_source, d.X_target, d.y_target
