"""``python -m skhda``: compare the estimators on the embedded digits task.

``python -m skhda benchmark ...`` runs the benchmark tasks instead (see
``python -m skhda benchmark --help``).

Source: scikit-learn's bundled digits 0-4 (labelled); target: digits 5-9
(unlabelled; their labels are used only to score). Prints target cluster
accuracy, NMI and fit time for classical baselines and every skhda method.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.cluster import KMeans, SpectralClustering

import skhda
from skhda.baselines import SourceFeatureClustering, SourceTargetClustering, TargetClustering
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy, normalized_mutual_info_score

# the demo keeps every fit to seconds on a laptop CPU; these override the defaults
DEMO_SETTINGS = {}


def demo_estimators(n_clusters=5, random_state=0):
    """(name, estimator) pairs compared by the demo: baselines, then the methods."""
    rows = [
        ("k-means on target", TargetClustering(KMeans(n_clusters, n_init=10),
                                               random_state=random_state)),
        ("spectral on target", TargetClustering(
            SpectralClustering(n_clusters, affinity="nearest_neighbors", n_neighbors=10),
            random_state=random_state)),
        ("Src+Targ autoencoder + k-means", SourceTargetClustering(
            n_clusters, random_state=random_state)),
        ("source-trained features + k-means", SourceFeatureClustering(
            n_clusters, random_state=random_state)),
    ]
    # the paper methods, as they exist in this version of skhda, with their defaults
    for name in ("CKM", "DECAdapter", "DCNAdapter", "TDCM", "CCN", "XDC"):
        cls = getattr(skhda, name, None)
        if cls is not None:
            params = cls().get_params()
            kw = {"random_state": random_state, **DEMO_SETTINGS.get(name, {})}
            if "n_clusters" in params:
                kw["n_clusters"] = n_clusters
            label = name + (" *" if name in DEMO_SETTINGS else "")
            rows.append((label, cls(**kw)))
    return rows


def run(random_state=0, only=None):
    Xs, ys, Xt, yt = load_digits_transfer()
    Xs, Xt = Xs / 16.0, Xt / 16.0
    print(f"skhda {skhda.__version__} demo: sklearn digits, source 0-4 ({len(Xs)} rows, "
          f"labelled) -> target 5-9 ({len(Xt)} rows, unlabelled; labels used only to score)\n")
    header = f"{'method':38s} {'target ACC':>10s} {'NMI':>6s} {'fit time':>9s}"
    print(header)
    print("-" * len(header))
    results = []
    for name, est in demo_estimators(len(np.unique(ys)), random_state):
        if only and not any(o.lower() in name.lower() for o in only):
            continue
        t = time.perf_counter()
        labels = est.fit_predict(Xs, ys, Xt)
        dt = time.perf_counter() - t
        acc, nmi = cluster_accuracy(yt, labels), normalized_mutual_info_score(yt, labels)
        results.append((name, acc, nmi, dt))
        print(f"{name:38s} {acc:10.3f} {nmi:6.3f} {dt:8.1f}s", flush=True)
    for name, settings in DEMO_SETTINGS.items():
        print(f"* {name} with {settings} (shorter than its defaults) to keep the demo quick")
    return results


def main(argv=None):
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["benchmark"]:
        from skhda.benchmark._cli import main as benchmark_main

        return benchmark_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m skhda", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="random_state of every estimator")
    parser.add_argument("--only", nargs="*", help="run only methods whose name contains these")
    parser.epilog = "python -m skhda benchmark --list: the benchmark tasks of every paper"
    args = parser.parse_args(argv)
    run(args.seed, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
