"""
See what a method learned: embedding, loss terms, matched confusion
====================================================================

Fit CKM on the embedded digits task (source digits 0-4 labelled, target
digits 5-9 unlabelled), then look at it three ways with
:mod:`skhda.plotting`: both domains' embeddings in 2-D, the loss terms of its
two training stages, and the confusion matrix of its target clusters after
Hungarian matching to the digits (the labels are used for this plot only).
"""

import matplotlib

matplotlib.use("Agg")  # headless; drop this line in a notebook
import matplotlib.pyplot as plt  # noqa: E402

from skhda import CKM  # noqa: E402
from skhda.datasets import load_digits_transfer  # noqa: E402
from skhda.metrics import cluster_accuracy  # noqa: E402
from skhda.plotting import plot_confusion, plot_embedding, plot_history  # noqa: E402

Xs, ys, Xt, yt = load_digits_transfer()
Xs, Xt = Xs / 16.0, Xt / 16.0
est = CKM(n_clusters=5, pretrain_epochs=5, epochs=5, random_state=0).fit(Xs, ys, Xt)
labels = est.predict(Xt)
print(f"CKM target ACC {cluster_accuracy(yt, labels):.3f}")

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
plot_embedding(est, Xs, Xt, ax=axes[0])
plot_embedding(est, X_target=Xt, color_by="cluster", ax=axes[1])
plot_confusion(yt, labels, ax=axes[2])
fig.tight_layout()

plot_history(est)
plt.show()
