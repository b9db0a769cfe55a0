"""CKM family: predict with the target's own BatchNorm statistics (offline check).

Issue 16, thirteenth session (``doc/benchmarks/ckm.md``, "BatchNorm
statistics at predict"). A fitted CKM predicts with the running statistics
of training, which every part of a step updates in turn (target, source and,
in SSDA, the few labelled rows). Here each fit at the defaults is scored
twice: as fitted, and with its BatchNorm statistics re-estimated on the
target rows (``skhda._training._estimate_batchnorm``, the AdaBN of
``DomainStatistics``), the rest of the network unchanged. Proxies with
labels we may use (``ckm_start_agreement_proxy``; ``bench``: the benchmark
task, reported after the proxies decided); ``shots`` > 0 fits
CKM-SSDA with that many labelled target rows per class (drawn as the
benchmark draws them) and scores the unlabelled rows.

Fourteenth session: the same check on vectors, the digits proxies of
``tune_defaults_ckm_tdcm`` (``digits:NAME``, e.g. ``digits:even-odd``; sklearn's
embedded digits / 16, never the demo split), for any of the CKM family (the
sixth argument: ``CKM``, ``DECAdapter`` or ``DCNAdapter``).

    OMP_NUM_THREADS=1 python benchmarks/ckm_target_batchnorm_offline.py uu 0,1 0 [DATA] [MEMORY]
    OMP_NUM_THREADS=1 python benchmarks/ckm_target_batchnorm_offline.py \
        digits:rand1 0,1 0 "" "" DECAdapter
"""

import copy
import sys
import tempfile
from types import SimpleNamespace

import numpy as np
import threadpoolctl
import torch
from _records import emit
from ckm_start_agreement_proxy import NAMES, load
from tune_defaults_ckm_tdcm import load_task

import skhda
from skhda._training import _batchnorms, _estimate_batchnorm, batched_apply
from skhda.benchmark._core import draw_shots
from skhda.benchmark.tasks.ckm import load_pair
from skhda.metrics import cluster_accuracy

OUT = "benchmarks/results/ckm-target-batchnorm-offline.jsonl"


def target_statistics_predict(est, X):
    """``est.predict(X)`` after re-estimating a copy's BatchNorm statistics on ``X``."""
    model = copy.deepcopy(est.net_.module_).eval()
    X = est._validate_X(X, "target")
    _estimate_batchnorm(_batchnorms(model), lambda x: model.embed(x, "target"), X,
                        est.net_.device)
    scores = batched_apply(lambda x: model.clustering.soft_assignment(model.embed(x, "target")),
                           X, est.net_.device, module=model)
    labels = np.asarray(scores).argmax(1)
    return est.classes_[labels] if getattr(est, "classes_", None) is not None else labels


def score(labels, y, scored, shots):
    """Plain accuracy on the unlabelled rows (SSDA), Hungarian-matched ACC (UDA)."""
    if shots:
        return float(np.mean(labels[scored] == y[scored]))
    return float(cluster_accuracy(y, labels))


def load_digits_proxy(which):
    """A digits proxy of ``tune_defaults_ckm_tdcm`` (vectors) as ``(data, name)``."""
    Xs, ys, Xt, yt = load_task(which)
    return SimpleNamespace(X_source=Xs, y_source=ys, X_target=Xt, y_target=yt), which


def main(which, seeds, shots, data_dir="", memory="", method="CKM"):
    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)
    data_dir = data_dir or "../shared/data"
    if which.startswith("digits:"):
        d, name = load_digits_proxy(which[len("digits:"):])
        name = "digits " + name
    elif which == "bench":   # the benchmark task, reported once after the proxies decided
        d, name = load_pair(data_dir), "USPS 0-4 -> MNIST 5-9 (ckm-usps-mnist)"
    else:
        d, name = load(which, data_dir), NAMES[which]
    n_clusters = len(np.unique(d.y_target))
    for seed in seeds:
        y = draw_shots(d.y_target, shots, seed) if shots else None
        scored = y < 0 if shots else np.ones(len(d.y_target), bool)
        est = getattr(skhda, method)(None if shots else n_clusters, random_state=seed,
                                     memory=memory or tempfile.mkdtemp())
        est.fit(d.X_source, d.y_source, d.X_target, y)
        labels = {"running": est.predict(d.X_target),
                  "target": target_statistics_predict(est, d.X_target)}
        emit(OUT, {"task": name, "method": method, "seed": seed, "shots": shots,
                   "start": est.init_,
                   **{f"acc_{k}_statistics": score(v, d.y_target, scored, shots)
                      for k, v in labels.items()}})


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], int(sys.argv[3]), *sys.argv[4:7])
