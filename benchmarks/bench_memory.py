"""Peak memory (RSS) of fit and predict, one estimator per family, at 10k / 100k rows.

Each measurement runs in a fresh subprocess (one CPU thread). Inside it the
process's peak RSS (``VmHWM`` of ``/proc/self/status``) is reset just before
the measured call (``/proc/self/clear_refs``), so a figure is the peak during
that call alone, minus the RSS just before it; where the reset is not
available it falls back to ``resource.getrusage`` (then the peak is since
process start). The data are Gaussian blobs, ``n`` source and ``n`` target
rows of 64 features, 10 classes; every stage trains one epoch at its default
batch size (memory does not grow with epochs). Also measured: the peak of
:meth:`skhda.ccn.SimilarityNetwork.similarity_matrix` at 2,000 and 10,000
rows (its ``n x n`` float32 result is 16 MB and 400 MB).

Run: ``nice -n 10 python benchmarks/bench_memory.py [--rows 10000 100000]
[--out benchmarks/results/memory_cpu.jsonl]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

FAMILIES = {
    # family: (estimator, extra parameters)
    "CKM (CKM / DEC / DCN)": ("CKM", {"pretrain_epochs": 1, "epochs": 1}),
    "CKM, init='kmeans++'": ("CKM", {"pretrain_epochs": 1, "epochs": 1, "init": "kmeans++"}),
    "CCN (CCN / CCN+ / G)": ("CCN", {"epochs": 1, "similarity": "G1"}),
    "TDCM": ("TDCM", {"epochs": 1}),
    "baselines (deep)": ("SourceTargetClustering", {"epochs": 1}),
}
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
    """(result, peak MB above the RSS before the call, seconds)."""
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


def data(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(K, D))
    ys, yt = rng.integers(0, K, n), rng.integers(0, K, n)
    Xs = (centers[ys] + rng.normal(size=(n, D))).astype(np.float32)
    Xt = (centers[yt] + 0.5 + rng.normal(size=(n, D))).astype(np.float32)
    return Xs, ys, Xt


def worker(kind, n):
    import torch

    torch.set_num_threads(1)
    import skhda
    from skhda.ccn import SimilarityNetwork

    Xs, ys, Xt = data(n)
    if kind == "similarity_matrix":
        G = SimilarityNetwork(classes_per_batch=K, epochs=1, device="cpu", random_state=0)
        G.fit(Xs[:2000], ys[:2000])
        S, peak, seconds = measure(lambda: G.similarity_matrix(Xt))
        return {"kind": kind, "rows": n, "result_mb": S.nbytes / 2**20,
                "peak_mb": peak, "seconds": seconds}
    name, extra = FAMILIES[kind]
    extra = dict(extra)
    if extra.get("similarity") == "G1":
        extra["similarity"] = SimilarityNetwork(epochs=1, device="cpu")
    est = getattr(skhda, name)(device="cpu", random_state=0, **extra)
    input_mb = (Xs.nbytes + Xt.nbytes) / 2**20
    _, fit_peak, fit_s = measure(lambda: est.fit(Xs, ys, Xt))
    labels, pred_peak, pred_s = measure(lambda: est.predict(Xt))
    assert labels.shape == (n,)
    return {"kind": kind, "estimator": name, "rows": n, "input_mb": input_mb,
            "fit_peak_mb": fit_peak, "fit_seconds": fit_s,
            "predict_peak_mb": pred_peak, "predict_seconds": pred_s}


def run(kind, n):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(
               [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(n)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "Error" in line] or ["killed"]
        return {"kind": kind, "rows": n, "error": f"rc={out.returncode}: {errors[-1]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--matrix-rows", type=int, nargs="*", default=[2_000, 10_000])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "N"))
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return 0
    results = []
    print("| family | estimator | rows per domain | input MB | fit peak MB | fit s "
          "| predict peak MB | predict s |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in args.families:
        for n in args.rows:
            r = run(kind, n)
            results.append(r)
            if "error" in r:
                print(f"| {kind} | | {n} | error: {r['error']} |")
                continue
            print(f"| {kind} | {r['estimator']} | {n:,} | {r['input_mb']:.0f} | "
                  f"{r['fit_peak_mb']:.0f} | {r['fit_seconds']:.1f} | "
                  f"{r['predict_peak_mb']:.0f} | {r['predict_seconds']:.2f} |", flush=True)
    print()
    print("| similarity_matrix rows | result MB | peak MB above RSS before | seconds |")
    print("|---|---|---|---|")
    for n in args.matrix_rows:
        r = run("similarity_matrix", n)
        results.append(r)
        if "error" in r:
            print(f"| {n} | error: {r['error']} |")
            continue
        print(f"| {n:,} | {r['result_mb']:.0f} | {r['peak_mb']:.0f} | {r['seconds']:.1f} |",
              flush=True)
    if args.out:
        with open(args.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
