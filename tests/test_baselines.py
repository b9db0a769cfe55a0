"""The baselines learn, and the deep-estimator options behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering
from skorch.callbacks import EarlyStopping

from skhda.baselines import (
    SourceFeatureClustering,
    SourceOnly,
    SourceTargetClustering,
    TargetClustering,
)
from skhda.metrics import cluster_accuracy
from skhda.nn import MLPEncoder


def test_target_clustering_equals_the_clusterer(digits):
    Xs, ys, Xt, yt = digits
    km = KMeans(5, n_init=4, random_state=0)
    est = TargetClustering(km).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(est.labels_, KMeans(5, n_init=4, random_state=0)
                                  .fit_predict(Xt))
    assert est.cluster_centers_.shape == (5, 64)
    assert cluster_accuracy(yt, est.labels_) > 0.7
    assert km.get_params() == KMeans(5, n_init=4, random_state=0).get_params()  # not fitted
    assert not hasattr(km, "labels_")


@pytest.mark.parametrize("clusterer", [
    SpectralClustering(5, affinity="nearest_neighbors", random_state=0),
    AgglomerativeClustering(5)])
def test_target_clustering_without_predict_uses_nearest_fitted_row(digits, clusterer):
    Xs, ys, Xt, yt = digits
    est = TargetClustering(clusterer).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(est.predict(Xt), est.labels_)   # each row is its own nn
    assert est.predict(Xt[:5] + 1e-3).shape == (5,)


def test_target_clustering_default_uses_source_class_count(digits):
    Xs, ys, Xt, yt = digits
    assert len(np.unique(TargetClustering(random_state=0).fit_predict(Xs, ys, Xt))) == 5


def test_source_only_learns_on_shifted_digits(digits_shared):
    Xs, ys, Xt, yt = digits_shared
    est = SourceOnly(epochs=40, lr=3e-3, random_state=0, device="cpu").fit(Xs, ys, Xt)
    assert est.score(Xs, ys, domain="source") > 0.9
    assert est.score(Xt, yt) > 0.3            # chance is 0.1
    np.testing.assert_array_equal(est.classes_, np.arange(10))
    # a few labelled target rows help
    y_few = np.where(np.arange(len(yt)) % 4 == 0, yt, -1)
    few = SourceOnly(epochs=40, lr=3e-3, random_state=0, device="cpu").fit(Xs, ys, Xt, y_few)
    unl = y_few == -1
    assert few.score(Xt[unl], yt[unl]) > est.score(Xt[unl], yt[unl])


def test_source_target_clustering_learns(digits):
    Xs, ys, Xt, yt = digits
    est = SourceTargetClustering(5, epochs=40, random_state=0, device="cpu")
    labels = est.fit_predict(Xs, None, Xt)        # source labels are not needed
    assert cluster_accuracy(yt, labels) > 0.5     # chance is about 0.2
    assert {"train_rec_source", "train_rec_target"} <= set(est.history_[-1])
    assert est.transform(Xt).shape == (len(Xt), 10)


def test_source_feature_clustering_learns(digits):
    Xs, ys, Xt, yt = digits
    est = SourceFeatureClustering(epochs=40, random_state=0, device="cpu").fit(Xs, ys, Xt)
    assert cluster_accuracy(yt, est.labels_) > 0.4
    with pytest.raises(ValueError, match="same features"):
        SourceFeatureClustering(epochs=1).fit(Xs, ys, Xt[:, :16])


def test_user_encoder_callbacks_and_verbose(digits, capsys):
    Xs, ys, Xt, yt = digits
    enc = MLPEncoder(64, 6, hidden_dims=(32,))
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    est = SourceTargetClustering(5, encoder=enc, embedding_dim=6, epochs=30, lr=1e-12,
                                 callbacks=[EarlyStopping(monitor="train_loss", patience=2)],
                                 verbose=1, random_state=0, device="cpu").fit(Xs, ys, Xt)
    out = capsys.readouterr().out
    assert "stage 'train'" in out and "train_loss" in out
    assert len(est.history_) < 30                       # early stopping took effect
    assert est.encoder is enc                           # parameter left unchanged
    assert est.net_.module_.encoder["source"] is not enc  # a copy was trained
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())
    trained = dict(est.net_.module_.encoder["source"].named_parameters())
    assert all(torch.allclose(trained[k], before[k]) for k in trained)  # from the given weights


def test_user_encoder_per_domain_and_errors(digits):
    Xs, ys, Xt, yt = digits
    enc = {"source": MLPEncoder(64, 4), "target": MLPEncoder(16, 4)}
    y_few = np.where(np.arange(len(yt)) % 3 == 0, yt, -1)
    est = SourceOnly(encoder=enc, embedding_dim=4, epochs=2, device="cpu")
    with pytest.raises(ValueError, match="not source classes"):
        est.fit(Xs, ys, Xt[:, :16], y_few)       # disjoint labels are not source classes
    with pytest.raises(ValueError, match="encoder"):
        SourceTargetClustering(5, encoder=MLPEncoder(64, 4), embedding_dim=4,
                               epochs=1).fit(Xs, ys, Xt[:, :16])
    with pytest.raises(TypeError, match="encoder"):
        SourceTargetClustering(5, encoder="mlp", epochs=1).fit(Xs, ys, Xt)


def test_heterogeneous_images_with_input_shape_dict(digits):
    Xs, ys, Xt, yt = digits
    Xt4 = Xt.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    est = SourceTargetClustering(5, epochs=2, input_shape={"source": (8, 8), "target": (4, 4)},
                                 random_state=0, device="cpu").fit(Xs, None, Xt4)
    assert est.input_shapes_ == {"source": (1, 8, 8), "target": (1, 4, 4)}
    assert est.predict(Xt4).shape == (len(Xt4),)


def test_model_saved_with_a_cuda_device_loads_on_cpu(digits):
    """A net whose device is CUDA unpickles on a CPU-only machine (skorch maps it)."""
    import pickle
    import warnings

    Xs, ys, Xt, yt = digits
    est = SourceTargetClustering(5, epochs=2, random_state=0, device="cpu").fit(Xs, ys, Xt)
    labels = est.predict(Xt)
    est.net_.device = "cuda"          # as if fitted on a GPU (tensors are on the CPU here)
    blob = pickle.dumps(est)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the mapping is exercised on CPU-only machines")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = pickle.loads(blob)
    assert str(restored.net_.device) == "cpu"
    np.testing.assert_array_equal(restored.predict(Xt), labels)


def test_errors_come_before_training(digits):
    from sklearn.exceptions import NotFittedError
    from skorch.callbacks import Checkpoint

    Xs, ys, Xt, yt = digits
    with pytest.raises(ValueError, match="X_target has 3 rows"):
        TargetClustering().fit(Xs, ys, Xt[:3])            # K defaults to 5 source classes
    with pytest.raises(ValueError, match="X_target has 3 rows"):
        SourceTargetClustering(epochs=1).fit(Xs, ys, Xt[:3])
    with pytest.raises(ValueError, match="clusterer="):
        TargetClustering().fit(Xs, None, Xt)
    with pytest.raises(TypeError, match="clusterer"):
        SourceFeatureClustering(clusterer="kmeans", epochs=1).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="embedding_dim"):
        SourceTargetClustering(5, encoder=MLPEncoder(64, 6), epochs=1).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="encoder cannot encode"):
        SourceOnly(encoder=MLPEncoder(32, 10), epochs=1).fit(Xs, ys, Xt)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            SourceOnly(device="cuda", epochs=1).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="monitor the training loss"):
        SourceOnly(epochs=1, callbacks=[EarlyStopping()]).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="monitor the training loss"):
        SourceOnly(epochs=1, callbacks=[Checkpoint()]).fit(Xs, ys, Xt)
    est = SourceOnly(lr=0, epochs=1)
    with pytest.raises(ValueError, match="lr"):
        est.fit(Xs, ys, Xt)
    with pytest.raises(NotFittedError):
        est.predict(Xt)


def test_refit_leaves_no_stale_attributes(digits):
    Xs, ys, Xt, yt = digits
    est = TargetClustering(KMeans(5, n_init=2, random_state=0)).fit(Xs, ys, Xt)
    assert hasattr(est, "cluster_centers_")
    est.set_params(clusterer=AgglomerativeClustering(3)).fit(Xs, ys, Xt)
    assert not hasattr(est, "cluster_centers_")


def test_manifold_gmm_beats_kmeans_on_the_digits_target(digits):
    from sklearn.cluster import KMeans

    from skhda.baselines import ManifoldGMM
    from skhda.metrics import cluster_accuracy

    Xs, ys, Xt, yt = digits
    labels = ManifoldGMM(5, random_state=0).fit(Xt).labels_
    kmeans = KMeans(5, n_init=10, random_state=0).fit_predict(Xt)
    assert cluster_accuracy(yt, labels) > cluster_accuracy(yt, kmeans) + 0.02


def test_n2d_ignores_the_source_and_learns_target_clusters(digits):
    from skhda.baselines import N2DClustering
    from skhda.metrics import cluster_accuracy

    Xs, ys, Xt, yt = digits
    est = N2DClustering(5, epochs=15, random_state=0, device="cpu")
    labels = est.fit_predict(Xs, ys, Xt)
    assert cluster_accuracy(yt, labels) > 0.5                # chance: about 0.2
    other = N2DClustering(5, epochs=15, random_state=0, device="cpu")
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(other.fit_predict(rng.random(Xs.shape), ys, Xt), labels)
    assert est.predict(Xt[:7]).shape == (7,)
