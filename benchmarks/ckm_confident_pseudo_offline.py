"""CKM's joint stage with pseudo-labels only where the t-SNE start is locally confident.

Issue 16, twelfth session (``doc/benchmarks/ckm.md``, "Pseudo-labels on the
start's confident rows only"). A scratch variant of CKM-UDA, patched in here
(not a package option): a target row keeps its start label as a pseudo-label
only if at least ``tau`` of its 10 nearest neighbours in the start's t-SNE
map share its cluster; the others get none (ignored by the pseudo-label
cross-entropy). Proxies with labels we may use (``um``: USPS 5-9 -> MNIST
test 0-4, ``mu``: MNIST test 0-4 -> USPS 5-9). Each fit goes through
``memory``, so the variants of one seed restore its stage 1 and map. Each line also
counts how many of the start's misassigned rows (Hungarian) have a
neighbour agreement below 1.0 / 0.9 / 0.7 / 0.5.

    OMP_NUM_THREADS=1 python benchmarks/ckm_confident_pseudo_offline.py um 0,1 none,0.9,0.7 CACHE
"""

import sys
import time

import numpy as np
import threadpoolctl
import torch
import torch.nn.functional as F
from _records import emit
from ckm_contrastive_proxy import load
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

import skhda.ckm as ckm
from skhda._cache import cached_call
from skhda.metrics import cluster_accuracy
from skhda.nn.clustering import rbf_logits

OUT = "benchmarks/results/ckm-confident-pseudo-offline.jsonl"
TAU = None     # the agreement a row needs to keep its pseudo-label (None: every row keeps it)
START = {}     # the start's labels and agreements of the last fit


def kshot_ignoring_unlabelled(z, centroids, y):
    """The pseudo-label cross-entropy over the rows with a label (``y >= 0``)."""
    keep = y >= 0
    logits = rbf_logits(z, centroids)
    return F.cross_entropy(logits[keep], y[keep]) if keep.any() else logits.sum() * 0.0


def tsne_labels(self, data, H, n_clusters, cache=False):
    """CKM's t-SNE start (same map and k-means), then -1 for rows below ``TAU``."""
    X = data.X_target.reshape(len(H), -1).astype(np.float64)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    seed = self._sklearn_seed
    E = cached_call(self.memory if cache else None, ckm.tsne_map, np.hstack([X, H]),
                    random_state=seed, normalize=False)
    labels = KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(E).astype(np.int64)
    neighbours = NearestNeighbors(n_neighbors=11).fit(E).kneighbors(E, return_distance=False)
    agreement = (labels[neighbours[:, 1:]] == labels[:, None]).mean(1)
    START.update(labels=labels.copy(), agreement=agreement)
    if TAU is not None:
        labels[agreement < TAU] = -1
    return labels


def main(which, seeds, taus, cache):
    global TAU
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    ckm._AdaptiveClustering._tsne_labels = tsne_labels
    ckm.kshot_loss = kshot_ignoring_unlabelled
    d = load(which, "../shared/data")
    y = np.searchsorted(np.unique(d.y_target), d.y_target)
    for seed in seeds:
        for tau in taus:
            TAU = tau
            t = time.perf_counter()
            est = ckm.CKM(5, init="tsne", random_state=seed, memory=cache).fit(
                d.X_source, d.y_source, d.X_target)
            seconds = time.perf_counter() - t
            labels, agreement = START["labels"], START["agreement"]
            wrong = ckm._match_clusters(labels, y, 5, keep_known=False) != y
            rec = {"task": which, "seed": seed, "tau": tau,
                   "acc": float(cluster_accuracy(d.y_target, est.predict(d.X_target))),
                   "start_acc": float(cluster_accuracy(d.y_target, labels)),
                   "kept": float((agreement >= (tau or 0)).mean()),
                   "start_errors": int(wrong.sum()),
                   **{f"start_errors_agreement_below_{q}": int((wrong & (agreement < q)).sum())
                      for q in (1.0, 0.9, 0.7, 0.5)},
                   "fit_s": round(seconds, 1)}
            emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")],
         [None if t == "none" else float(t) for t in sys.argv[3].split(",")], sys.argv[4])
