"""CCN cross-task clustering on Omniglot background-small (8 alphabets).

G (:class:`skhda.ccn.SimilarityNetwork`) is learned on alphabets 0-3 (117
characters); each of alphabets 4-7 is then clustered on its own, with K
known and K = 100, by CCN (KCL and/or MCL), against k-means and spectral
clustering on raw pixels and on G's embedding. Reported per alphabet and as
the mean over alphabets and seeds: ACC (Hungarian), NMI, and
``|NDC - true count|`` (number of dominant clusters). G's similar /
dissimilar pair precision and recall on each alphabet (AdaBN statistics) is
printed too, as is the time per epoch of the clustering stage at B = 100 and
B = 256 (pairwise losses cost O(B^2) per batch). Target labels are used for
scoring only, never for choosing a model or an epoch.

Data: ``omniglot_background_small.npz`` from ``../shared/data`` relative to
the repository root, or ``$SKHDA_DATA_DIR``; pixels scaled to [0, 1].

Run: ``python benchmarks/bench_ccn_omniglot.py [--seeds 3] [--quick]
[--threads 2] [--device cuda] [--losses mcl,kcl] [--seed-list 1 --dump F]
[--from-dumps F1 F2 ...] [--no-write]``; tables go between the
markers of ``doc/benchmarks/ccn.md``.
"""

from __future__ import annotations

import argparse
import pickle
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from _data import load_omniglot
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import normalized_mutual_info_score

from skhda.ccn import CCN, SimilarityNetwork
from skhda.metrics import cluster_accuracy, n_dominant_clusters
from skhda.nn.encoders import ConvEncoder

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc" / "benchmarks" / "ccn.md"
START, END = "<!-- bench_ccn_omniglot:start -->", "<!-- bench_ccn_omniglot:end -->"
CHANNELS = (32, 64, 64, 64)


def load():
    X, y, alphabet = load_omniglot()
    return X[:, None], y, alphabet


def scores(y, labels, k):
    return (cluster_accuracy(y, labels), normalized_mutual_info_score(y, labels),
            abs(n_dominant_clusters(labels, k) - len(np.unique(y))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="e.g. cuda")
    ap.add_argument("--losses", default="mcl,kcl")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--split", default="main", choices=["main", "proxy"],
                    help="proxy: G on alphabets 0-1, clustering of 2 and 3 (labels of the "
                         "training alphabets only: the split settings are chosen on)")
    ap.add_argument("--g-epochs", type=int, default=None)
    ap.add_argument("--lambda-contrastive", type=float, default=0.0,
                    help="CCN(lambda_contrastive=...): contrastive term on the target images")
    ap.add_argument("--c-epochs", type=int, default=None)
    ap.add_argument("--seed-list", default=None, help="e.g. 1,2 (overrides --seeds)")
    ap.add_argument("--dump", default=None,
                    help="save this run's results (pickle) for --from-dumps")
    ap.add_argument("--from-dumps", nargs="+", default=None,
                    help="merge saved runs (e.g. one per seed) into one table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g_epochs, c_epochs = (12, 30) if args.quick else (40, 80)
    g_epochs, c_epochs = args.g_epochs or g_epochs, args.c_epochs or c_epochs
    if args.from_dumps:
        merged = [pickle.loads(Path(f).read_bytes()) for f in args.from_dumps]
        rows, pair_lines, timing, seeds = defaultdict(list), [], {}, []
        for d in merged:
            for key, vals in d["rows"].items():
                rows[key].extend(vals)
            pair_lines = pair_lines or d["pair_lines"]
            timing = timing or d["timing"]
            seeds += d["seeds"]
        args.seeds, args.device = len(seeds), merged[0]["device"]
        g_epochs = merged[0].get("g_epochs", g_epochs)
        c_epochs = merged[0].get("c_epochs", c_epochs)
        total = max(d["total"] for d in merged)
        finish(render(rows, pair_lines, timing, args, g_epochs, c_epochs, total), args)
        return
    seeds = ([int(v) for v in args.seed_list.split(",")] if args.seed_list
             else list(range(args.seeds)))
    args.seeds = len(seeds)
    X, y, alphabet = load()
    src = alphabet < (2 if args.split == "proxy" else 4)
    targets = (2, 3) if args.split == "proxy" else (4, 5, 6, 7)
    rows = defaultdict(list)   # (method, K) -> [(alphabet, acc, nmi, adif)]
    pair_lines, timing = [], {}
    t_all = time.time()
    for seed in seeds:
        t0 = time.time()
        torch.manual_seed(seed)   # the encoders built here start from seeded weights
        # augment=0.375: +-7.5 degrees; ccn.md's figures ran with the jitter unit before
        # augment had one meaning (0.5 of +-15 degrees, +-5 % scale and shift)
        G = SimilarityNetwork(20, 5, encoder=ConvEncoder((1, 28, 28), 64, CHANNELS),
                              embedding_dim=64, augment=0.375, epochs=g_epochs, lr=1e-3,
                              device=args.device, random_state=seed).fit(X[src], y[src])
        print(f"seed {seed}: G trained in {time.time() - t0:.0f} s", flush=True)
        for a in targets:
            m = alphabet == a
            Xa, ya = X[m], y[m]
            k_true = len(np.unique(ya))
            if seed == seeds[0]:
                pr = G.pair_scores(Xa, ya, adapt_batchnorm=True)
                pair_lines.append((a, k_true, pr))
            Z = G.transform(Xa)
            for K, kname in ((k_true, "true"), (100, "100")):
                km = KMeans(K, n_init=4, random_state=seed)
                rows[("k-means, pixels", kname)].append(
                    (a, *scores(ya, km.fit_predict(Xa.reshape(len(Xa), -1)), K)))
                rows[("k-means, G embedding", kname)].append(
                    (a, *scores(ya, km.fit_predict(Z), K)))
                if kname == "true":
                    sc = SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10,
                                            random_state=seed)
                    rows[("spectral, pixels", kname)].append(
                        (a, *scores(ya, sc.fit_predict(Xa.reshape(len(Xa), -1)), K)))
                    rows[("spectral, G embedding", kname)].append(
                        (a, *scores(ya, sc.fit_predict(Z), K)))
                for loss in args.losses.split(","):
                    t1 = time.time()
                    est = CCN(K, loss=loss, similarity=G, encoder=ConvEncoder(
                        (1, 28, 28), 128, CHANNELS), embedding_dim=128, epochs=c_epochs,
                        batch_size=100, lr=1e-3, device=args.device, random_state=seed,
                        lambda_contrastive=args.lambda_contrastive)
                    labels = est.fit_predict(Xa, None, Xa)
                    r = scores(ya, labels, K)
                    tag = (f", lambda_contrastive={args.lambda_contrastive:g}"
                           if args.lambda_contrastive else "")
                    rows[(f"CCN ({loss.upper()}{tag})", kname)].append((a, *r))
                    print(f"  alphabet {a} K={kname} {loss}: ACC {r[0]:.3f} NMI {r[1]:.3f} "
                          f"|NDC-k| {r[2]} NDC {n_dominant_clusters(labels, K)}/{k_true} "
                          f"({time.time() - t1:.0f} s)", flush=True)
    # time per epoch of the clustering stage at two batch sizes (largest target alphabet)
    m = alphabet == 6
    for B in (100, 256) if 0 in seeds and args.split == "main" else ():
        est = CCN(100, loss="mcl", similarity=G, encoder=ConvEncoder((1, 28, 28), 128, CHANNELS),
                  embedding_dim=128, epochs=2, batch_size=B, device=args.device, random_state=0)
        est.fit(X[m], None, X[m])
        n_steps = int(np.ceil(m.sum() / B))
        timing[B] = (est.history_[-1, "dur"], n_steps)
    total = time.time() - t_all
    if args.dump:
        Path(args.dump).write_bytes(pickle.dumps({
            "rows": dict(rows), "pair_lines": pair_lines, "timing": timing, "seeds": seeds,
            "total": total, "device": args.device, "g_epochs": g_epochs,
            "c_epochs": c_epochs}))
    finish(render(rows, pair_lines, timing, args, g_epochs, c_epochs, total), args)


