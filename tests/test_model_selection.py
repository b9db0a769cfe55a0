"""Pipelines, grid search, cross-validation, target scorers, routing and Dask."""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.preprocessing import StandardScaler

from skhda import Domain
from skhda._base import BaseDAEstimator, Capabilities
from skhda.baselines import SourceOnly, TargetClustering
from skhda.model_selection import make_target_scorer
from skhda.pipeline import DAPipeline, make_da_pipeline


class _Recorder(BaseDAEstimator):
    """Records what each fit received (to prove no target row is lost)."""

    fits: list = []

    def _capabilities(self):
        return Capabilities(requires_source_labels=False)

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def _fit(self, data):
        type(self).fits.append((len(data.X_source), len(data.X_target),
                                None if data.y_target is None else len(data.y_target)))

    def predict(self, X, domain="target"):
        return np.zeros(len(self._validate_X(X, domain)), dtype=int)


@pytest.fixture
def recorder():
    _Recorder.fits = []
    return _Recorder


@pytest.fixture(scope="module")
def same_length():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(60, 5)), rng.normal(size=(60, 5)) + 1
    ys = np.repeat([0, 1, 2], 20)
    return Xs, ys, Xt


def test_grid_search_with_domain_sees_every_target_row(recorder, same_length):
    Xs, ys, Xt = same_length
    yt = np.full(len(Xt), -1)
    GridSearchCV(recorder(), {"alpha": [1, 2]}, cv=3).fit(Xs, ys, X_target=Domain(Xt, yt))
    assert recorder.fits and all(t == 60 and yt_ == 60 for _, t, yt_ in recorder.fits)
    assert {s for s, _, _ in recorder.fits} == {40, 60}   # source is split, 60 = refit


def test_raw_same_length_target_is_sliced_by_sklearn(recorder, same_length):
    """Documents the pitfall that Domain exists for."""
    Xs, ys, Xt = same_length
    GridSearchCV(recorder(), {"alpha": [1]}, cv=3).fit(Xs, ys, X_target=Xt)
    assert 40 in {t for _, t, _ in recorder.fits}


def test_raw_target_of_other_length_passes_whole(recorder, same_length):
    Xs, ys, Xt = same_length
    GridSearchCV(recorder(), {"alpha": [1]}, cv=3).fit(Xs, ys, X_target=Xt[:45])
    assert all(t == 45 for _, t, _ in recorder.fits)


def test_cross_validate_with_domain_and_target_scorer(recorder, same_length):
    Xs, ys, Xt = same_length
    res = cross_validate(TargetClustering(KMeans(3, n_init=2), random_state=0), Xs, ys,
                         params={"X_target": Domain(Xt)}, cv=3,
                         scoring=make_target_scorer(Xt, np.repeat([0, 1, 2], 20), "nmi"))
    assert len(res["test_score"]) == 3
    cross_validate(recorder(), Xs, ys, params={"X_target": Domain(Xt)}, cv=3)
    assert all(t == 60 for _, t, _ in recorder.fits)


@pytest.mark.parametrize("routing", [False, True])
def test_metadata_routing_on_and_off(recorder, same_length, routing):
    Xs, ys, Xt = same_length
    before = sklearn.get_config()["enable_metadata_routing"]
    with sklearn.config_context(enable_metadata_routing=routing):
        est = recorder()
        if routing:
            est.set_fit_request(X_target=True, y_target=True)
        GridSearchCV(est, {"alpha": [1, 2]}, cv=2).fit(Xs, ys, X_target=Domain(Xt))
        cross_validate(est, Xs, ys, params={"X_target": Domain(Xt)}, cv=2)
    assert all(t == 60 for _, t, _ in recorder.fits)
    assert sklearn.get_config()["enable_metadata_routing"] == before


