"""GPU code paths: every estimator fits on CUDA and hands back CPU numpy results.

Skipped on machines without CUDA (CI); run on a GPU machine with
``python -m pytest tests/test_gpu.py`` (``SKHDA_TEST_DEVICE=cuda`` also runs the
shared contract tests there).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from skhda._training import DomainBatchIterator, DomainDataset

from .conftest import make_estimator, public_estimators

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


DEEP = [cls for cls in public_estimators() if "device" in cls().get_params()]


@cuda
@pytest.mark.parametrize("cls", DEEP, ids=lambda c: c.__name__)
def test_fits_on_cuda_and_returns_numpy(cls, digits):
    Xs, ys, Xt, yt = digits
    est = make_estimator(cls, device="cuda")
    labels = est.fit(Xs, ys, Xt).predict(Xt)
    assert isinstance(labels, np.ndarray) and labels.shape == (len(Xt),)
    net = getattr(est, "net_", None)
    if net is not None:
        assert str(net.device).startswith("cuda")
        assert next(net.module_.parameters()).is_cuda
    # a pickled GPU model predicts the same after loading (on this machine: on the GPU)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(Xt), labels)


@cuda
def test_device_auto_picks_cuda(digits):
    from skhda import CKM

    Xs, ys, Xt, yt = digits
    est = CKM(5, pretrain_epochs=1, epochs=1, embedding_dim=4, random_state=0).fit(Xs, ys, Xt)
    assert str(est.net_.device).startswith("cuda")


@cuda
def test_batch_iterator_gathers_on_the_device():
    dataset = DomainDataset(source={"X": np.zeros((10, 3), np.float32),
                                    "y": np.arange(10)},
                            target={"X": np.ones((25, 3), np.float32)}).to("cuda")
    batches = [b for b, _ in DomainBatchIterator(dataset, batch_size=4, seed=0)]
    assert batches and all(b.source.X.is_cuda and b.target.X.is_cuda for b in batches)
    seen = torch.cat([b.target.X for b in batches])
    assert len(seen) == 25                       # the longest part sets the pass


@cuda
@pytest.mark.parametrize("name", ["TDCM", "CCN", "CCNPlus"])
def test_contrastive_options_on_cuda(name, tiny_images):
    """The image-only contrastive term (views drawn on the device) trains on CUDA."""
    from skhda import CCN, TDCM, CCNPlus, SimilarityNetwork

    X, y = tiny_images
    common = {"epochs": 1, "batch_size": 20, "device": "cuda", "random_state": 0}
    if name == "TDCM":
        est = TDCM(4, pretrain_epochs=1, lambda_contrastive=1.0, lambda_consistency=1.0,
                   embedding_dim=4, **common)
    else:
        G = SimilarityNetwork(classes_per_batch=4, samples_per_class=4, embedding_dim=4,
                              hidden_dim=8, epochs=1, device="cuda", random_state=0).fit(X, y)
        cls = CCN if name == "CCN" else CCNPlus
        args = (4,) if name == "CCN" else ()
        est = cls(*args, loss="mcl", similarity=G, lambda_contrastive=1.0, embedding_dim=8,
                  **common)
    labels = est.fit(X, y, X).predict(X)
    assert isinstance(labels, np.ndarray) and labels.shape == (60,)
    assert "train_contrastive" in est.history_[-1]
    assert next(est.net_.module_.parameters()).is_cuda


@cuda
def test_cuda_device_forms_and_reliability_checks_on_the_gpu():
    from skhda import CKM
    from skhda._base import resolve_device
    from skhda.ccn import SimilarityNetwork

    assert resolve_device(torch.device("cuda")) == "cuda"
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
    rng = np.random.default_rng(0)
    Xs, ys, Xt = rng.normal(size=(120, 6)), np.arange(120) % 3, rng.normal(size=(257, 6))
    # a one-row remainder and a non-finite loss, on the GPU
    CKM(n_clusters=3, pretrain_epochs=1, epochs=1, device="cuda").fit(Xs, ys, Xt)
    with pytest.raises(FloatingPointError, match="stage 'pretrain'"):
        CKM(n_clusters=3, pretrain_epochs=1, epochs=1, device="cuda").fit(Xs * 1e30, ys,
                                                                          Xt * 1e30)
    G = SimilarityNetwork(classes_per_batch=3, epochs=1, device="cuda").fit(Xs, ys)
    S = G.similarity_matrix(Xt)
    assert S.shape == (257, 257) and np.isfinite(S).all()
