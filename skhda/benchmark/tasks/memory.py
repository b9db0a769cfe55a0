"""Peak memory (RSS) of fit and predict, one estimator per family, at 10k / 100k rows.

Each fit runs in a fresh subprocess (one CPU thread) that builds the row's
estimator from this declaration. Inside it the process's peak RSS
(``VmHWM`` of ``/proc/self/status``) is reset just before the measured call
(``/proc/self/clear_refs``), so a figure is the peak during that call alone
minus the RSS just before it; where the reset is not available it falls
back to ``resource.getrusage`` (then the peak is since process start). Data:
Gaussian blobs, ``n`` source and ``n`` target rows of 64 features, 10
classes; every stage trains one epoch at its default batch size (memory does
not grow with epochs). The second task measures
:meth:`skhda.ccn.SimilarityNetwork.similarity_matrix` at 2,000 and 10,000
rows (its ``n x n`` float32 result is 16 MB and 400 MB).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .._core import FitContext, Method, Task, configure

D, K = 64, 10


def _status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(fn):
    """``(result, peak MB above the RSS before the call, seconds)``."""
    before = _status_kb("VmRSS")
    exact = _reset_peak() and before is not None
    t = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t
    if exact:
        peak = _status_kb("VmHWM")
    else:  # ru_maxrss is in kB on Linux: the peak since process start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        before = before or 0
    return result, (peak - before) / 1024, seconds


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(K, D))
    ys, yt = rng.integers(0, K, n), rng.integers(0, K, n)
    Xs = (centers[ys] + rng.normal(size=(n, D))).astype(np.float32)
    Xt = (centers[yt] + 0.5 + rng.normal(size=(n, D))).astype(np.float32)
    return Xs, ys, Xt


def _estimator(name, **extra):
    def make(ctx):
        import skhda

        return getattr(skhda, name)(device="cpu", random_state=ctx.seed, **extra)
    return make


def _ccn(ctx):
    from ...ccn import CCN, SimilarityNetwork

    return CCN(epochs=1, similarity=SimilarityNetwork(epochs=1, device="cpu"), device="cpu",
               random_state=ctx.seed)


def _similarity(ctx):
    from ...ccn import SimilarityNetwork

    return SimilarityNetwork(classes_per_batch=K, epochs=1, device="cpu", random_state=ctx.seed)


def worker(task_name, method_name, condition, seed, settings):
    """In the subprocess: build the row's estimator, fit and predict, measure both."""
    import torch

    torch.set_num_threads(1)
    from . import TASKS

    task = TASKS[task_name]
    n = int(condition)
    est = configure(task.method(method_name).make(FitContext(seed, condition, None, {})),
                    settings)
    Xs, ys, Xt = _blobs(n, seed)
    if task_name == "memory-similarity-matrix":
        est.fit(Xs[:2000], ys[:2000])
        S, peak, seconds = measure(lambda: est.similarity_matrix(Xt))
        return {"result_mb": S.nbytes / 2**20, "peak_mb": peak, "seconds": seconds}
    _, fit_peak, fit_s = measure(lambda: est.fit(Xs, ys, Xt))
    labels, pred_peak, pred_s = measure(lambda: est.predict(Xt))
    assert labels.shape == (n,)
    return {"input_mb": (Xs.nbytes + Xt.nbytes) / 2**20, "fit_peak_mb": fit_peak,
            "fit_seconds": fit_s, "predict_peak_mb": pred_peak, "predict_seconds": pred_s}


def _evaluate(method, ctx, settings):
    """Run :func:`worker` in a fresh one-thread process with this package on its path."""
    root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    task = "memory-similarity-matrix" if method.name == SIMILARITY else "memory"
    args = json.dumps([task, method.name, ctx.condition, ctx.seed, settings])
    out = subprocess.run([sys.executable, "-m", __name__, args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "Error" in line] or ["killed"]
        raise RuntimeError(f"{method.name}, {ctx.condition} rows: worker rc={out.returncode}: "
                           f"{errors[-1]}")
    metrics = json.loads(out.stdout.strip().splitlines()[-1])
    return {**metrics, "fit_s": metrics.get("fit_seconds", metrics.get("seconds"))}


SIMILARITY = "SimilarityNetwork.similarity_matrix"
_COMMON = {"paper": "none (the package's reliability target: memory per batch, never O(N^2))",
           "setting": "peak RSS, synthetic blobs (64 features, 10 classes), one epoch per stage",
           "files": (), "load": lambda data_dir, condition: None, "evaluate": _evaluate,
           "seeds": 1, "group": lambda c: f"{int(c):,} rows"}

TASKS = [
    Task(name="memory",
         title="Peak memory of fit and predict, one estimator per family, n source + n "
               "target rows",
         cpu_time="about 5 min (10 subprocesses; CKM at 100k rows 2 min)",
         conditions=("10000", "100000"),
         methods=(Method("CKM / DEC / DCN: CKM()", _estimator("CKM", pretrain_epochs=1, epochs=1)),
                  Method("CKM(init='kmeans++')", _estimator(
                      "CKM", pretrain_epochs=1, epochs=1, init="kmeans++")),
                  Method("CCN / CCN+ / G: CCN(similarity=SimilarityNetwork(epochs=1))", _ccn),
                  Method("TDCM()", _estimator("TDCM", epochs=1)),
                  Method("deep baselines: SourceTargetClustering()",
                         _estimator("SourceTargetClustering", epochs=1))),
         metrics=("fit_peak_mb", "fit_seconds", "predict_peak_mb", "predict_seconds"),
         notes="Peak MB: during the call, above the RSS just before it (0: the call fitted in "
               "memory the process already had). Input: 5 MB (10k) / 49 MB (100k rows, both "
               "domains). One run per configuration: the figures are allocations.",
         **_COMMON),
    Task(name="memory-similarity-matrix",
         title="Peak memory of SimilarityNetwork.similarity_matrix (n x n float32 result)",
         cpu_time="about 1 min", conditions=("2000", "10000"),
         methods=(Method(SIMILARITY, _similarity),),
         metrics=("result_mb", "peak_mb", "seconds"),
         notes="G: default architecture, trained one epoch on 2,000 rows; peak above the RSS "
               "before the call.", **_COMMON),
]


if __name__ == "__main__":
    print(json.dumps(worker(*json.loads(sys.argv[1]))))
