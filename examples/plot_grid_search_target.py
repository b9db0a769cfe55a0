"""
Grid-search an adaptation pipeline on a few labelled target rows
================================================================

``GridSearchCV`` splits the source rows; the target set is wrapped in
:class:`skhda.Domain` so every fit sees all of it, and the scorer judges each
candidate on 5 labelled target rows per class (held apart from the rows we
report on).
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV

from skhda import Domain
from skhda.baselines import TargetClustering
from skhda.datasets import load_digits_transfer
from skhda.metrics import cluster_accuracy
from skhda.model_selection import make_target_scorer
from skhda.pipeline import make_da_pipeline

Xs, ys, Xt, yt = load_digits_transfer()
rng = np.random.default_rng(0)
val = np.concatenate([rng.choice(np.flatnonzero(yt == c), 5, replace=False)
                      for c in np.unique(yt)])
test = np.setdiff1d(np.arange(len(yt)), val)

pipe = make_da_pipeline(PCA(random_state=0), TargetClustering(random_state=0))
search = GridSearchCV(pipe, {"pca__n_components": [5, 10, 20, 40]}, cv=2,
                      scoring=make_target_scorer(Xt[val], yt[val], metric="cluster_accuracy"))
search.fit(Xs, ys, X_target=Domain(Xt))
print("chosen:", search.best_params_)
print("target ACC on the other rows:",
      round(cluster_accuracy(yt[test], search.predict(Xt[test])), 3))
