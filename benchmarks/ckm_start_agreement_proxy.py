"""CKM-UDA's two image starts, and how much they agree, on image proxies.

Issue 16, thirteenth session (``doc/benchmarks/ckm.md``, "The graph start
where the t-SNE map agrees"). For one proxy and seed, two CKM-UDA fits share
stage 1 through ``memory`` (bitwise the same stage 1):

- ``tsne``: ``init="tsne"``, the image defaults before that session (t-SNE
  start, no refresh);
- ``graph``: ``init="spectral", recluster="spectral"``, the image defaults
  before the fourth session (the kNN-graph start, refreshed every 2 epochs).

``init="auto"`` now takes ``graph`` when ``agreement >= 0.9``, else ``tsne``.
With ``bench`` as the proxy, the benchmark task (USPS 0-4 -> MNIST test 5-9)
gets one line per seed with the start that ``init="auto"`` takes, its
agreement and the start's ACC (no joint stage; labels only to score, nothing
chosen on them); give it the ``memory`` of the benchmark run to restore its
stage 1.

Each line: both fits' final target ACC and start ACC, the matched agreement
of the two starts (the share of rows on which they agree after Hungarian
matching; label-free, so a rule may read it) and their ARI, and the seconds
of each fit (1 thread, two processes side by side; the second fit restores
stage 1). Proxies, all with labels we may use (never MNIST test 5-9):

- ``um``: USPS 5-9 -> MNIST test 0-4; ``mu``: MNIST test 0-4 -> USPS 5-9;
- ``uu``: USPS 0-4 -> USPS 5-9; ``uu-rev``: USPS 5-9 -> USPS 0-4;
- ``ueo``: USPS even -> USPS odd; ``uoe``: USPS odd -> USPS even.

    OMP_NUM_THREADS=1 python benchmarks/ckm_start_agreement_proxy.py uu 0,1 [DATA_DIR] [MEMORY_DIR]
    OMP_NUM_THREADS=1 python benchmarks/ckm_start_agreement_proxy.py bench 0,1,2,3,4 DATA MEMORY
    OMP_NUM_THREADS=1 python benchmarks/ckm_start_agreement_proxy.py uoe 0 DATA "" none

The fifth argument sets ``use_source`` (``"none"``: Target clustering,
``"reconstruction"``: Src+Targ; their graph is built on the pixels).
"""

import sys
import tempfile
import time

import numpy as np
import threadpoolctl
import torch
from _records import emit
from sklearn.metrics import adjusted_rand_score

import skhda.ckm as ckm
from skhda.benchmark._core import TransferData
from skhda.benchmark.tasks.ckm import load_pair
from skhda.datasets import load_usps
from skhda.metrics import cluster_accuracy

OUT = "benchmarks/results/ckm-start-agreement-proxy.jsonl"
LOW, HIGH, EVEN, ODD = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [0, 2, 4, 6, 8], [1, 3, 5, 7, 9]
USPS_SPLITS = {"uu": (LOW, HIGH), "uu-rev": (HIGH, LOW), "ueo": (EVEN, ODD), "uoe": (ODD, EVEN)}
NAMES = {"um": "USPS 5-9 -> MNIST 0-4", "mu": "MNIST 0-4 -> USPS 5-9",
         "uu": "USPS 0-4 -> USPS 5-9", "uu-rev": "USPS 5-9 -> USPS 0-4",
         "ueo": "USPS even -> USPS odd", "uoe": "USPS odd -> USPS even"}
PATHS = {"tsne": {"init": "tsne"}, "graph": {"init": "spectral", "recluster": "spectral"}}


def load(which, data_dir):
    """The proxy's TransferData."""
    if which in ("um", "mu"):
        return load_pair(data_dir, reverse=which == "mu", swap_classes=which == "um")
    X, y = load_usps(data_dir)
    s, t = np.isin(y, USPS_SPLITS[which][0]), np.isin(y, USPS_SPLITS[which][1])
    return TransferData(X[s], y[s], X[t], y[t])


def benchmark_starts(seeds, data_dir, memory, use_source="all"):
    """The start ``init="auto"`` takes on the benchmark task, per seed (``epochs=0``)."""
    d = load_pair(data_dir)
    for seed in seeds:
        t = time.perf_counter()
        est = ckm.CKM(5, use_source=use_source, epochs=0, random_state=seed,
                      memory=memory).fit(d.X_source, d.y_source, d.X_target)
        row = {"all": "CKM-UDA", "none": "Target clustering",
               "reconstruction": "Src+Targ clustering"}[use_source]
        emit(OUT, {"task": f"USPS 0-4 -> MNIST 5-9 (ckm-usps-mnist, {row}'s stage 1)",
                   "seed": seed, "start": est.init_, "agreement": est.start_agreement_,
                   "init_acc": float(cluster_accuracy(d.y_target, est.init_labels_)),
                   "fit_s": round(time.perf_counter() - t, 1)})


def main(which, seeds, data_dir="../shared/data", memory=None, use_source="all"):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    memory = memory or tempfile.mkdtemp(prefix="skhda-agreement-")
    if which == "bench":
        return benchmark_starts(seeds, data_dir, memory, use_source)
    d = load(which, data_dir)
    for seed in seeds:
        rec = {"task": NAMES[which], "seed": seed,
               **({"use_source": use_source} if use_source != "all" else {})}
        starts = {}
        for path, settings in PATHS.items():
            t = time.perf_counter()
            est = ckm.CKM(5, use_source=use_source, random_state=seed, memory=memory,
                          **settings).fit(
                d.X_source, d.y_source, d.X_target)
            rec[f"{path}_fit_s"] = round(time.perf_counter() - t, 1)
            rec[f"{path}_acc"] = float(cluster_accuracy(d.y_target, est.predict(d.X_target)))
            rec[f"{path}_init_acc"] = float(cluster_accuracy(d.y_target, est.init_labels_))
            starts[path] = est.init_labels_
        rec["agreement"] = float(cluster_accuracy(starts["tsne"], starts["graph"]))
        rec["ari"] = float(adjusted_rand_score(starts["tsne"], starts["graph"]))
        emit(OUT, rec)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], *sys.argv[3:6])
