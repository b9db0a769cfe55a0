"""TDCM at its defaults on the digits proxies: is a poor fit in the embedding or in the blocks?

Issue 16, twelfth session (``doc/benchmarks/defaults.md``, "TDCM's poor
single fits are in the embedding"). For each proxy split (labels we may use;
never the demo's) and seed: the target ACC of TDCM's own partition (the
centroid blocks adapted to the target rows), and of k-means (10 restarts)
and spectral clustering (10-NN graph) on the same standardised target
embedding (``transform``). If the blocks were at fault, clustering the
embedding would do better than TDCM.

    OMP_NUM_THREADS=1 python benchmarks/tdcm_embedding_vs_blocks.py
"""

import time

import numpy as np
import threadpoolctl
import torch
from _digits_splits import PROXY_SPLITS, digits_split
from _records import emit
from sklearn.cluster import KMeans, SpectralClustering

from skhda import TDCM
from skhda.metrics import cluster_accuracy

OUT = "benchmarks/results/tdcm-embedding-vs-blocks.jsonl"


def main(seeds=(0, 1)):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    for name, (source, target) in PROXY_SPLITS.items():
        Xs, ys, Xt, yt = digits_split(source, target)
        k = len(np.unique(yt))
        for seed in seeds:
            t = time.perf_counter()
            est = TDCM(k, random_state=seed).fit(Xs, ys, Xt)
            seconds = time.perf_counter() - t
            Z = est.transform(Xt)
            kmeans = KMeans(k, n_init=10, random_state=0).fit_predict(Z)
            spectral = SpectralClustering(k, affinity="nearest_neighbors",
                                          random_state=0).fit_predict(Z)
            rec = {"split": name, "seed": seed,
                   "tdcm": float(cluster_accuracy(yt, est.predict(Xt))),
                   "kmeans_embedding": float(cluster_accuracy(yt, kmeans)),
                   "spectral_embedding": float(cluster_accuracy(yt, spectral)),
                   "fit_s": round(seconds, 1)}
            emit(OUT, rec)


if __name__ == "__main__":
    main()