def test_import_does_not_change_sklearn_config():
    import subprocess
    import sys

    code = ("import sklearn; before = sklearn.get_config(); import skhda, skhda.baselines, "
            "skhda.pipeline, skhda.model_selection, skhda.datasets; "
            "assert sklearn.get_config() == before; print('same')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "same"


def test_target_scorers(digits):
    Xs, ys, Xt, yt = digits
    est = TargetClustering(KMeans(5, n_init=4, random_state=0)).fit(Xs, ys, Xt)
    for metric in ["cluster_accuracy", "nmi", "ari"]:
        s = make_target_scorer(Xt, yt, metric)(est, Xs, ys)
        assert 0.3 < s <= 1.0
    assert -1 <= make_target_scorer(Xt, metric="silhouette")(est) <= 1
    src = SourceOnly(epochs=3, random_state=0, device="cpu").fit(Xs, ys, Xt)
    assert make_target_scorer(Xs, ys, "accuracy")(src) > 0.5
    assert make_target_scorer(Xt, metric="neg_entropy")(src) <= 0
    assert make_target_scorer(Domain(Xt, yt), metric="ari")(est) > 0.3
    with pytest.raises(ValueError, match="needs y_target_val"):
        make_target_scorer(Xt, metric="nmi")
    with pytest.raises(ValueError, match="metric"):
        make_target_scorer(Xt, yt, metric="nope")
    with pytest.raises(ValueError, match="y_target_val"):
        make_target_scorer(Xt, yt[:-1])
    partial = np.where(np.arange(len(yt)) % 2 == 0, yt, -1)   # -1 rows are left out
    assert make_target_scorer(Xt, partial, "nmi")(est) == pytest.approx(
        make_target_scorer(Xt[::2], yt[::2], "nmi")(est))


def test_da_pipeline_joint_and_per_domain(digits):
    Xs, ys, Xt, yt = digits
    pipe = make_da_pipeline(StandardScaler(), PCA(8, random_state=0),
                            TargetClustering(random_state=0))
    assert isinstance(pipe, DAPipeline)
    labels = pipe.fit_predict(Xs, ys, Xt)
    assert labels.shape == (len(Xt),)
    scaler = pipe.domain_steps_["source"][0]
    assert scaler is pipe.domain_steps_["target"][0]        # joint
    np.testing.assert_allclose(scaler.mean_, np.vstack([Xs, Xt]).mean(0))
    assert pipe.transform(Xt).shape[1] == 8
    assert pipe.get_params()["pca__n_components"] == 8
    pipe.set_params(pca__n_components=5, per_domain=True).fit(Xs, ys, Xt)
    s, t = pipe.domain_steps_["source"][0], pipe.domain_steps_["target"][0]
    assert s is not t
    np.testing.assert_allclose(t.mean_, Xt.mean(0))
    # feature counts differ: per domain automatically
    het = make_da_pipeline(StandardScaler(), TargetClustering(random_state=0))
    het.fit(Xs, ys, Xt[:, :16])
    assert het.predict(Xt[:, :16]).shape == (len(Xt),)
    assert het.domain_steps_["target"][0].n_features_in_ == 16
    assert het.fit_transform(Xs, ys, Xt[:, :16]).shape == (len(Xt), 16)
    assert het[:1].per_domain == het.per_domain


def test_grid_search_over_a_da_pipeline(digits):
    Xs, ys, Xt, yt = digits
    pipe = make_da_pipeline(PCA(random_state=0), TargetClustering(KMeans(5, n_init=2),
                                                                  random_state=0))
    search = GridSearchCV(pipe, {"pca__n_components": [4, 16]}, cv=2,
                          scoring=make_target_scorer(Xt[:40], yt[:40]))
    search.fit(Xs, ys, X_target=Domain(Xt))
    assert search.best_params_["pca__n_components"] in (4, 16)
    assert search.predict(Xt).shape == (len(Xt),)


def test_search_under_a_local_dask_cluster(same_length):
    distributed = pytest.importorskip("distributed")
    Xs, ys, Xt = same_length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster), joblib.parallel_backend("dask"):
            search = GridSearchCV(TargetClustering(random_state=0),
                                  {"clusterer": [KMeans(2, n_init=2), KMeans(3, n_init=2)]},
                                  cv=2, n_jobs=2,
                                  scoring=make_target_scorer(Xt, metric="silhouette"))
            search.fit(Xs, ys, X_target=Domain(Xt))
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_domain_repr_and_unslicability():
    from sklearn.utils.validation import _is_arraylike, _num_samples  # noqa: F401

    d = Domain(np.zeros((3, 2)))
    assert not _is_arraylike(d)
    assert "Domain(" in repr(d)
    assert not isinstance(d, BaseEstimator)
