"""CKM's t-SNE refresh after a t-SNE start: does it change the partition, and can it be cheaper?

Issue 16, ninth session (``doc/benchmarks/ckm.md``, "The refresh after a
t-SNE start"). One CKM fit with the refresh on (``pseudo_refresh=5``, the
default until this check) on an image proxy (``um``: USPS 5-9
-> MNIST test 0-4, ``mu``: MNIST test 0-4 -> USPS 5-9; labels we may use)
records the inputs of its two t-SNE clusterings (the start, after stage 1,
and the refresh, after 5 joint epochs). The refresh's map is then rebuilt
offline: as CKM builds it (PCA start, 1,000 iterations), from the start's map
as given ("warm") or rescaled to a standard deviation of 1e-4 ("warm, small")
with fewer iterations, and from PCA with 500. Each line: the case, the target
ACC of k-means on the map, its ARI against the full refresh's clusters (the
start's ARI: against the full refresh; the angle-0.8 start: against the
start), and the map's seconds (1 thread).

    OMP_NUM_THREADS=1 python benchmarks/ckm_tsne_refresh_offline.py um 0 [DATA_DIR]
"""

import sys
import time

import numpy as np
import threadpoolctl
import torch
from _ckm_tsne_inputs import fit_recording_tsne_inputs
from _records import emit
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import skhda.ckm as ckm
from skhda.benchmark.tasks.ckm import load_pair
from skhda.metrics import cluster_accuracy
from skhda.nn.graph import tsne_map

OUT = "benchmarks/results/ckm-tsne-refresh-offline.jsonl"
TASKS = {"um": "USPS 5-9 -> MNIST 0-4", "mu": "MNIST 0-4 -> USPS 5-9"}


def capture(which, seed, data_dir):
    """(target labels, [the start's, the refresh's t-SNE input], fit record) of one fit.

    The inputs are recorded where CKM hands them to :func:`skhda.nn.graph.tsne_map`
    (the L2-normalised pixels beside the encoder features).
    """
    d = load_pair(data_dir, reverse=which == "mu", swap_classes=which == "um")
    est, inputs, fit_s = fit_recording_tsne_inputs(  # the refresh on
        ckm.CKM(5, init="tsne", pseudo_refresh=5, random_state=seed), d)
    fit = {"acc": float(cluster_accuracy(d.y_target, est.predict(d.X_target))), "fit_s": fit_s}
    return d.y_target, inputs, fit


def clustered_map(F, y, init, max_iter, seed=0, angle=0.5):
    """(map, k-means labels, their ACC, the map's seconds): CKM's map with other TSNE settings."""
    t = time.perf_counter()
    E = tsne_map(F, random_state=seed, normalize=False, init=init, max_iter=max_iter,
                 angle=angle)
    seconds = time.perf_counter() - t
    labels = KMeans(5, n_init=10, random_state=0).fit_predict(E)
    return E, labels, float(cluster_accuracy(y, labels)), seconds


def main(which, seed, data_dir="../shared/data"):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    y, (F0, F1), fit = capture(which, seed, data_dir)
    E0, start, acc0, s0 = clustered_map(F0, y, "pca", 1000)
    _, full, acc1, s1 = clustered_map(F1, y, "pca", 1000)
    rows = [("start (PCA, 1000 iterations)", acc0, float(adjusted_rand_score(full, start)), s0),
            ("refresh (PCA, 1000 iterations; CKM's)", acc1, 1.0, s1)]
    warm, small = E0.astype(np.float32), (E0 / E0[:, 0].std() * 1e-4).astype(np.float32)
    # (case, features, init, iterations, t-SNE seed, Barnes-Hut angle)
    cases = [("refresh, warm, 500", F1, warm, 500, 0, 0.5),
             ("refresh, warm, 350", F1, warm, 350, 0, 0.5),
             ("refresh, warm, 300", F1, warm, 300, 0, 0.5),
             ("refresh, warm, 250", F1, warm, 250, 0, 0.5),
             ("refresh, warm, 350, t-SNE seed 1", F1, warm, 350, 1, 0.5),
             ("refresh, warm, 350, t-SNE seed 2", F1, warm, 350, 2, 0.5),
             ("refresh, warm small, 500", F1, small, 500, 0, 0.5),
             ("refresh, warm small, 350", F1, small, 350, 0, 0.5),
             ("refresh, PCA, 500", F1, "pca", 500, 0, 0.5),
             ("start, PCA, 1000, angle 0.8", F0, "pca", 1000, 0, 0.8)]
    for case, F, init, max_iter, tsne_seed, angle in cases:
        _, labels, acc, s = clustered_map(F, y, init, max_iter, tsne_seed, angle)
        reference = start if case.startswith("start") else full
        rows.append((case, acc, float(adjusted_rand_score(reference, labels)), s))
    for case, acc, ari, s in rows:   # ARI against the full refresh (the start for "start" rows)
        rec = {"task": TASKS[which], "seed": seed, "case": case, "acc": acc,
               "ari": ari, "map_s": s, "fit": fit}
        emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(sys.argv[3:4] or ["../shared/data"]))
