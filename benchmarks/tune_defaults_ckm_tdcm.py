"""Choose CKM / DECAdapter / DCNAdapter / TDCM defaults on proxy tasks (never the demo split).

The demo (``python -m skhda``) is sklearn's digits, source 0-4 -> target 5-9.
Its labels are never used here. The proxy tasks are other class splits of the
same digits (pixels / 16, flat vectors):

- ``59-04``: source 5-9 -> target 0-4 (the demo reversed);
- ``even-odd`` and ``odd-even``;
- ``rand1`` .. ``rand3``: random 5 / 5 class splits (``numpy`` seeds 1-3,
  the demo split and its reverse rejected);
- ``good13``, ``good15``, ``good21``, ``good25``, ``good31``: random splits
  (``numpy`` seeds 13-31) on which the 10-NN spectral clustering of the
  target already scores 0.94-0.97, as on the demo (``--submode`` prints
  where its errors lie);
- ``held03679``, ``held04579``, ``held04578``: the random splits of
  ``skhda.benchmark``'s ``digits-proxy`` task, kept out of the choice and
  used only to check the chosen defaults afterwards;

and, for TDCM, ``blobsK-G``: :func:`skhda.datasets.make_domain_shift_blobs`
(K clusters, 1000 rows per domain, generator seed G; ``doc/benchmarks/tdcm.md``
reports generator seeds 0-9, so the proxies use 100+).

Each candidate is a JSON dict of parameters over the estimator's defaults;
every (task, seed) fit is scored by target ACC (Hungarian) and NMI and
appended to ``benchmarks/results/tune_defaults_ckm_tdcm.jsonl``; the summary
prints mean +- std over tasks x seeds.

Run: ``python benchmarks/tune_defaults_ckm_tdcm.py --method CKM
--candidate '{"epochs": 50}' [--seeds 0,1] [--tasks 59-04,even-odd]``
(``--baselines`` adds k-means / spectral on the target of each task).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neighbors import NearestNeighbors

import skhda
from skhda.datasets import make_domain_shift_blobs
from skhda.metrics import cluster_accuracy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tune_defaults_ckm_tdcm.jsonl"
DEMO = (frozenset(range(5)), frozenset(range(5, 10)))


def class_splits():
    """The proxy class splits: name -> (source classes, target classes)."""
    splits = {"59-04": (range(5, 10), range(5)),
              "even-odd": (range(0, 10, 2), range(1, 10, 2)),
              "odd-even": (range(1, 10, 2), range(0, 10, 2))}
    for seed in (1, 2, 3):
        perm = np.random.RandomState(seed).permutation(10)
        src, tgt = sorted(perm[:5].tolist()), sorted(perm[5:].tolist())
        splits[f"rand{seed}"] = (src, tgt)
    # "good-graph" splits: the random splits (numpy seeds 4-39, the ones above rejected) whose
    # 10-NN spectral clustering of the target already scores 0.94-0.97, as on the demo
    for seed in (13, 15, 21, 25, 31):
        perm = np.random.RandomState(seed).permutation(10)
        splits[f"good{seed}"] = (sorted(perm[:5].tolist()), sorted(perm[5:].tolist()))
    # held out from the choice: the random splits of skhda.benchmark's ``digits-proxy``
    # task (seed 12345), used only to check the chosen defaults afterwards
    for src in ((0, 3, 6, 7, 9), (0, 4, 5, 7, 9), (0, 4, 5, 7, 8)):
        splits["held" + "".join(map(str, src))] = (src, sorted(set(range(10)) - set(src)))
    for name, (s, t) in splits.items():
        assert (frozenset(s), frozenset(t)) != DEMO, name   # never the demo split
    return splits


def load_task(name):
    """``(Xs, ys, Xt, yt)`` of a proxy task."""
    if name.startswith("blobs"):
        k, gen = int(name[5:].split("-")[0]), int(name.split("-")[1]) if "-" in name else 100
        return make_domain_shift_blobs(k, 1000, random_state=gen)
    src, tgt = class_splits()[name]
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    s, t = np.isin(y, list(src)), np.isin(y, list(tgt))
    return X[s], y[s], X[t], y[t]


def fit_score(method, params, task, seed, source_only=False):
    Xs, ys, Xt, yt = load_task(task)
    k = len(np.unique(ys))
    t0 = time.perf_counter()
    if method == "k-means":
        labels = KMeans(k, n_init=10, random_state=seed).fit_predict(Xt)
    elif method == "spectral":
        labels = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=10,
                                    random_state=seed).fit_predict(Xt)
    elif method == "k-means-source":   # TDCM's baseline: k-means fitted on the source
        labels = KMeans(k, n_init=10, random_state=seed).fit(Xs).predict(Xt)
    else:
        est = getattr(skhda, method)(n_clusters=k, random_state=seed, device="cpu", **params)
        labels = est.fit(Xs, ys, None if source_only else Xt).predict(Xt)
    dt = time.perf_counter() - t0
    init = getattr(locals().get("est"), "init_labels_", None)   # CKM family: the graph start
    return {"method": method, "params": params, "task": task, "seed": seed,
            "source_only": source_only,
            "init_acc": None if init is None else float(cluster_accuracy(yt, init)),
            "acc": float(cluster_accuracy(yt, labels)),
            "nmi": float(normalized_mutual_info_score(yt, labels)), "seconds": dt}


def submode_report(task):
    """Where the 10-NN spectral clustering of a task's target errs, and how tight those rows are.

    Prints the misassigned rows per true class (a row is misassigned when its
    cluster's majority class is another one) and the share of their 10 nearest
    rows (pixels) that are misassigned too: near 1, a sub-mode the graph
    attaches as a whole to the wrong cluster.
    """
    _, _, Xt, yt = load_task(task)
    classes = np.unique(yt)
    labels = SpectralClustering(len(classes), affinity="nearest_neighbors", n_neighbors=10,
                                random_state=0).fit_predict(Xt)
    majority = np.array([np.bincount(yt[labels == j]).argmax() for j in range(len(classes))])
    wrong = np.flatnonzero(majority[labels] != yt)
    nn = NearestNeighbors(n_neighbors=11).fit(Xt).kneighbors(Xt, return_distance=False)[:, 1:]
    per_class = {int(c): int(np.sum(yt[wrong] == c)) for c in classes}
    print(f"{task}: spectral ACC {cluster_accuracy(yt, labels):.3f}, misassigned {len(wrong)} "
          f"{per_class}, their 10-NN misassigned too: {np.isin(nn[wrong], wrong).mean():.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="CKM")
    parser.add_argument("--candidate", action="append", default=None,
                        help="JSON dict of parameters (repeatable)")
    parser.add_argument("--tasks", default="59-04,even-odd,odd-even,rand1,rand2,rand3")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--source-only", action="store_true",
                        help="fit without X_target (TDCM's transfer by the forward pass)")
    parser.add_argument("--submode", action="store_true",
                        help="print where the target's spectral clustering errs, and exit")
    args = parser.parse_args(argv)
    if args.submode:
        for task in args.tasks.split(","):
            submode_report(task)
        return
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Graph is not fully connected")
    tasks, seeds = args.tasks.split(","), [int(s) for s in args.seeds.split(",")]
    for cand in args.candidate or ["{}"]:
        params = json.loads(cand)
        rows = []
        for task in tasks:
            for seed in seeds:
                row = fit_score(args.method, params, task, seed, args.source_only)
                rows.append(row)
                if not args.no_save:
                    RESULTS.parent.mkdir(exist_ok=True)
                    with RESULTS.open("a") as f:
                        f.write(json.dumps(row) + "\n")
        acc = np.array([r["acc"] for r in rows])
        nmi = np.array([r["nmi"] for r in rows])
        per_task = " ".join(f"{t}={np.mean([r['acc'] for r in rows if r['task'] == t]):.3f}"
                            for t in tasks)
        init = [r["init_acc"] for r in rows if r["init_acc"] is not None]
        start = f"(init {np.mean(init):.3f} ± {np.std(init):.3f}) " if init else ""
        print(f"{args.method} {cand}: {start}ACC {acc.mean():.3f} ± {acc.std():.3f}  "
              f"NMI {nmi.mean():.3f} ± {nmi.std():.3f}  "
              f"{np.mean([r['seconds'] for r in rows]):.1f} s/fit  [{per_task}]", flush=True)


if __name__ == "__main__":
    main()
