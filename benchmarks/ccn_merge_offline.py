"""CCN with ``n_clusters=100``: merging dominant clusters that G calls similar (offline check).

Issue 16, ninth session (``doc/benchmarks/ccn.md``, "Merging clusters by G").
With ``n_clusters=100`` CCN leaves 7-9 dominant clusters for 5 unseen digit
classes. The idea checked here, after the fit and without labels: join two
dominant clusters when G's mean ``P(similar)`` over their cross pairs, divided
by the geometric mean of their within-cluster means, exceeds ``tau``
(average linkage, the best pair first, until no pair passes). Run on proxies
whose labels we may use: the USPS class splits of ``ccn_image_graph_proxy.py``
(G alone, the image default, and the t-SNE graph) and the Omniglot proxy split
(G on alphabets 0-1, the protocol's G; alphabets 2 and 3 at CCN's defaults).
Each line: the fit, ``tau`` (None: no merge), target ACC / NMI and the number
of dominant clusters against the true count.

    OMP_NUM_THREADS=1 python benchmarks/ccn_merge_offline.py usps59,omni2 off 0 [DATA_DIR]
"""

import sys
import time

import numpy as np
import torch
from _records import emit
from _usps_splits import usps_split
from sklearn.metrics import normalized_mutual_info_score as nmi

from skhda.benchmark.tasks.ccn import OMNI_CHANNELS, OMNI_G, _backbones
from skhda.ccn import CCN, SimilarityNetwork
from skhda.datasets import load_omniglot
from skhda.metrics import cluster_accuracy, n_dominant_clusters

OUT = "benchmarks/results/ccn-merge-offline.jsonl"
SPLITS = {"usps59": ((5, 6, 7, 8, 9), (0, 1, 2, 3, 4)),
          "uspsev": ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9)),
          "uspsod": ((1, 3, 5, 7, 9), (0, 2, 4, 6, 8))}
TAUS = (None, 0.6, 0.8, 0.9)


def merge(labels, S, n_clusters, tau):
    """The labels after merging dominant clusters whose normalised G affinity exceeds ``tau``.

    The pair sums of every two dominant clusters come from one product with
    their one-hot indicator; a merge adds the second cluster's row and column
    of sums to the first's (the merged cluster keeps the smaller id).
    """
    labels = labels.copy()
    if tau is None:
        return labels
    ids, counts = np.unique(labels, return_counts=True)
    dom = ids[counts >= len(labels) / n_clusters]
    B = (labels[:, None] == dom[None, :]).astype(np.float64)   # rows x dominant clusters
    sums = B.T @ S.astype(np.float64) @ B   # sums[a, b]: P(similar) summed over a x b
    self_pairs = B.T @ np.diag(S).astype(np.float64)   # the diagonal's share of sums[a, a]
    sizes = B.sum(0)
    while len(dom) > 1:
        within = (np.diag(sums) - self_pairs) / np.maximum(sizes * (sizes - 1), 1)
        ratio = sums / np.outer(sizes, sizes) / np.sqrt(np.outer(within, within))
        ratio[np.tril_indices(len(dom))] = -np.inf   # pairs a < b, in the order of ids
        a, b = np.unravel_index(np.argmax(ratio), ratio.shape)
        if not ratio[a, b] > tau:
            break
        labels[labels == dom[b]] = dom[a]
        sums[a] += sums[b]
        sums[:, a] += sums[:, b]
        self_pairs[a] += self_pairs[b]
        sizes[a] += sizes[b]
        keep = np.arange(len(dom)) != b
        dom, sums, self_pairs, sizes = dom[keep], sums[keep][:, keep], self_pairs[keep], sizes[keep]
    return labels


def fit(name, graph, seed, data_dir):
    """(fitted CCN(100), X_target, y_target) of one proxy fit."""
    if name in SPLITS:
        Xs, ys, Xt, yt = usps_split(data_dir, *SPLITS[name])
        # G as in the records: no jitter (the default before the fifteenth session)
        est = CCN(100, similarity=SimilarityNetwork(augment=0.0), target_graph=graph, n_init=1,
                  random_state=seed)
    else:   # omni2 / omni3: the proxy split's G (alphabets 0-1), CCN at its defaults
        X, y, alphabet = load_omniglot(data_dir)
        src, tgt = alphabet < 2, alphabet == int(name[-1])
        Xs, ys, Xt, yt = X[src, None], y[src], X[tgt, None], y[tgt]
        enc = _backbones(seed, (1, 28, 28), OMNI_CHANNELS, 64, 128, 0)[0]
        G = SimilarityNetwork(**OMNI_G, encoder=enc, random_state=seed).fit(Xs, ys)
        est = CCN(100, similarity=G, target_graph=graph, random_state=seed)
    return est.fit(Xs, ys, Xt), Xt, yt


def records(name, graph, seed, labels, S, y, fit_s):
    out = []
    for tau in TAUS:
        lab = merge(labels, S, 100, tau)
        out.append({"task": name, "target_graph": graph, "seed": seed, "tau": tau,
                    "acc": float(cluster_accuracy(y, lab)), "nmi": float(nmi(y, lab)),
                    "ndc": int(n_dominant_clusters(lab, 100)), "classes": int(len(np.unique(y))),
                    "fit_s": fit_s})
    return out


def main(names, graph, seeds, data_dir="../shared/data"):
    torch.set_num_threads(1)
    for seed in seeds:
        for name in names:
            t = time.perf_counter()
            est, Xt, yt = fit(name, graph, seed, data_dir)
            fit_s = time.perf_counter() - t
            S = est.similarity_.similarity_matrix(Xt, adapt_batchnorm=True)
            for rec in records(name, graph, seed, est.labels_, S, yt, fit_s):
                emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1].split(","), sys.argv[2], [int(s) for s in sys.argv[3].split(",")],
         *(sys.argv[4:5] or ["../shared/data"]))