def finish(table, args):
    print(table)
    if not args.no_write and args.split == "main":
        text = DOC.read_text() if DOC.exists() else f"{START}\n{END}\n"
        text = re.sub(re.escape(START) + ".*?" + re.escape(END),
                      lambda _: f"{START}\n{table}\n{END}", text, flags=re.S)
        DOC.write_text(text)


def render(rows, pair_lines, timing, args, g_epochs, c_epochs, total):
    alphabets = " / ".join(map(str, sorted({r[0] for v in rows.values() for r in v})))
    out = [f"Seeds: {args.seeds}; device: {args.device}; threads: {args.threads}; "
           f"G: {g_epochs} epochs of 25 steps "
           f"(20 classes x 5); CCN: {c_epochs} epochs of batch 100; "
           f"{'quick' if args.quick else 'full'} scale; total {total / 60:.1f} min.", "",
           "| method | K | ACC (mean) | NMI (mean) | abs(NDC - k) (mean) "
           f"| ACC per alphabet {alphabets} |",
           "|---|---|---|---|---|---|"]
    for (method, kname), vals in rows.items():
        v = np.array([r[1:] for r in vals], float)
        per = defaultdict(list)
        for r in vals:
            per[r[0]].append(r[1])
        per_a = " / ".join(f"{np.mean(per[a]):.3f}" for a in sorted(per))
        out.append(f"| {method} | {kname} | {v[:, 0].mean():.3f} | {v[:, 1].mean():.3f} | "
                   f"{v[:, 2].mean():.1f} | {per_a} |")
    out += ["", "G's pair precision / recall on each target alphabet (seed 0, AdaBN):", "",
            "| alphabet | characters | similar P | similar R | dissimilar P | dissimilar R |",
            "|---|---|---|---|---|---|"]
    for a, k, pr in pair_lines:
        out.append(f"| {a} | {k} | {pr['similar_precision']:.3f} | {pr['similar_recall']:.3f} "
                   f"| {pr['dissimilar_precision']:.3f} | {pr['dissimilar_recall']:.3f} |")
    out += ["", f"Clustering stage, time per epoch (alphabet 6, 840 rows, K = 100, MCL, "
            f"{args.device}):", "",
            "| B | pairs per step | steps per epoch | s per epoch |", "|---|---|---|---|"]
    for B, (dur, steps) in timing.items():
        out.append(f"| {B} | {B * B} | {steps} | {dur:.2f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
