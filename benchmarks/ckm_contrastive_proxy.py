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

Thirteenth session: the six proxies of ``ckm_start_agreement_proxy.py``
(``uu-rev``, ``ueo``, ``uoe`` added) at the defaults of then (the graph start
where the t-SNE map agrees); those lines carry the start used (``start``,
``start_agreement``).

    OMP_NUM_THREADS=1 python benchmarks/ckm_contrastive_proxy.py um 0,1 0,3,10 [DATA_DIR]
"""

import sys

import numpy as np
import threadpoolctl
import torch
from _ckm_tsne_inputs import fit_recording_tsne_inputs
from _records import emit
from ckm_start_agreement_proxy import NAMES as TASKS
from ckm_start_agreement_proxy import load
from sklearn.cluster import KMeans

import skhda.ckm as ckm
from skhda.metrics import cluster_accuracy

OUT = "benchmarks/results/ckm-contrastive-proxy.jsonl"

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
                   "fit_s": round(seconds, 1), "start": est.init_,
                   "start_agreement": est.start_agreement_}
            emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")],
         [float(w) for w in sys.argv[3].split(",")], *(sys.argv[4:5] or ["../shared/data"]))
