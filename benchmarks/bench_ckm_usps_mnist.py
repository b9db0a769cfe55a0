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
import json
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


def load_task(task="usps04-mnist59"):
    """The benchmark task, or (``"mnist04-usps59"``) the proxy task the defaults are checked on."""
    usps, mnist = np.load(data_dir() / "usps.npz"), np.load(data_dir() / "mnist_test.npz")
    Xu, yu = usps["X"].astype(np.float32) / 255, usps["y"]
    Xm = torch.as_tensor(mnist["X"].astype(np.float32) / 255)[:, None]
    Xm = F.interpolate(Xm, size=(16, 16), mode="bilinear", antialias=True,
                       align_corners=False)[:, 0].numpy()
    ym = mnist["y"]
    if task == "mnist04-usps59":
        (Xu, yu), (Xm, ym) = (Xm, ym), (Xu, yu)
    elif task != "usps04-mnist59":
        raise ValueError(f"unknown task {task!r}")
    src, tgt = yu < 5, ym >= 5
    return Xu[src], yu[src], Xm[tgt], ym[tgt]


def methods(quick, overrides=None):
    ep = {"pretrain_epochs": 4, "epochs": 3} if quick else {}
    ep.update(overrides or {})
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


def table(results, seeds, args, devices=None):
    """Markdown table: mean ± std over seeds of each row (``devices``: row -> where it ran)."""
    devices = devices or {}
    lines = [f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}); mode: "
             f"{'quick (pretrain 4 + joint 3 epochs)' if args.quick else 'defaults'}; "
             + (f"merged from {len(args.from_results)} result files"
                if args.from_results else f"torch threads: {args.threads}")
             + "; fit time = mean seconds per fit.", "",
             "| method | target ACC | target NMI | fit time (s) | device |",
             "|---|---|---|---|---|"]
    order = list(methods(False))
    for name in sorted(results, key=lambda n: order.index(n) if n in order else len(order)):
        a = np.array(results[name])
        lines.append(f"| {name} | {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f} | "
                     f"{a[:, 1].mean():.3f} ± {a[:, 1].std():.3f} | {a[:, 2].mean():.0f} | "
                     f"{devices.get(name, 'cpu')} |")
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
    parser.add_argument("--task", default="usps04-mnist59",
                        choices=["usps04-mnist59", "mnist04-usps59"],
                        help="mnist04-usps59: the proxy task used to check the defaults")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override a parameter of every deep row (repeatable)")
    parser.add_argument("--seed-list", default=None, help="e.g. 2,3,4 (overrides --seeds)")
    parser.add_argument("--results", default=None,
                        help="append one JSON line per fit to this file")
    parser.add_argument("--from-results", nargs="+", default=None,
                        help="build the table from these result files instead of fitting")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.from_results:
        results, seeds, devices = {}, set(), {}
        for path in args.from_results:
            for line in Path(path).read_text().splitlines():
                r = json.loads(line)
                if r["task"] != args.task:
                    continue
                changed = {k: v for k, v in r["overrides"].items() if k != "device"}
                name = r["method"] + "".join(f", {k}={v}" for k, v in changed.items())
                results.setdefault(name, []).append((r["acc"], r["nmi"], r["fit_s"]))
                seeds.add(r["seed"])
                devices[name] = r["overrides"].get("device", "cpu")
        text = table(results, sorted(seeds), args, devices)
        print(text)
        if not args.no_write:
            write_doc(text)
        return
    overrides = dict(_parse_override(kv) for kv in args.set)
    task = load_task(args.task)
    rows = methods(args.quick, overrides)
    if args.methods:
        # a comma followed by a space belongs to a name ("CKM-SSDA, 3 shots")
        wanted = [m.strip() for m in re.split(r",(?! )", args.methods)]
        rows = {k: v for k, v in rows.items() if k in wanted}
    seeds = ([int(s) for s in args.seed_list.split(",")] if args.seed_list
             else list(range(args.seeds)))
    results = {}
    for name, make in rows.items():
        results[name] = []
        for seed in seeds:
            acc, nmi, fit_s = run_one(make, seed, task)
            results[name].append((acc, nmi, fit_s))
            print(f"{name:32s} seed {seed}: ACC {acc:.3f} NMI {nmi:.3f} fit {fit_s:.0f}s",
                  flush=True)
            if args.results:
                with open(args.results, "a") as f:
                    f.write(json.dumps({"task": args.task, "method": name, "seed": seed,
                                        "overrides": overrides, "acc": acc, "nmi": nmi,
                                        "fit_s": fit_s}) + "\n")
    text = table(results, seeds, args, dict.fromkeys(results, overrides.get("device", "cpu")))
    print(text)
    if not args.no_write and args.task == "usps04-mnist59" and not overrides.keys() - {"device"}:
        write_doc(text)


def _parse_override(text):
    key, _, value = text.partition("=")
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass            # a plain string, e.g. init=kmeans++
    return key, value


if __name__ == "__main__":
    main()
