"""
See what a method learned: embedding, loss terms, matched confusion
====================================================================

Fit CKM on the embedded digits task (source digits 0-4 labelled, target
digits 5-9 unlabelled), then look at it three ways with
:mod:`skhda.plotting`: both domains' embeddings in 2-D, the loss terms of its
two training stages, and the confusion matrix of its target clusters after
Hungarian matching to the digits (the labels are used for this plot only).
"""

# %%
import matplotlib.pyplot as plt

from skhda import CKM
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy
from skhda.plotting import plot_confusion, plot_embedding, plot_history

Xs, ys, Xt, yt = load_digits_transfer()
Xs, Xt = Xs / 16.0, Xt / 16.0
est = CKM(n_clusters=5, pretrain_epochs=5, epochs=5, random_state=0).fit(Xs, ys, Xt)
labels = est.predict(Xt)
print(f"CKM target ACC {cluster_accuracy(yt, labels):.3f}")

# %%
# The embedding of both domains
# -----------------------------
# :func:`~skhda.plotting.plot_embedding` embeds the rows with
# ``est.transform`` and projects them together by PCA (``method="tsne"`` for
# t-SNE). Left: coloured by domain; right: the target rows coloured by
# predicted cluster.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
plot_embedding(est, Xs, Xt, ax=axes[0])
plot_embedding(est, X_target=Xt, color_by="cluster", ax=axes[1])
fig.tight_layout()

# %%
# The loss terms of each training stage
# -------------------------------------
# :func:`~skhda.plotting.plot_history` draws one panel per stage from
# ``est.histories_``: the total loss and each named term, per epoch.
fig = plot_history(est)

# %%
# Clusters against digits
# -----------------------
# :func:`~skhda.plotting.plot_confusion` reorders the clusters so that each
# digit's matched cluster is on the diagonal.
fig, ax = plt.subplots(figsize=(4.5, 4))
plot_confusion(yt, labels, ax=ax)
fig.tight_layout()
plt.show()
