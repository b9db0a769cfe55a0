"""USPS cross-task class splits for CCN's image checks, and one fit's record.

Shared by ``ccn_contrast_heldout.py`` and ``ccn_image_graph_proxy.py``: the
source classes are labelled (G learns them), the target classes clustered.
"""

import json
import time

import numpy as np
from sklearn.metrics import normalized_mutual_info_score as nmi

from skhda.datasets import load_usps
from skhda.metrics import cluster_accuracy, n_dominant_clusters


def usps_split(data_dir, source_classes, target_classes):
    """(Xs, ys, Xt, yt): USPS images (n, 1, 16, 16) of the source / target classes."""
    X, y = load_usps(data_dir)
    s, t = np.isin(y, source_classes), np.isin(y, target_classes)
    return X[s, None], y[s], X[t, None], y[t]


def fit_record(est, data, k, out, **fields):
    """Fit the unfitted ``est`` on ``data``; append and return the target's scores with ``fields``.

    ``fields`` may be callables of the fitted estimator (resolved values).
    """
    Xs, ys, Xt, yt = data
    t = time.perf_counter()
    est = est.fit(Xs, ys, Xt)
    fit_s = time.perf_counter() - t
    labels = est.labels_
    rec = {key: value(est) if callable(value) else value for key, value in fields.items()}
    rec.update(acc=float(cluster_accuracy(yt, labels)), nmi=float(nmi(yt, labels)),
               ndc=int(n_dominant_clusters(labels, k)), fit_s=fit_s)
    print(json.dumps(rec), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return rec
