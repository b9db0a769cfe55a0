"""
Heterogeneous features: a 64-pixel source, a 16-feature target
==============================================================

In heterogeneous domain adaptation the two domains have **different
features**: here the source rows are the 64 raw pixels of the 8x8 digits,
the target rows are the same kind of digits seen by another "sensor"
(4x4 average-pooled images with noise: 16 features). Both domains have the
same 10 classes; the target has only 3 labelled rows per class.

:class:`skhda.SSAN` (semantic alignment network) gives each domain its own
projector into one shared space and aligns the classes across domains. We
compare it with an SVM trained on the 30 labelled target rows alone (the
paper's SVMt baseline), and score on the other target rows.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.svm import SVC

from skhda import SSAN
from skhda.datasets import load_digits_transfer
from skhda.plotting import plot_embedding

Xs, ys, Xt, yt = load_digits_transfer("heterogeneous")
print("source features:", Xs.shape[1], "| target features:", Xt.shape[1])

# %%
# Three labelled target rows per class
# ------------------------------------
# ``y_target`` has one entry per target row: the class for the labelled
# rows, ``-1`` for the others.
rng = np.random.default_rng(0)
shots = np.concatenate(
    [rng.choice(np.flatnonzero(yt == c), 3, replace=False) for c in np.unique(yt)]
)
y_target = np.full(len(yt), -1)
y_target[shots] = yt[shots]
test = np.setdiff1d(np.arange(len(yt)), shots)

svm = SVC().fit(Xt[shots], yt[shots])
acc_svm = accuracy_score(yt[test], svm.predict(Xt[test]))
print(f"SVMt (30 target labels only)  ACC {acc_svm:.3f}")

# %%
# SSAN
# ----
# 200 full-batch steps instead of the paper's 3000 (the defaults) keep this
# fast. Rows are L2-normalised inside the model, so the raw features go in.
ssan = SSAN(epochs=4, steps_per_epoch=50, random_state=0).fit(Xs, ys, Xt, y_target)
acc_ssan = accuracy_score(yt[test], ssan.predict(Xt[test]))
print(f"SSAN                          ACC {acc_ssan:.3f}")

# %%
# The shared space
# ----------------
# ``transform(X, domain=...)`` embeds each domain with its own projector;
# :func:`skhda.plotting.plot_embedding` draws both domains together, by
# domain and by predicted class.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
plot_embedding(ssan, Xs, Xt, ax=axes[0])
plot_embedding(ssan, Xs, Xt, color_by="cluster", ax=axes[1])
fig.tight_layout()
plt.show()
