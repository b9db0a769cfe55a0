"""TDCM: MNIST test set (source, unlabelled) -> USPS (target), both at 16x16.

TDCM is trained on the MNIST rows only, without labels, and clusters USPS by a
forward pass. ``--task usps-split`` is the paper's own digits protocol
(Table 2: train on a dataset's training split, cluster its test split): USPS
train (7291 rows) -> USPS test (2007 rows). Baselines: k-means and spectral
clustering (kNN graph, 10 neighbours) fitted on the source and applied to the
target (spectral: each target row takes the cluster of its nearest source
row), and fitted on the target itself. Scores: target NMI and ACC (labels only for scoring).

Data: ``mnist_test.npz`` and ``usps.npz`` in ``$SKHDA_DATA_DIR``, by default
``../shared/data`` next to the repository root.

Usage::

    python benchmarks/bench_tdcm_mnist_usps.py --quick
    python benchmarks/bench_tdcm_mnist_usps.py --epochs 30 --seeds 2 --out doc/x.md
    python benchmarks/bench_tdcm_mnist_usps.py --epochs 15 --pretrain-epochs 10 \
        --lambda-contrastive 1 --no-baselines      # the contrastive option
    python benchmarks/bench_tdcm_mnist_usps.py --task usps-split --device cuda \
        --pretrain-epochs 200 --lambda-contrastive 10 --results r.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _data import load_mnist, load_usps, load_usps_split
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier
from skorch.callbacks import Callback

from skhda.metrics import cluster_accuracy
from skhda.tdcm import TDCM


def load(max_rows=None, task="mnist-usps", mnist_crop=False):
    """Source and target images ``(n, 1, 16, 16)`` with their labels (for scoring only).

    ``mnist_crop``: cut MNIST to the central 20x20 box its digits were
    normalised into before resizing, so that digits fill the frame as in USPS.
    """
    if task == "usps-split":
        x, y = load_usps()
        split = load_usps_split()
        train, test = split == "train", split == "test"
        xs, ys, xt, yt = x[train], y[train], x[test], y[test]
    else:
        xs, ys = load_mnist(16, mode="area", crop=4 if mnist_crop else 0)
        xt, yt = load_usps()
    xs, xt = xs[:, None], xt[:, None]
    if max_rows:
        xs, ys, xt, yt = xs[:max_rows], ys[:max_rows], xt[:max_rows], yt[:max_rows]
    return xs, ys, xt, yt


class Trace(Callback):
    """Diagnosis only: after each TDCM epoch, print the NMI of the blocks' clusters
    (adapted from ``c^(0)``) on 2000 source and 2000 target rows. Nothing is
    chosen from it; the table reports the end of training."""

    def __init__(self, Xs, ys, Xt, yt, n=2000):
        self.data = ((Xs[:n], ys[:n]), (Xt[:n], yt[:n]))

    def on_epoch_end(self, net, **kwargs):
        model = net.module_
        if model.blocks is None:   # the pretraining stage
            return
        model.eval()
        scores = []
        with torch.no_grad():
            for X, y in self.data:
                z = model.normalize(model.embed(torch.as_tensor(X, device=net.device), "source"))
                scores.append(normalized_mutual_info_score(y, model.blocks.predict(z).cpu()))
        model.train()
        terms = {k[6:]: round(float(v), 3) for k, v in net.history[-1].items()
                 if k.startswith("train_") and k not in ("train_batch_count", "train_loss_best")}
        print(json.dumps({"epoch": len(net.history), "source_nmi": round(scores[0], 3),
                          "target_nmi": round(scores[1], 3), **terms}), flush=True)


def row(name, yt, labels, seconds):
    return (name, normalized_mutual_info_score(yt, labels), cluster_accuracy(yt, labels), seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--seed-list", default=None, help="e.g. 1,2 (overrides --seeds)")
    ap.add_argument("--n-init", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pretrain-epochs", type=int, default=0,
                    help="contrastive pretraining epochs (TDCM(pretrain_epochs=...))")
    ap.add_argument("--lambda-contrastive", type=float, default=0.0)
    ap.add_argument("--lambda-consistency", type=float, default=0.0)
    ap.add_argument("--augment", type=float, default=0.5)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--task", default="mnist-usps", choices=["mnist-usps", "usps-split"],
                    help="usps-split: the paper's protocol, USPS train -> USPS test")
    ap.add_argument("--mnist-crop", action="store_true",
                    help="crop MNIST to its 20x20 digit box before resizing")
    ap.add_argument("--results", help="append one JSON line per TDCM fit")
    ap.add_argument("--trace", action="store_true",
                    help="print source and target NMI after every TDCM epoch (diagnosis only)")
    ap.add_argument("--quick", action="store_true", help="3000 rows per domain, 5 epochs")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="e.g. cuda")
    ap.add_argument("--out", help="append the markdown table to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    max_rows = 3000 if args.quick else None
    epochs = 5 if args.quick else args.epochs
    Xs, ys, Xt, yt = load(max_rows, args.task, args.mnist_crop)
    flat_s, flat_t = Xs.reshape(len(Xs), -1), Xt.reshape(len(Xt), -1)
    rows = []
    seeds = ([int(v) for v in args.seed_list.split(',')] if args.seed_list
             else range(args.seeds))
    for seed in seeds:
        t0 = time.perf_counter()
        est = TDCM(n_clusters=10, n_blocks=5, epochs=epochs, n_init=args.n_init, lr=args.lr,
                   pretrain_epochs=args.pretrain_epochs,
                   lambda_contrastive=args.lambda_contrastive, augment=args.augment,
                   lambda_consistency=args.lambda_consistency,
                   batch_size=args.batch_size, device=args.device, random_state=seed,
                   callbacks=[Trace(Xs, ys, Xt, yt)] if args.trace else None).fit(Xs)
        labels = est.predict(Xt)
        rows.append(row(f"TDCM (source only, seed {seed})", yt, labels,
                        time.perf_counter() - t0))
        rows.append(row(f"TDCM, scored on the source itself (seed {seed})", ys,
                        est.predict(Xs), 0.0))
        print(rows[-2], rows[-1], flush=True)
        if args.results:
            settings = {k: getattr(args, k) for k in (
                "task", "mnist_crop", "pretrain_epochs", "lambda_contrastive", "lambda_consistency",
                "augment", "batch_size", "n_init", "lr", "device")}
            with open(args.results, "a") as fh:
                fh.write(json.dumps({**settings, "epochs": epochs, "seed": seed,
                                     "target_nmi": rows[-2][1], "target_acc": rows[-2][2],
                                     "source_nmi": rows[-1][1], "source_acc": rows[-1][2],
                                     "fit_s": rows[-2][3]}) + "\n")
    if not args.no_baselines:
        t0 = time.perf_counter()
        km = KMeans(10, n_init=10, random_state=0).fit(flat_s)
        rows.append(row("k-means (source)", yt, km.predict(flat_t), time.perf_counter() - t0))
        t0 = time.perf_counter()
        rows.append(row("k-means (target)", yt,
                        KMeans(10, n_init=10, random_state=0).fit_predict(flat_t),
                        time.perf_counter() - t0))
        for name, X_fit, X_apply in (("source", flat_s, flat_t), ("target", flat_t, None)):
            t0 = time.perf_counter()
            sc = SpectralClustering(10, affinity="nearest_neighbors", n_neighbors=10,
                                    random_state=0, n_jobs=1)
            lab = sc.fit_predict(X_fit)
            if X_apply is not None:
                lab = KNeighborsClassifier(1).fit(X_fit, lab).predict(X_apply)
            rows.append(row(f"spectral (kNN graph, {name})", yt, lab, time.perf_counter() - t0))
            print(rows[-1], flush=True)
    names = (("USPS train", "USPS test") if args.task == "usps-split"
             else ("MNIST test" + (", cropped to 20x20" if args.mnist_crop else ""), "USPS"))
    lines = [f"### {names[0]} (source, {len(Xs)} rows) -> {names[1]} ({len(Xt)} rows), 16x16, "
             f"TDCM {epochs} epochs (contrastive pretraining {args.pretrain_epochs} epochs, "
             f"lambda_contrastive {args.lambda_contrastive:g}, lambda_consistency "
             f"{args.lambda_consistency:g}), torch threads = {args.threads}",
             "",
             "| method | target NMI | target ACC | seconds |", "|---|---|---|---|"]
    lines += [f"| {n} | {a:.3f} | {b:.3f} | {s:.0f} |" for n, a, b, s in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
