"""Pipelines whose transformers see both domains.

:func:`make_da_pipeline` builds a :class:`DAPipeline`: its transformers are
fitted on the source and target rows together (or one clone per domain when
the feature counts differ, or when ``per_domain=True``), and the final
estimator receives ``X_target`` transformed. ``step__param`` parameters
work as in any scikit-learn pipeline, so a whole DA pipeline can be
grid-searched.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline, _name_estimators
from sklearn.utils.validation import check_is_fitted

from ._base import DOMAINS, Domain, _unpack

__all__ = ["DAPipeline", "make_da_pipeline"]


def _n_features(X):
    shape = np.shape(X)
    return int(np.prod(shape[1:])) if len(shape) > 1 else None


class DAPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` for ``fit(X_source, y_source, X_target, y_target)``.

    Parameters
    ----------
    steps : list of (name, estimator)
        Transformers, then a final skhda estimator.
    per_domain : {"auto", True, False}, default="auto"
        Fit one clone of each transformer per domain (True), one transformer
        on both domains stacked (False), or per domain only when the feature
        counts differ ("auto").
    memory, verbose
        As in :class:`~sklearn.pipeline.Pipeline` (``memory`` is not used).

    Attributes
    ----------
    domain_steps_ : dict
        ``{"source": [fitted transformers], "target": [...]}`` (the same
        objects in both lists when fitted jointly).

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skhda.baselines import TargetClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> from skhda.pipeline import make_da_pipeline
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> pipe = make_da_pipeline(StandardScaler(), TargetClustering(random_state=0))
    >>> pipe.fit_predict(Xs, ys, X_target=Xt).shape
    (896,)
    """

    def __init__(self, steps, *, per_domain="auto", memory=None, verbose=False):
        self.per_domain = per_domain
        super().__init__(steps, memory=memory, verbose=verbose)

    def _per_domain(self, Xs, Xt):
        if self.per_domain not in ("auto", True, False):
            raise ValueError(f"per_domain must be 'auto', True or False, got {self.per_domain!r}.")
        if self.per_domain == "auto":
            return Xt is not None and _n_features(Xs) != _n_features(Xt)
        return bool(self.per_domain) and Xt is not None

    def fit(self, X_source, y_source=None, X_target=None, y_target=None, **fit_params):
        """Fit the transformers on both domains, then the final estimator."""
        self._validate_steps()
        X_target, y_target = _unpack(X_target, y_target, "X_target")
        Xs, Xt = X_source, X_target
        per_domain = self._per_domain(Xs, Xt)
        self.domain_steps_ = {d: [] for d in DOMAINS}
        for _, name, transformer in self._iter(with_final=False, filter_passthrough=True):
            if per_domain:
                ts, tt = clone(transformer), clone(transformer)
                Xs, Xt = ts.fit_transform(Xs, y_source), tt.fit_transform(Xt)
            else:
                ts = tt = clone(transformer)
                if Xt is None:
                    Xs = ts.fit_transform(Xs, y_source)
                else:
                    n = len(Xs)
                    both = ts.fit_transform(np.concatenate([np.asarray(Xs), np.asarray(Xt)]))
                    Xs, Xt = both[:n], both[n:]
            self.steps[self._step_index(name)] = (name, ts)
            self.domain_steps_["source"].append(ts)
            self.domain_steps_["target"].append(tt)
        final = self._final_estimator
        if final != "passthrough":
            target = None if Xt is None else Domain(Xt, y_target)
            final.fit(Xs, y_source, X_target=target, **fit_params)
        return self

    def _step_index(self, name):
        return [n for n, _ in self.steps].index(name)

    def _transform_domain(self, X, domain):
        check_is_fitted(self, "domain_steps_")
        if domain not in DOMAINS:
            raise ValueError(f"domain must be 'source' or 'target', got {domain!r}.")
        X, _ = _unpack(X, None, "X")
        for t in self.domain_steps_[domain]:
            X = t.transform(X)
        return X

    def predict(self, X, domain="target", **params):
        """Transform ``X`` with the ``domain``'s transformers, then predict."""
        return self._final_estimator.predict(self._transform_domain(X, domain), domain=domain,
                                             **params)

    def predict_proba(self, X, domain="target", **params):
        return self._final_estimator.predict_proba(self._transform_domain(X, domain),
                                                   domain=domain, **params)

    def transform(self, X, domain="target", **params):
        Xt = self._transform_domain(X, domain)
        if hasattr(self._final_estimator, "transform"):
            return self._final_estimator.transform(Xt, domain=domain)
        return Xt

    def fit_predict(self, X_source, y_source=None, X_target=None, y_target=None, **fit_params):
        """Fit, then return labels for the target rows."""
        self.fit(X_source, y_source, X_target, y_target, **fit_params)
        X, _ = _unpack(X_target, None, "X_target")
        if X is None:
            return self.predict(X_source, domain="source")
        return self.predict(X)

    def fit_transform(self, X_source, y_source=None, X_target=None, y_target=None,
                      **fit_params):
        """Fit, then return the embedding of the target rows (source rows without target)."""
        self.fit(X_source, y_source, X_target, y_target, **fit_params)
        X, _ = _unpack(X_target, None, "X_target")
        if X is None:
            return self.transform(X_source, domain="source")
        return self.transform(X)

    def __getitem__(self, ind):
        out = super().__getitem__(ind)
        if isinstance(out, DAPipeline):
            out.per_domain = self.per_domain
        return out

    def score(self, X, y=None, domain="target", **params):
        return self._final_estimator.score(self._transform_domain(X, domain), y, domain=domain)


def make_da_pipeline(*steps, per_domain="auto", memory=None, verbose=False):
    """Build a :class:`DAPipeline` from estimators, naming the steps automatically.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from skhda.baselines import TargetClustering
    >>> from skhda.pipeline import make_da_pipeline
    >>> pipe = make_da_pipeline(PCA(10), TargetClustering())
    >>> [name for name, _ in pipe.steps]
    ['pca', 'targetclustering']
    """
    return DAPipeline(_name_estimators(steps), per_domain=per_domain, memory=memory,
                      verbose=verbose)
