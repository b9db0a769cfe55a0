"""XDC (adversarial cross-domain clustering, K unknown) against k-means, spectral, IPS and CCN.

Tasks (target labels are used for scoring only):

- ``usps-mnist``: USPS, all 9298 rows and 10 digits, labelled source -> a random
  3,000 rows of MNIST test (resized to 16x16), target.
- ``omniglot``: Omniglot background-small alphabets 0-3 (117 characters,
  labelled source) -> alphabets 4-7 (125 characters, 2,500 rows), target.
- proxies for choosing defaults, labels of source classes only:
  ``usps-proxy`` (USPS digits 0-4 -> USPS digits 5-9) and ``omniglot-proxy``
  (alphabets 0-1 -> alphabets 2-3).
- ``scale``: fit and predict time of XDC on USPS -> N MNIST rows
  (N = 2,500, 5,000, 10,000).

Rows: k-means with the true K on raw pixels and on XDC's encoder features,
spectral clustering with the true K on those features, IPS
(``lambda_adversarial=0``), XDC (``linkage="merge"``, ours, and the paper's
``linkage="components"`` re-clustered from the same fit), CCN with K = 100.
Columns: pairwise F, BCubed F, NMI, clusters found vs the true count, fit time.
One JSON line per fit in ``benchmarks/results/xdc*.jsonl``; ``--table`` renders
the tables of ``doc/benchmarks/xdc.md`` from them.

Run (one core): ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_xdc.py
--task usps-mnist --seeds 0,1,2``; ``--grid`` re-clusters one fit over a grid
of linkage parameters (proxies only); ``--table`` prints the tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from _data import load_mnist, load_omniglot, load_usps
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import normalized_mutual_info_score

from skhda import CCN, XDC
from skhda.ccn import SimilarityNetwork
from skhda.metrics import bcubed_f1_score, n_dominant_clusters, pairwise_f1_score
from skhda.nn.encoders import ConvEncoder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def load_task(task, seed, n_target=3000, mnist_crop=4):
    rng = np.random.default_rng(seed)
    if task in ("usps-mnist", "scale"):
        Xs, ys = load_usps()
        Xt, yt = load_mnist(16, crop=mnist_crop)
        rows = rng.choice(len(Xt), size=min(n_target, len(Xt)), replace=False)
        return Xs, ys, Xt[rows], yt[rows]
    if task == "usps-proxy":
        X, y = load_usps()
        return X[y < 5], y[y < 5], X[y >= 5], y[y >= 5]
    X, y, alphabet = load_omniglot()
    cut, stop = (4, 8) if task == "omniglot" else (2, 4)
    src, tgt = alphabet < cut, (alphabet >= cut) & (alphabet < stop)
    return X[src], y[src], X[tgt], y[tgt]


def scores(y, labels, fit_s, predict_s=None):
    out = {"pairwise_f": pairwise_f1_score(y, labels), "bcubed_f": bcubed_f1_score(y, labels),
           "nmi": normalized_mutual_info_score(y, labels),
           "clusters": int(len(np.unique(labels))), "true_clusters": int(len(np.unique(y))),
           "fit_s": round(fit_s, 2)}
    if predict_s is not None:
        out["predict_s"] = round(predict_s, 2)
    return out


def write(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def xdc_params(args):
    """XDC's parameters: per-task settings, then ``--params``.

    Omniglot (28x28 characters, 20 per class) gets the 4-block conv encoder of
    the CCN benchmark, light affine augmentation and longer training.
    """
    params = {}
    if args.task.startswith("omniglot"):
        torch.manual_seed(0)
        params = {"encoder": ConvEncoder((1, 28, 28), 64, (32, 64, 64, 64)), "augment": 0.5,
                  "epochs": 20, "gcn_epochs": 10}
    return {**params, **(json.loads(args.params) if args.params else {})}


def logged(params):
    return {k: (v if not isinstance(v, torch.nn.Module) else "conv4") for k, v in params.items()}


def run_task(args, seed, out):
    Xs, ys, Xt, yt = load_task(args.task, seed)
    K = len(np.unique(yt))
    base = {"task": args.task, "seed": seed, "n_source": len(Xs), "n_target": len(Xt)}
    methods = args.methods.split(",")
    if "kmeans-raw" in methods:
        t = time.time()
        labels = KMeans(K, n_init=10, random_state=seed).fit_predict(Xt.reshape(len(Xt), -1))
        write(out, {**base, "method": "k-means (raw, true K)", **scores(yt, labels,
                                                                         time.time() - t)})
    fitted = {}
    for name, lam in (("IPS", {"lambda_adversarial": 0.0}), ("XDC", {})):   # XDC: its default
        if name.lower() not in methods:
            continue
        t = time.time()
        est = XDC(**{**lam, "random_state": seed, "device": args.device,
                     **xdc_params(args)}).fit(Xs, ys, Xt)
        fit_s = time.time() - t
        fitted[name] = est
        base_fit = {**base, "lambda_adversarial": est.lambda_adversarial}
        write(out, {**base_fit, "method": f"{name} (merge, ours)", **logged(xdc_params(args)),
                    **scores(yt, est.labels_, fit_s)})
        t = time.time()
        plain = est.set_params(linkage="components").predict(Xt)
        est.set_params(linkage="merge")
        write(out, {**base_fit, "method": f"{name} (components, paper)",
                    **logged(xdc_params(args)),
                    **scores(yt, plain, fit_s, time.time() - t)})
    if "XDC" in fitted and "kmeans-feat" in methods:
        base = {**base, "lambda_adversarial": fitted["XDC"].lambda_adversarial}
        Z = fitted["XDC"].transform(Xt)
        Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        t = time.time()
        labels = KMeans(K, n_init=10, random_state=seed).fit_predict(Z)
        write(out, {**base, "method": "k-means (XDC features, true K)",
                    **scores(yt, labels, time.time() - t)})
        t = time.time()
        labels = SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10,
                                    assign_labels="cluster_qr",
                                    random_state=seed).fit_predict(Z)
        write(out, {**base, "method": "spectral (XDC features, true K)",
                    **scores(yt, labels, time.time() - t)})
        t = time.time()
        labels = fitted["XDC"].set_params(n_clusters=K).predict(Xt)
        fitted["XDC"].set_params(n_clusters=None)
        write(out, {**base, "method": "XDC linkage cut to the true K",
                    **scores(yt, labels, time.time() - t)})
    if "ccn" in methods:
        t = time.time()
        G = SimilarityNetwork(20, 5, epochs=args.ccn_epochs, device=args.device,
                              random_state=seed)
        est = CCN(100, loss="mcl", similarity=G, epochs=args.ccn_epochs, device=args.device,
                  random_state=seed).fit(Xs, ys, Xt)
        rec = scores(yt, est.labels_, time.time() - t)
        rec["clusters"] = int(n_dominant_clusters(est.labels_, 100))
        write(out, {**base, "method": f"CCN (K=100, MCL, {args.ccn_epochs}+{args.ccn_epochs} "
                                      "epochs)", **rec})


def run_grid(args, seed, out):
    """One fit on a proxy task, then the linkage re-run over a grid (no refit)."""
    Xs, ys, Xt, yt = load_task(args.task, seed)
    t = time.time()
    est = XDC(random_state=seed, device=args.device, **xdc_params(args)).fit(Xs, ys, Xt)
    fit_s = time.time() - t
    base = {"task": args.task, "seed": seed, **logged(xdc_params(args))}
    write(out, {**base, "method": "XDC (defaults)", **scores(yt, est.labels_, fit_s)})
    links = est._links(est._validate_X(Xt), "target")
    grid = {"linkage": ["components", "merge"], "link_threshold": [0.5, 0.7, 0.8, 0.9],
            "merge_threshold": [0.05, 0.1, 0.2], "max_cluster_size": [None, 0.1, 0.3],
            "min_cluster_size": [1, 5, 10]}
    for values in itertools.product(*grid.values()):
        p = dict(zip(grid, values, strict=True))
        if p["linkage"] == "components" and (p["merge_threshold"], p["min_cluster_size"]) \
                != (0.1, 1):
            continue
        t = time.time()
        labels = est.set_params(**p)._link_clusters(*links)
        write(out, {**base, "method": "grid", **p, **scores(yt, labels, fit_s,
                                                             time.time() - t)})


def run_scale(args, seed, out):
    Xs, ys, _, _ = load_task("usps-mnist", seed)
    Xm, ym = load_mnist(16, crop=args.scale_crop)
    rng = np.random.default_rng(seed)
    for n in (2500, 5000, 10000):
        rows = rng.choice(len(Xm), size=n, replace=False)
        t = time.time()
        est = XDC(random_state=seed, device=args.device, **xdc_params(args)).fit(
            Xs, ys, Xm[rows])
        fit_s = time.time() - t
        t = time.time()
        labels = est.predict(Xm[rows])
        write(out, {"task": "scale", "seed": seed, "method": "XDC", "n_target": n,
                    **scores(ym[rows], labels, fit_s, time.time() - t)})


def table(paths):
    groups = defaultdict(list)
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            if r["method"] != "grid" and not r["task"].endswith("proxy"):
                tuned = {k: r[k] for k in ("lambda_adversarial", "link_threshold",
                                           "max_cluster_size", "min_cluster_size",
                                           "merge_threshold") if k in r}
                method = r["method"] + (f" {json.dumps(tuned)}" if tuned else "")
                groups[(r["task"], method, r.get("n_target"))].append(r)
    for (task, method, _), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0)):
        def ms(key, rs=rs):
            v = np.array([r[key] for r in rs], dtype=float)
            return f"{v.mean():.3f} ± {v.std():.3f}" if key != "clusters" else \
                f"{v.mean():.0f} ± {v.std():.0f}"
        fit = np.mean([r["fit_s"] for r in rs])
        pred = [r["predict_s"] for r in rs if "predict_s" in r]
        times = f"{fit:.1f} s" + (f" (+{np.mean(pred):.1f} s)" if pred else "")
        n = f" N={rs[0]['n_target']}" if task == "scale" else ""
        print(f"| {task}{n} | {method} | {ms('pairwise_f')} | {ms('bcubed_f')} | {ms('nmi')} | "
              f"{ms('clusters')} / {rs[0]['true_clusters']} | {times} | {len(rs)} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="usps-mnist",
                    choices=["usps-mnist", "omniglot", "usps-proxy", "omniglot-proxy", "scale"])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default="kmeans-raw,ips,xdc,kmeans-feat,ccn")
    ap.add_argument("--params", default=None, help='XDC parameters as JSON, e.g. {"k1": 10}')
    ap.add_argument("--ccn-epochs", type=int, default=15)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--scale-crop", type=int, default=4,
                    help="MNIST crop of the scale task (the recorded run used 0)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--table", nargs="*", default=None)
    args = ap.parse_args()
    if args.table is not None:
        table(args.table or sorted(RESULTS.glob("xdc*.jsonl")))
        return
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    suffix = "_grid" if args.grid else ""
    out = Path(args.out) if args.out else RESULTS / f"xdc_{args.task}{suffix}.jsonl"
    for seed in (int(s) for s in args.seeds.split(",")):
        torch.manual_seed(seed)
        if args.task == "scale":
            run_scale(args, seed, out)
        elif args.grid:
            run_grid(args, seed, out)
        else:
            run_task(args, seed, out)


if __name__ == "__main__":
    main()
