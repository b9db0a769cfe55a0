"""
Transferable clustering: fit once, cluster new batches by a forward pass
========================================================================

:class:`skhda.TDCM` learns to cluster from unlabelled **source** rows, and
adapts its centroids to any new set of rows at ``predict`` time: learned
centroid-updating blocks move the centroids to the rows given, so a shifted
domain is clustered without training on it. Here the target rows arrive in
batches (as from a stream or a new instrument run), and each batch is
clustered on its own.

The data are the paper's synthetic protocol
(:func:`skhda.datasets.make_domain_shift_blobs`): 5 Gaussian clusters in the
source, the same clusters moved by a random shift in the target. No labels
are used to fit; ``yt`` only scores. (On images TDCM's defaults also train
the encoder on augmented views of the images, see :doc:`/benchmarks/tdcm`.)
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans

from skhda import TDCM
from skhda.datasets import make_domain_shift_blobs
from skhda.metrics import cluster_accuracy

Xs, _, Xt, yt = make_domain_shift_blobs(5, 1000, random_state=0)

# %%
# Fit once, on the source rows only
# ---------------------------------
# ``n_init=1`` and 30 epochs keep this fast (for vectors the default
# ``n_init="auto"`` trains three and keeps the one whose partition cuts the
# rows' neighbour graph least).
tdcm = TDCM(n_clusters=5, epochs=30, n_init=1, random_state=0).fit(Xs)

# %%
# Cluster each new batch of target rows
# -------------------------------------
# Cluster ids are per call (the centroids adapt to the rows given), so each
# batch is scored on its own. The reference: k-means fitted on the source,
# whose centroids stay where the source clusters were.
kmeans = KMeans(5, n_init=10, random_state=0).fit(Xs)
batches = np.array_split(np.random.default_rng(0).permutation(len(Xt)), 4)
batch_labels = []
for i, rows in enumerate(batches):
    labels = tdcm.predict(Xt[rows])
    batch_labels.append(labels)
    acc = cluster_accuracy(yt[rows], labels)
    acc_km = cluster_accuracy(yt[rows], kmeans.predict(Xt[rows]))
    print(f"batch {i}: TDCM ACC {acc:.3f} | source k-means ACC {acc_km:.3f}")

# %%
# Source clusters and one target batch
# ------------------------------------
fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharex=True, sharey=True)
axes[0].scatter(*Xs.T, c=tdcm.predict(Xs), s=5, cmap="tab10", vmax=9)
axes[0].set_title("source (fitted on), TDCM clusters")
rows = batches[0]
axes[1].scatter(*Xt[rows].T, c=kmeans.predict(Xt[rows]), s=5, cmap="tab10", vmax=9)
axes[1].scatter(*kmeans.cluster_centers_.T, c="k", marker="x", s=60)
axes[1].set_title("target batch 0, source k-means")
axes[2].scatter(*Xt[rows].T, c=batch_labels[0], s=5, cmap="tab10", vmax=9)
axes[2].set_title("target batch 0, TDCM (adapted)")
fig.tight_layout()
plt.show()
