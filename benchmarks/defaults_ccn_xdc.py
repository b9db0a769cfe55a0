"""Proxy scores of CCN / XDC settings (``doc/benchmarks/defaults_ccn_xdc.md``).

Never the demo split (digits 0-4 -> 5-9). Families:

- ``digits``: the six class splits of :mod:`_digits_splits` (pixels / 16);
- ``blobs``: ``make_domain_shift_blobs(10, 4000, n_features=10, cov_scale=2)``,
  source = the source domain's clusters 0-4, target = the target domain's
  clusters 5-9 (data seed = estimator seed).

Prints target cluster accuracy, mean +- std over splits x seeds, and the mean
fit time. Run (one core)::

    OMP_NUM_THREADS=1 python benchmarks/defaults_ccn_xdc.py --method CCN \\
        --set '{"n_neighbors": 30}' --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from _digits_splits import PROXY_SPLITS, digits_split
from sklearn.cluster import KMeans, SpectralClustering

from skhda import CCN, XDC
from skhda.datasets import make_domain_shift_blobs
from skhda.metrics import cluster_accuracy


def tasks(family, seeds):
    """(name, seed, Xs, ys, Xt, yt) of a proxy family."""
    for seed in seeds:
        if family == "digits":
            for name, split in PROXY_SPLITS.items():
                yield (name, seed, *digits_split(*split))
        else:
            Xs, ys, Xt, yt = make_domain_shift_blobs(10, 4000, n_features=10, cov_scale=2.0,
                                                     random_state=seed)
            yield ("blobs", seed, Xs[ys < 5], ys[ys < 5], Xt[yt >= 5], yt[yt >= 5])


def make(method, params, seed):
    if method == "k-means":
        return KMeans(5, n_init=10, random_state=seed)
    if method == "spectral":
        return SpectralClustering(5, affinity="nearest_neighbors", n_neighbors=10,
                                  random_state=seed)
    return {"CCN": CCN, "XDC": XDC}[method](5, **params, random_state=seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=("digits", "blobs"), default="digits")
    ap.add_argument("--method", choices=("CCN", "XDC", "k-means", "spectral"), default="CCN")
    ap.add_argument("--set", default="{}", help="estimator parameters as JSON")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    params = json.loads(args.set)
    scores, times = [], []
    for name, seed, Xs, ys, Xt, yt in tasks(args.family, [int(s) for s in args.seeds.split(",")]):
        est = make(args.method, params, seed)
        t = time.perf_counter()
        labels = (est.fit_predict(Xt) if args.method in ("k-means", "spectral")
                  else est.fit_predict(Xs, ys, Xt))
        times.append(time.perf_counter() - t)
        scores.append(cluster_accuracy(yt, labels))
        print(f"  {name} seed {seed}: ACC {scores[-1]:.3f} ({times[-1]:.1f} s)", flush=True)
    print(f"{args.family} {args.method} {params}: ACC {np.mean(scores):.3f} +- "
          f"{np.std(scores):.3f} over {len(scores)} fits, {np.mean(times):.1f} s / fit")


if __name__ == "__main__":
    main()
