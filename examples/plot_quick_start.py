"""
Quick start: cluster unseen digits with help from labelled ones
===============================================================

The embedded task needs no download: scikit-learn's 8x8 digits, split into a
labelled **source** (digits 0-4) and an unlabelled **target** (digits 5-9).
The target classes never occur in the source, so a classifier cannot be
transferred; what transfers is a feature space in which digits separate.

We compare k-means on the target pixels with :class:`skhda.CKM`, which learns
an embedding from both domains (and the source labels) while it clusters the
target. The target labels ``yt`` are used only to score.
"""

# %%
# Load the task
# -------------
# Every skhda estimator is fitted as ``fit(X_source, y_source, X_target)``.
# The pixels are 0-16; scale them to 0-1 for the networks.
import matplotlib.pyplot as plt
from sklearn.cluster import KMeans

from skhda import CKM
from skhda.baselines import TargetClustering
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy, normalized_mutual_info_score
from skhda.plotting import plot_confusion

Xs, ys, Xt, yt = load_digits_transfer()
Xs, Xt = Xs / 16.0, Xt / 16.0
print("source", Xs.shape, "classes", sorted(set(ys.tolist())), "| target", Xt.shape)

# %%
# A baseline that ignores the source
# ----------------------------------
# :class:`~skhda.baselines.TargetClustering` wraps any scikit-learn clusterer
# in the same interface (it fits on the target rows only).
kmeans = TargetClustering(KMeans(5, n_init=10, random_state=0))
km_labels = kmeans.fit_predict(Xs, ys, Xt)
print(
    f"k-means on the target  ACC {cluster_accuracy(yt, km_labels):.3f}  "
    f"NMI {normalized_mutual_info_score(yt, km_labels):.3f}"
)

# %%
# Adapt with CKM
# --------------
# Few epochs keep this example fast; the defaults (15 + 10 epochs) are what
# :doc:`/benchmarks/ckm` measures. ``fit_predict`` returns cluster ids
# ``0..4`` for the target rows; :func:`~skhda.metrics.cluster_accuracy`
# matches them to the digits (Hungarian matching) before counting.
ckm = CKM(n_clusters=5, pretrain_epochs=5, epochs=5, random_state=0)
labels = ckm.fit_predict(Xs, ys, Xt)
print(
    f"CKM                    ACC {cluster_accuracy(yt, labels):.3f}  "
    f"NMI {normalized_mutual_info_score(yt, labels):.3f}"
)

# %%
# The fitted model is a scikit-learn estimator: ``predict`` labels new target
# rows, ``transform`` gives the learned embedding (feed it to any clusterer).
embedding = ckm.transform(Xt[:3])
print("embedding of 3 target rows:", embedding.shape, "clusters:", ckm.predict(Xt[:3]))

# %%
# Which digits end up together
# ----------------------------
# The confusion matrix after matching each digit to its cluster.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
plot_confusion(yt, km_labels, ax=axes[0])
axes[0].set_title("k-means: " + axes[0].get_title())
plot_confusion(yt, labels, ax=axes[1])
axes[1].set_title("CKM: " + axes[1].get_title())
fig.tight_layout()
plt.show()
