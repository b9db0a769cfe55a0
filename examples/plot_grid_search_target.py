"""
Grid search and cross-validation scored on target rows
======================================================

scikit-learn's :class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_validate` split the **source** rows into
folds. Two things make them work for domain adaptation:

- the target set is wrapped in :class:`skhda.Domain`, which scikit-learn never
  slices, so every fit sees all of it (a bare array of the same length as the
  source would silently be cut to the source fold);
- the scorer, :func:`skhda.model_selection.make_target_scorer`, judges each
  fitted model on a few **labelled target rows** (5 per class here), held
  apart from the rows we report on. Never score on the labels you report.
"""

# %%
# A few labelled target rows for validation
# -----------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, cross_validate

from skhda import CKM, Domain
from skhda.baselines import TargetClustering
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy
from skhda.model_selection import make_target_scorer
from skhda.pipeline import make_da_pipeline

Xs, ys, Xt, yt = load_digits_transfer()
Xs, Xt = Xs / 16.0, Xt / 16.0
rng = np.random.default_rng(0)
val = np.concatenate(
    [rng.choice(np.flatnonzero(yt == c), 5, replace=False) for c in np.unique(yt)]
)
test = np.setdiff1d(np.arange(len(yt)), val)
scorer = make_target_scorer(Xt[val], yt[val], metric="cluster_accuracy")

# %%
# Grid search over a pipeline
# ---------------------------
# ``pca__n_components`` reaches the PCA step of a
# :func:`~skhda.pipeline.make_da_pipeline` (fitted on both domains), exactly
# as in a scikit-learn pipeline.
pipe = make_da_pipeline(PCA(random_state=0), TargetClustering(random_state=0))
search = GridSearchCV(
    pipe, {"pca__n_components": [5, 10, 20, 40]}, cv=2, scoring=scorer
)
search.fit(Xs, ys, X_target=Domain(Xt))
print("chosen:", search.best_params_)
print(
    "target ACC on the other rows:",
    round(cluster_accuracy(yt[test], search.predict(Xt[test])), 3),
)

# %%
# Cross-validation of two estimators
# ----------------------------------
# ``params={"X_target": Domain(Xt)}`` passes the whole target to every fit;
# each fold trains on two thirds of the source rows, and the target scorer
# scores it on the validation rows. The spread over folds shows how much a
# model depends on which source rows it saw.
candidates = {
    "k-means on target": TargetClustering(random_state=0),
    "CKM": CKM(5, pretrain_epochs=5, epochs=5, random_state=0),
}
cv_scores = {}
for name, est in candidates.items():
    res = cross_validate(
        est, Xs, ys, cv=3, scoring=scorer, params={"X_target": Domain(Xt)}
    )
    cv_scores[name] = res["test_score"]
    print(
        f"{name:18s} validation ACC {res['test_score'].mean():.3f} "
        f"+- {res['test_score'].std():.3f} (3 folds)"
    )

fig, ax = plt.subplots(figsize=(6, 2.5))
names = list(cv_scores)
ax.barh(
    names,
    [cv_scores[n].mean() for n in names],
    xerr=[cv_scores[n].std() for n in names],
    capsize=4,
)
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("target validation accuracy (mean +- std over 3 source folds)")
fig.tight_layout()
plt.show()
