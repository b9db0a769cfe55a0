"""CKM family on USPS digits 0-4 (source) -> MNIST test digits 5-9 (target), 16x16.

Rows: k-means and spectral clustering on the target pixels; the CKM paper's
baselines Target clustering (``CKM(use_source="none")``) and Src+Targ
clustering (``CKM(use_source="reconstruction")``); DEC-UDA, DCN-UDA, CKM-UDA
(skhda defaults, and the paper-faithful setting ``augment=0,
standardize_embedding=False, init="kmeans++", lambda_pseudo=0,
pseudo_refresh=0, lambda_source_pretrain=0``); CKM-SSDA with 2, 3, 4, 5 labelled target rows
per class. Target ACC (Hungarian for clusters, plain accuracy for SSDA
labels) and NMI, mean +- std over seeds, and fit time. SSDA is scored on the
unlabelled target rows only. Target labels are used for scoring (and for
drawing the k shots), never for choosing a model or an epoch.

Data: ``usps.npz`` and ``mnist_test.npz`` from ``../shared/data`` relative to
the repository root, or ``$SKHDA_DATA_DIR``. MNIST is resized 28 -> 16
(bilinear with antialiasing); pixels scaled to [0, 1].

The table is printed and written between the markers of
``doc/benchmarks/ckm.md``.

Run: ``python benchmarks/bench_ckm_usps_mnist.py [--seeds 5] [--quick]
[--threads 2] [--methods "CKM-UDA,CKM-SSDA, 3 shots"] [--no-write]`` (a comma
followed by a space is part of a row name)
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import accuracy_score, normalized_mutual_info_score

from skhda.baselines import TargetClustering
from skhda.ckm import CKM, DCNAdapter, DECAdapter
from skhda.metrics import cluster_accuracy

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc" / "benchmarks" / "ckm.md"
START, END = "<!-- bench_ckm_usps_mnist:start -->", "<!-- bench_ckm_usps_mnist:end -->"
K = 5


def data_dir():
    return Path(os.environ.get("SKHDA_DATA_DIR", ROOT.parent / "shared" / "data"))


def load_task():
    usps, mnist = np.load(data_dir() / "usps.npz"), np.load(data_dir() / "mnist_test.npz")
    src = usps["y"] < 5
    Xs, ys = usps["X"][src].astype(np.float32) / 255, usps["y"][src]
    tgt = mnist["y"] >= 5
    Xt = torch.as_tensor(mnist["X"][tgt].astype(np.float32) / 255)[:, None]
    Xt = F.interpolate(Xt, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)
    return Xs, ys, Xt[:, 0].numpy(), mnist["y"][tgt]


def methods(quick):
    ep = {"pretrain_epochs": 4, "epochs": 3} if quick else {}
    paper = {"augment": 0.0, "standardize_embedding": False, "init": "kmeans++",
             "lambda_pseudo": 0.0, "pseudo_refresh": 0, "lambda_source_pretrain": 0.0}
    rows = {
        "k-means (target pixels)": lambda s: TargetClustering(KMeans(K, n_init=10),
                                                              random_state=s),
        "spectral (target pixels)": lambda s: TargetClustering(
            SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10),
            random_state=s),
        "Target clustering": lambda s: CKM(K, use_source="none", random_state=s, **ep),
        "Src+Targ clustering": lambda s: CKM(K, use_source="reconstruction", random_state=s,
                                             **ep),
        "DEC-UDA": lambda s: DECAdapter(K, random_state=s, **ep),
        "DCN-UDA": lambda s: DCNAdapter(K, random_state=s, **ep),
        "CKM-UDA": lambda s: CKM(K, random_state=s, **ep),
        "CKM-UDA (paper-faithful)": lambda s: CKM(K, random_state=s, **ep, **paper),
    }
    for shots in (2, 3, 4, 5):
        rows[f"CKM-SSDA, {shots} shots"] = (lambda s, k=shots: (CKM(random_state=s, **ep), k))
    return rows


def run_one(make, seed, task):
    Xs, ys, Xt, yt = task
    made = make(seed)
    est, shots = made if isinstance(made, tuple) else (made, 0)
    y_semi, scored = None, np.ones(len(yt), dtype=bool)
    if shots:
        rng = np.random.default_rng(seed)
        y_semi = np.full_like(yt, -1)
        for c in np.unique(yt):
            y_semi[rng.choice(np.flatnonzero(yt == c), shots, replace=False)] = c
        scored = y_semi == -1
    t = time.perf_counter()
    est.fit(Xs, ys, Xt, y_semi)
    fit_s = time.perf_counter() - t
    pred = est.predict(Xt)[scored]
    acc = (accuracy_score(yt[scored], pred) if shots else cluster_accuracy(yt, pred))
    return acc, normalized_mutual_info_score(yt[scored], pred), fit_s


def table(results, n_seeds, args):
    lines = [f"Seeds: {n_seeds} ({', '.join(map(str, range(n_seeds)))}); mode: "
             f"{'quick (pretrain 4 + joint 3 epochs)' if args.quick else 'defaults'}; "
             f"torch threads: {args.threads}; fit time = mean seconds per fit.", "",
             "| method | target ACC | target NMI | fit time (s) |", "|---|---|---|---|"]
    for name, runs in results.items():
        a = np.array(runs)
        lines.append(f"| {name} | {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f} | "
                     f"{a[:, 1].mean():.3f} ± {a[:, 1].std():.3f} | {a[:, 2].mean():.0f} |")
    return "\n".join(lines)


def write_doc(text):
    DOC.parent.mkdir(parents=True, exist_ok=True)
    block = f"{START}\n{text}\n{END}"
    doc = DOC.read_text() if DOC.exists() else f"# CKM benchmark\n\n{START}\n{END}\n"
    if START not in doc:
        doc += f"\n{START}\n{END}\n"
    DOC.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda m: block, doc,
                          flags=re.S))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="few epochs (a smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default=None, help="comma-separated row names")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = load_task()
    rows = methods(args.quick)
    if args.methods:
        # a comma followed by a space belongs to a name ("CKM-SSDA, 3 shots")
        wanted = [m.strip() for m in re.split(r",(?! )", args.methods)]
        rows = {k: v for k, v in rows.items() if k in wanted}
    results = {}
    for name, make in rows.items():
        results[name] = []
        for seed in range(args.seeds):
            acc, nmi, fit_s = run_one(make, seed, task)
            results[name].append((acc, nmi, fit_s))
            print(f"{name:32s} seed {seed}: ACC {acc:.3f} NMI {nmi:.3f} fit {fit_s:.0f}s",
                  flush=True)
    text = table(results, args.seeds, args)
    print(text)
    if not args.no_write:
        write_doc(text)


if __name__ == "__main__":
    main()
