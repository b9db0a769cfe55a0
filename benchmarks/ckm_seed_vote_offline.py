"""CKM-UDA on images: does a vote of independent seeds beat one seed? (offline check).

Issue 16, fourteenth session (``doc/benchmarks/ckm.md``, "A vote of seeds").
Each (proxy, seed) is a CKM-UDA fit at the defaults; its target labels are
stored under ``OUT_LABELS`` so that the vote can be replayed. The vote,
label-free: the partitions of the other seeds are matched to the first
seed's (Hungarian on the contingency table) and each row takes the majority
cluster (ties: the first seed); the medoid is the seed with the highest mean
ARI to the others. Proxies with labels we may use (``ckm_start_agreement_proxy``).

    OMP_NUM_THREADS=1 python benchmarks/ckm_seed_vote_offline.py fit uu 0,1,2 [DATA]
    python benchmarks/ckm_seed_vote_offline.py vote uu,uu-rev,ueo,uoe,um,mu 0,1,2 [DATA]
"""

import os
import sys
import time

import numpy as np
import threadpoolctl
import torch
from _records import emit
from ckm_start_agreement_proxy import NAMES, load
from sklearn.metrics import adjusted_rand_score

from skhda import CKM
from skhda.metrics import _relabel, cluster_accuracy

OUT = "benchmarks/results/ckm-seed-vote-offline.jsonl"
OUT_LABELS = os.environ.get("SKHDA_VOTE_LABELS", "/tmp/skhda-seed-vote")


def fit(which, seeds, data_dir):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    d = load(which, data_dir)
    os.makedirs(OUT_LABELS, exist_ok=True)
    for seed in seeds:
        t = time.perf_counter()
        labels = CKM(5, random_state=seed).fit(d.X_source, d.y_source, d.X_target).predict(
            d.X_target)
        np.save(f"{OUT_LABELS}/{which}-{seed}.npy", labels)
        print(which, seed, round(cluster_accuracy(d.y_target, labels), 4),
              round(time.perf_counter() - t, 1), flush=True)


def matched(reference, labels, k):
    """``labels`` renamed to the clusters of ``reference`` they overlap most (Hungarian)."""
    return _relabel(labels, reference, k)


def vote(partitions, k):
    """Majority cluster of each row over the partitions matched to the first (ties: the first)."""
    aligned = [partitions[0]] + [matched(partitions[0], p, k) for p in partitions[1:]]
    counts = np.zeros((len(aligned[0]), k))
    for i, p in enumerate(aligned):
        counts[np.arange(len(p)), p] += 1 + (1e-3 if i == 0 else 0)
    return counts.argmax(1)


def report(proxies, seeds, data_dir):
    for which in proxies:
        y = load(which, data_dir).y_target
        parts = [np.load(f"{OUT_LABELS}/{which}-{s}.npy") for s in seeds]
        k = len(np.unique(y))
        accs = [float(cluster_accuracy(y, p)) for p in parts]
        ari = np.array([[adjusted_rand_score(a, b) for b in parts] for a in parts])
        medoid = int(ari.sum(1).argmax())
        emit(OUT, {"task": NAMES[which], "seeds": seeds, "acc_per_seed": accs,
                   "acc_mean": float(np.mean(accs)),
                   "acc_vote": float(cluster_accuracy(y, vote(parts, k))),
                   "acc_medoid": accs[medoid], "medoid_seed": seeds[medoid],
                   "pairwise_ari": ari[np.triu_indices(len(parts), 1)].round(4).tolist()})


if __name__ == "__main__":
    mode, names, seeds = sys.argv[1], sys.argv[2].split(","), [int(s) for s in
                                                                sys.argv[3].split(",")]
    data_dir = sys.argv[4] if len(sys.argv) > 4 else "../shared/data"
    if mode == "fit":
        for name in names:
            fit(name, seeds, data_dir)
    else:
        report(names, seeds, data_dir)
