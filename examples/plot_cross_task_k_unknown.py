"""
Cross-task clustering when the number of clusters is unknown
============================================================

:class:`skhda.CCN` learns *whether two images show the same class* from the
labelled source (digits 0-4), with a :class:`skhda.SimilarityNetwork` (G),
then trains a clustering network on the unlabelled target (digits 5-9,
classes never seen) so that the pairs G calls similar share a cluster.

The number of target classes is not given: ``n_clusters`` is only an upper
bound (20 here; the paper uses 100). The network leaves the surplus output
nodes nearly empty, and ``n_clusters_found_`` counts the clusters that hold
a real share of the rows (:func:`skhda.metrics.n_dominant_clusters`).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans

from skhda import CCN, SimilarityNetwork
from skhda.datasets import load_digits_transfer
from skhda.metrics import (
    cluster_accuracy,
    normalized_mutual_info_score,
    pair_precision_recall,
)

Xs, ys, Xt, yt = load_digits_transfer(as_images=True)  # (n, 8, 8): a small conv net
Xs, Xt = Xs / 16.0, Xt / 16.0

# %%
# The similarity network, learned on the source classes
# -----------------------------------------------------
# Five source classes are few to learn "same digit" from, so G is weak on
# the unseen digits: check it on the target pairs (labels used to score only).
G = SimilarityNetwork(
    classes_per_batch=5, samples_per_class=10, epochs=10, random_state=0
).fit(Xs, ys)
pairs = pair_precision_recall(yt[:300], G.similarity_matrix(Xt[:300]))
print(
    f"G on target pairs: similar precision {pairs['similar_precision']:.2f}, "
    f"recall {pairs['similar_recall']:.2f}"
)

# %%
# Cluster with an upper bound of 20 clusters
# ------------------------------------------
# ``loss="mcl"`` is the more robust of CCN's two objectives. Where G is
# weak, ``lambda_contrastive=1`` (ours, images only) adds a contrastive term
# on two random views of each target image. Few epochs keep the example fast.
ccn = CCN(
    n_clusters=20,
    loss="mcl",
    similarity=G,
    lambda_contrastive=1.0,
    epochs=10,
    random_state=0,
)
labels = ccn.fit_predict(Xs, ys, Xt)
print(
    f"clusters found: {ccn.n_clusters_found_} (true number: {len(np.unique(yt))})"
)
print(
    f"CCN, K unknown        ACC {cluster_accuracy(yt, labels):.3f}  "
    f"NMI {normalized_mutual_info_score(yt, labels):.3f}"
)

# %%
# For reference, k-means *given* the true K on the target pixels. On these
# easy 8x8 digits it is hard to beat. CCN earns its keep where the pixels do
# not separate the classes and K is unknown: on Omniglot alphabets with
# ``n_clusters=100``, CCN reaches ACC 0.661 against k-means' 0.392
# (:doc:`/benchmarks/ccn`).
km = KMeans(5, n_init=10, random_state=0).fit_predict(Xt.reshape(len(Xt), -1))
print(f"k-means, K = 5 given  ACC {cluster_accuracy(yt, km):.3f}")

# %%
# How the rows spread over the 20 output nodes
# --------------------------------------------
sizes = np.bincount(labels, minlength=ccn.n_clusters)
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar(range(len(sizes)), np.sort(sizes)[::-1])
ax.set_xlabel("output node (largest first)")
ax.set_ylabel("target rows")
ax.set_title(f"{ccn.n_clusters_found_} dominant clusters out of {ccn.n_clusters}")
fig.tight_layout()
plt.show()
