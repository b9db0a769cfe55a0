"""CCN+ / CCN++ on USPS (source, labelled) -> MNIST test (target), all 10 digits, 16x16.

Rows: SourceOnly (cross-entropy on the source), DANN (``CCNPlus(adversarial=True,
lambda_cluster=0)``), CCN+ (``CCNPlus()``) and CCN++ (``CCNPlus(adversarial=True)``),
all with the same conv backbone and optimiser. G is learned on the USPS labels.
Target accuracy on the whole MNIST test set (10 000 rows), mean +- std over
seeds, and fit time. Target labels are used for scoring only.

Data: ``usps.npz`` and ``mnist_test.npz`` from ``../shared/data`` relative to
the repository root, or ``$SKHDA_DATA_DIR``. MNIST is resized 28 -> 16
(bilinear, antialiased); pixels scaled to [0, 1]. ``--quick`` trains on a
subset (3000 source rows, 3000 target rows) for fewer epochs and still
scores on all 10 000 target rows.

Run: ``python benchmarks/bench_ccn_usps_mnist.py [--seeds 3] [--quick]
[--threads 2] [--loss mcl] [--no-write]``; the table goes between the
markers of ``doc/benchmarks/ccn.md``.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch
from _data import load_mnist, load_usps

from skhda.baselines import SourceOnly
from skhda.ccn import CCNPlus, SimilarityNetwork
from skhda.nn.encoders import ConvEncoder

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc" / "benchmarks" / "ccn.md"
START, END = "<!-- bench_ccn_usps_mnist:start -->", "<!-- bench_ccn_usps_mnist:end -->"
CHANNELS = (32, 64, 128)


def load_task():
    Xs, ys = load_usps()
    Xt, yt = load_mnist(16)
    return Xs[:, None], ys, Xt[:, None], yt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", default="mcl")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    Xs, ys, Xt, yt = load_task()
    epochs, g_epochs = (5, 10) if args.quick else (15, 30)
    results = {}
    t_all = time.time()
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        s_idx = rng.permutation(len(Xs))[:3000] if args.quick else np.arange(len(Xs))
        t_idx = rng.permutation(len(Xt))[:3000] if args.quick else np.arange(len(Xt))
        Xs_fit, ys_fit, Xt_fit = Xs[s_idx], ys[s_idx], Xt[t_idx]
        t0 = time.time()
        G = SimilarityNetwork(10, 10, encoder=ConvEncoder((1, 16, 16), 64, CHANNELS),
                              embedding_dim=64, augment=0.5, epochs=g_epochs, device="cpu",
                              random_state=seed).fit(Xs_fit, ys_fit)
        g_time = time.time() - t0
        pr = G.pair_scores(Xt[:1000], yt[:1000], adapt_batchnorm=True)
        print(f"seed {seed}: G {g_time:.0f} s; MNIST pairs (AdaBN) "
              + ", ".join(f"{k} {v:.3f}" for k, v in pr.items()), flush=True)
        common = {"encoder": ConvEncoder((1, 16, 16), 128, CHANNELS), "embedding_dim": 128,
                  "epochs": epochs, "lr": 1e-3, "device": "cpu", "random_state": seed}
        methods = {
            "SourceOnly": SourceOnly(batch_size=128, **common),
            "DANN": CCNPlus(adversarial=True, lambda_cluster=0, **common),
            "CCN+": CCNPlus(loss=args.loss, similarity=G, **common),
            "CCN++": CCNPlus(loss=args.loss, similarity=G, adversarial=True, **common),
        }
        for name, est in methods.items():
            t1 = time.time()
            est.fit(Xs_fit, ys_fit, Xt_fit)
            acc = float(np.mean(est.predict(Xt) == yt))
            dt = time.time() - t1 + (g_time if name.startswith("CCN") else 0)
            results.setdefault(name, []).append((acc, dt))
            print(f"  {name}: target ACC {acc:.3f} ({dt:.0f} s)", flush=True)
    total = time.time() - t_all
    lines = [f"Seeds: {args.seeds}; threads: {args.threads}; "
             f"{'quick (3000 source + 3000 target rows for training)' if args.quick else 'full'}"
             f" scale; {epochs} epochs (G: {g_epochs}); pairwise loss {args.loss.upper()}; "
             f"accuracy on all 10 000 MNIST test rows; total {total / 60:.1f} min.", "",
             "| method | target ACC (mean +- std) | fit time, s (incl. G) |", "|---|---|---|"]
    for name, vals in results.items():
        v = np.array(vals)
        lines.append(f"| {name} | {v[:, 0].mean():.3f} +- {v[:, 0].std():.3f} | "
                     f"{v[:, 1].mean():.0f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        text = DOC.read_text()
        text = re.sub(re.escape(START) + ".*?" + re.escape(END),
                      lambda _: f"{START}\n{table}\n{END}", text, flags=re.S)
        DOC.write_text(text)


if __name__ == "__main__":
    main()
