"""TDCM on the synthetic shifted-blobs protocol (the paper's Table 1 and Table 3).

Every model is fitted on the source only (no target rows, no labels) and
scored on the source and on the shifted target. Rows: TDCM, k-means and a
GaussianMixture fitted on the source, and a compact DEC (autoencoder + KL(P||Q)
refinement, written here); k-means fitted on the target itself is shown as a
reference (it sees the target). ``--ablation`` adds the paper's variants
R / O / E at K = 2 and 5, ``--timing`` the fit time at N and 2N source rows.

Usage::

    python benchmarks/bench_tdcm_synthetic.py --datasets 3 --seeds 1
    python benchmarks/bench_tdcm_synthetic.py --quick
    python benchmarks/bench_tdcm_synthetic.py --ablation --timing --out doc/benchmarks/x.md
    python benchmarks/bench_tdcm_synthetic.py --no-main --ablation --paper-path --epochs 30
    python benchmarks/bench_tdcm_synthetic.py --epochs 30 --tdcm-rows "TDCM linear-encoder" \
        --tdcm-only --ks 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from torch import nn

from skhda.datasets import make_domain_shift_blobs
from skhda.metrics import cluster_accuracy
from skhda.tdcm import TDCM

N_SOURCE = 1000
EPOCHS = 50


def tdcm_params(k, seed):
    return {"n_clusters": k, "hidden_dims": (32,), "embedding_dim": max(10, k), "epochs": EPOCHS,
            "n_init": 3, "lr": 1e-3, "device": "cpu", "random_state": seed}


def scores(y, labels):
    return np.array([normalized_mutual_info_score(y, labels), adjusted_rand_score(y, labels),
                     cluster_accuracy(y, labels)])


# ---------------------------------------------------------- compact DEC
def dec_fit_predict(Xs, Xt, k, seed, pretrain_epochs=100, refine_epochs=50, dim=10):
    """DEC (Xie et al. 2016): autoencoder, k-means init, KL(P || Q) refinement on the source."""
    torch.manual_seed(seed)
    mean, std = Xs.mean(0), Xs.std(0) + 1e-8
    xs = torch.as_tensor((Xs - mean) / std, dtype=torch.float32)
    xt = torch.as_tensor((Xt - mean) / std, dtype=torch.float32)
    d = xs.shape[1]
    enc = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, dim))
    dec = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, d))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    for _ in range(pretrain_epochs):
        for idx in torch.randperm(len(xs)).split(256):
            loss = (dec(enc(xs[idx])) - xs[idx]).pow(2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        z = enc(xs).numpy()
    mu = nn.Parameter(torch.as_tensor(
        KMeans(k, n_init=10, random_state=seed).fit(z).cluster_centers_, dtype=torch.float32))
    opt = torch.optim.Adam([*enc.parameters(), mu], lr=1e-3)

    def soft(x):
        q = 1.0 / (1.0 + torch.cdist(enc(x), mu).pow(2))
        return q / q.sum(1, keepdim=True)

    for _ in range(refine_epochs):
        with torch.no_grad():
            q = soft(xs)
            p = q.pow(2) / q.sum(0)
            p = p / p.sum(1, keepdim=True)
        for idx in torch.randperm(len(xs)).split(256):
            loss = nn.functional.kl_div(soft(xs[idx]).log(), p[idx], reduction="batchmean")
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return soft(xs).argmax(1).numpy(), soft(xt).argmax(1).numpy()


# ---------------------------------------------------------------- runs
def run_methods(k, data_seed, seed, methods):
    Xs, ys, Xt, yt = make_domain_shift_blobs(k, N_SOURCE, random_state=data_seed)
    out = {}
    for name in methods:
        t0 = time.perf_counter()
        if name.startswith("TDCM"):
            extra = {"TDCM": {}, "variant-R": {"symmetric": False},
                     "variant-O": {"orthogonal_weight": 0.0}, "variant-E": {"beta": 0.0},
                     # the paper's path: ReLU encoder, one forward pass from c^(0)
                     "paper-path": {"encoder_negative_slope": 0.0, "adapt_n_init": 1},
                     # a linear MLP encoder (chosen on generator datasets 100-109)
                     "linear-encoder": {"encoder_negative_slope": 1.0}}
            params = {**tdcm_params(k, seed), **extra[name.split(" ")[-1]]}
            est = TDCM(**params).fit(Xs)
            ls, lt = est.predict(Xs), est.predict(Xt)
        elif name == "k-means (source)":
            km = KMeans(k, n_init=10, random_state=seed).fit(Xs)
            ls, lt = km.labels_, km.predict(Xt)
        elif name == "GMM (source)":
            gm = GaussianMixture(k, n_init=3, random_state=seed).fit(Xs)
            ls, lt = gm.predict(Xs), gm.predict(Xt)
        elif name == "DEC (source)":
            ls, lt = dec_fit_predict(Xs, Xt, k, seed)
        elif name == "k-means (target, reference)":
            lt = KMeans(k, n_init=10, random_state=seed).fit_predict(Xt)
            ls = lt[:0]
        out[name] = (scores(ys, ls) if len(ls) else np.full(3, np.nan), scores(yt, lt),
                     time.perf_counter() - t0)
    return out


def table(results, ks, methods, title):
    head = "| model | domain | " + " | ".join(f"K={k} NMI | ARI | ACC" for k in ks) + " |"
    lines = [f"### {title}", "", head,
             "|---|---|" + "---|---|---|" * len(ks)]
    for m in methods:
        src = {k: np.nanmean([r[m][0] for r in results[k]], 0) for k in ks}
        tgt = {k: np.mean([r[m][1] for r in results[k]], 0) for k in ks}
        for dom, vals in (("source", src), ("target", tgt),
                          ("diff", {k: src[k] - tgt[k] for k in ks})):
            if np.isnan(vals[ks[0]]).all():
                continue
            cells = " | ".join(" | ".join(f"{v:.3f}" for v in vals[k]) for k in ks)
            lines.append(f"| {m} | {dom} | {cells} |")
    secs = {m: np.mean([r[m][2] for k in ks for r in results[k]]) for m in methods}
    lines += ["", "Mean fit+predict seconds per run: "
              + ", ".join(f"{m} {s:.1f}" for m, s in secs.items()), ""]
    return "\n".join(lines)


def main():
    global EPOCHS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=10, help="datasets per K (paper: 10)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per dataset (paper: 5)")
    ap.add_argument("--first-dataset", type=int, default=0,
                    help="generator seed of the first dataset (to split a run over processes)")
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 3, 5, 10])
    ap.add_argument("--quick", action="store_true", help="2 datasets x 1 seed, K = 2 and 5")
    ap.add_argument("--ablation", action="store_true", help="variants R / O / E at K = 2, 5")
    ap.add_argument("--timing", action="store_true", help="fit time at N and 2N rows")
    ap.add_argument("--no-main", action="store_true", help="skip the main table")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=EPOCHS, help="TDCM training epochs")
    ap.add_argument("--paper-path", action="store_true",
                    help="add TDCM with encoder_negative_slope=0, adapt_n_init=1 to the ablations")
    ap.add_argument("--tdcm-rows", default="TDCM",
                    help="comma-separated TDCM rows of the main table: TDCM, "
                         "'TDCM linear-encoder' (encoder_negative_slope=1, a linear MLP)")
    ap.add_argument("--tdcm-only", action="store_true",
                    help="main table: TDCM rows only (the baselines do not depend on TDCM)")
    ap.add_argument("--out", help="append the markdown tables to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    EPOCHS = args.epochs
    if args.quick:
        args.datasets, args.seeds, args.ks = 2, 1, [2, 5]
    header = (f"{args.datasets} datasets x {args.seeds} seeds per K, {N_SOURCE} source and "
              f"{N_SOURCE} target rows, TDCM {args.epochs} epochs, torch threads = {args.threads}")
    parts = []

    def run(ks, methods, title):
        datasets = range(args.first_dataset, args.first_dataset + args.datasets)
        results = {k: [run_methods(k, d, s, methods) for d in datasets
                       for s in range(args.seeds)] for k in ks}
        text = table(results, ks, methods, f"{title} ({header})")
        print(text, flush=True)
        parts.append(text)

    if not args.no_main:
        tdcm_rows = [r.strip() for r in args.tdcm_rows.split(",")]
        baselines = [] if args.tdcm_only else ["k-means (source)", "GMM (source)",
                                               "DEC (source)", "k-means (target, reference)"]
        run(args.ks, tdcm_rows + baselines, "Synthetic shifted blobs")
    if args.ablation:
        run([k for k in (2, 5) if k in args.ks] or [2, 5],
            ["TDCM", "TDCM variant-R", "TDCM variant-O", "TDCM variant-E"]
            + (["TDCM paper-path"] if args.paper_path else []), "Ablations")
    if args.timing:
        rows = [f"### Fit time against source rows (K=5, n_init=1, {EPOCHS} epochs, "
                f"{args.threads} thread)", "", "| N source | fit seconds |", "|---|---|"]
        for n in (N_SOURCE * 2, N_SOURCE * 4, N_SOURCE * 8):
            Xs, *_ = make_domain_shift_blobs(5, n, random_state=0)
            t0 = time.perf_counter()
            TDCM(**{**tdcm_params(5, 0), "n_init": 1}).fit(Xs)
            rows.append(f"| {n} | {time.perf_counter() - t0:.2f} |")
        text = "\n".join(rows) + "\n"
        print(text, flush=True)
        parts.append(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
