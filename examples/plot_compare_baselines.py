"""
Compare adaptation baselines on the embedded digits task
========================================================

Source: digits 0-4 with labels; target: digits 5-9 without labels. The
classical clusterers see only the target; the deep baselines also learn from
the source. Scores use the target labels, which no estimator sees.
"""

import time

from sklearn.cluster import KMeans, SpectralClustering

from skhda.baselines import (
    SourceFeatureClustering,
    SourceTargetClustering,
    TargetClustering,
)
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy, normalized_mutual_info_score

Xs, ys, Xt, yt = load_digits_transfer()
Xs, Xt = Xs / 16.0, Xt / 16.0

estimators = {
    "k-means (target)": TargetClustering(KMeans(5, n_init=10), random_state=0),
    "spectral (target)": TargetClustering(
        SpectralClustering(5, affinity="nearest_neighbors"), random_state=0
    ),
    "autoencoder on both + k-means": SourceTargetClustering(
        5, epochs=20, random_state=0
    ),
    "source features + k-means": SourceFeatureClustering(
        5, epochs=20, random_state=0
    ),
}
scores = {}
for name, est in estimators.items():
    t = time.perf_counter()
    labels = est.fit_predict(Xs, ys, Xt)
    scores[name] = cluster_accuracy(yt, labels)
    nmi = normalized_mutual_info_score(yt, labels)
    seconds = time.perf_counter() - t
    print(f"{name:32s} ACC {scores[name]:.3f}  NMI {nmi:.3f}  {seconds:.1f}s")

try:
    import matplotlib.pyplot as plt
except ImportError:  # matplotlib is only a docs extra
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(list(scores), list(scores.values()))
    ax.set_xlabel("target cluster accuracy")
    fig.tight_layout()
