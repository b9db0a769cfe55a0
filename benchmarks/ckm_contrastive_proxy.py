"""CKM-UDA with a stage-1 contrastive term (``lambda_contrastive``) on the two image proxies.

Issue 16, eleventh session (``doc/benchmarks/ckm.md``, "A contrastive term in
stage 1"). One CKM-UDA fit per proxy (``um``: USPS 5-9 -> MNIST test 0-4,
``mu``: MNIST test 0-4 -> USPS 5-9; ``uu``: USPS 0-4 -> USPS 5-9, added after
the first two; labels we may use), seed and weight,
at the defaults otherwise. Each line: the target ACC of the fit, of its
t-SNE start (``init_labels_``), of k-means (10 restarts) on the stage-1
encoder features that CKM hands to its t-SNE map (the features alone, an
unsaturated measure of stage 1), and the fit's seconds (1 thread, two
processes side by side).

    OMP_NUM_THREADS=1 python benchmarks/ckm_contrastive_proxy.py um 0,1 0,3,10 [DATA_DIR]
"""

import sys

import numpy as np
import threadpoolctl
import torch
from _ckm_tsne_inputs import fit_recording_tsne_inputs
from _records import emit
from sklearn.cluster import KMeans

import skhda.ckm as ckm
from skhda.benchmark._core import TransferData
from skhda.benchmark.tasks.ckm import load_pair
from skhda.datasets import load_usps
from skhda.metrics import cluster_accuracy

OUT = "benchmarks/results/ckm-contrastive-proxy.jsonl"
TASKS = {"um": "USPS 5-9 -> MNIST 0-4", "mu": "MNIST 0-4 -> USPS 5-9",
         "uu": "USPS 0-4 -> USPS 5-9"}


def load(which, data_dir):
    """The proxy's TransferData; ``uu`` keeps both sides in USPS (a third proxy)."""
    if which != "uu":
        return load_pair(data_dir, reverse=which == "mu", swap_classes=which == "um")
    X, y = load_usps(data_dir)
    return TransferData(X[y < 5], y[y < 5], X[y >= 5], y[y >= 5])


def fit_once(d, seed, weight):
    """(fit, the stage-1 features of the t-SNE start, seconds) of one CKM-UDA fit."""
    est, inputs, seconds = fit_recording_tsne_inputs(
        ckm.CKM(5, lambda_contrastive=weight, random_state=seed), d)
    n_pixels = int(np.prod(d.X_target.shape[1:]))
    return est, inputs[0][:, n_pixels:], seconds   # the map's input: [pixels, features]


def main(which, seeds, weights, data_dir="../shared/data"):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    d = load(which, data_dir)
    for seed in seeds:
        for weight in weights:
            est, H, seconds = fit_once(d, seed, weight)
            features = KMeans(5, n_init=10, random_state=0).fit_predict(H)
            rec = {"task": TASKS[which], "seed": seed, "lambda_contrastive": weight,
                   "acc": float(cluster_accuracy(d.y_target, est.predict(d.X_target))),
                   "init_acc": float(cluster_accuracy(d.y_target, est.init_labels_)),
                   "kmeans_features_acc": float(cluster_accuracy(d.y_target, features)),
                   "fit_s": round(seconds, 1)}
            emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")],
         [float(w) for w in sys.argv[3].split(",")], *(sys.argv[4:5] or ["../shared/data"]))
