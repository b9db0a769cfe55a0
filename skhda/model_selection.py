"""Scorers that judge a domain-adaptation model on target data.

:class:`GridSearchCV` and :func:`cross_validate` split the *source* rows;
what matters is the target. :func:`make_target_scorer` returns a scorer
(``scoring=``) that ignores the source fold it is handed and scores the
fitted estimator on target rows you hold out: with a few labelled target
rows (``"cluster_accuracy"``, ``"nmi"``, ``"ari"``, ``"accuracy"``) or
without labels (``"silhouette"`` of the target embedding,
``"neg_entropy"`` of the predicted probabilities).

Never pass the target rows whose labels you report as the final result:
that would select a model on the test labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)

from ._base import Domain, _unpack
from .metrics import cluster_accuracy

__all__ = ["TargetScorer", "make_target_scorer"]

_LABELLED = {
    "cluster_accuracy": cluster_accuracy,
    "nmi": normalized_mutual_info_score,
    "ari": adjusted_rand_score,
    "accuracy": accuracy_score,
}
_UNLABELLED = ("silhouette", "neg_entropy")


class TargetScorer:
    """Score a fitted estimator on fixed target rows (see :func:`make_target_scorer`)."""

    def __init__(self, X_target, y_target=None, metric="cluster_accuracy", sample_size=2000,
                 random_state=0):
        self.X_target = X_target
        self.y_target = y_target
        self.metric = metric
        self.sample_size = sample_size
        self.random_state = random_state

    def __call__(self, estimator, X=None, y=None, **kwargs):
        Xt = self.X_target
        if callable(self.metric):
            return float(self.metric(self.y_target, estimator.predict(Xt)))
        if self.metric in _LABELLED:
            return float(_LABELLED[self.metric](self.y_target, estimator.predict(Xt)))
        if self.metric == "silhouette":
            Z = np.asarray(estimator.transform(Xt))
            Z = Z.reshape(len(Z), -1)
            labels = estimator.predict(Xt)
            if len(np.unique(labels)) < 2:
                return -1.0
            n = min(self.sample_size, len(Z)) if self.sample_size else None
            return float(silhouette_score(Z, labels, sample_size=n,
                                          random_state=self.random_state))
        proba = np.clip(np.asarray(estimator.predict_proba(Xt), dtype=float), 1e-12, 1.0)
        return float(np.mean(np.sum(proba * np.log(proba), axis=1)))

    def __repr__(self):
        return f"make_target_scorer(metric={self.metric!r})"


def make_target_scorer(X_target_val, y_target_val=None, metric="cluster_accuracy", *,
                       sample_size=2000, random_state=0):
    """A ``scoring=`` callable that scores on held-out target rows.

    Parameters
    ----------
    X_target_val : array-like or :class:`~skhda.Domain`
        Target rows to score on (a ``Domain`` may carry the labels).
    y_target_val : array-like, optional
        Their labels; needed by the labelled metrics. Rows labelled ``-1``
        (unlabelled) are left out.
    metric : str or callable, default="cluster_accuracy"
        ``"cluster_accuracy"``, ``"nmi"``, ``"ari"``, ``"accuracy"`` (need
        labels), ``"silhouette"`` (silhouette of ``transform`` with the
        predicted clusters) or ``"neg_entropy"`` (minus the mean entropy of
        ``predict_proba``: confident predictions score higher), or a
        callable ``metric(y_true, y_pred)``. Higher is better for all.
    sample_size : int, default=2000
        Rows sampled for the silhouette (None: all).
    random_state : int, default=0
        Seed of that sample.

    Returns
    -------
    scorer : TargetScorer
        ``scorer(estimator, X, y)`` ignores ``X`` and ``y`` (the source fold).

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skhda import Domain
    >>> from skhda.baselines import TargetClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> from skhda.model_selection import make_target_scorer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> scorer = make_target_scorer(Xt[:50], yt[:50], metric="nmi")
    >>> search = GridSearchCV(TargetClustering(random_state=0), {"random_state": [0, 1]},
    ...                       scoring=scorer, cv=2).fit(Xs, ys, X_target=Domain(Xt))
    >>> search.best_params_["random_state"] in (0, 1)
    True
    """
    X, y = _unpack(X_target_val, y_target_val, "X_target_val")
    if isinstance(X, Domain) or X is None:
        raise ValueError("X_target_val is required.")
    if not callable(metric) and metric not in _LABELLED and metric not in _UNLABELLED:
        raise ValueError(
            f"metric must be one of {sorted([*_LABELLED, *_UNLABELLED])} or a callable, "
            f"got {metric!r}."
        )
    if (callable(metric) or metric in _LABELLED) and y is None:
        raise ValueError(f"metric={metric!r} needs y_target_val.")
    if y is not None and len(y) != len(X):
        raise ValueError(
            f"y_target_val has {len(y)} entries but X_target_val has {len(X)} rows."
        )
    if y is not None:
        y = np.asarray(y)
        labelled = y != -1   # -1 marks unlabelled rows (scikit-learn's convention)
        if not labelled.any():
            raise ValueError("y_target_val has no labelled rows (all are -1).")
        if not labelled.all():
            X, y = _take(X, labelled), y[labelled]
    return TargetScorer(X, y, metric, sample_size, random_state)


def _take(X, mask):
    if hasattr(X, "iloc"):
        return X.iloc[mask]
    return np.asarray(X)[mask]
