"""Shared fixtures: small data made once per session."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest
import torch

import skhda
import skhda.baselines
from skhda._base import BaseDAEstimator

# tiny models train fastest on one thread, and CI machines have two cores
torch.set_num_threads(1)

#: device of the shared contract tests; ``SKHDA_TEST_DEVICE=cuda`` runs them on a GPU
TEST_DEVICE = os.environ.get("SKHDA_TEST_DEVICE", "cpu")


def public_estimators():
    """Every public estimator class of skhda (top level and baselines)."""
    found = {}
    for mod in (skhda, skhda.baselines):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj) and issubclass(obj, BaseDAEstimator):
                found[name] = obj
    return [found[k] for k in sorted(found)]


def fast_params(cls):
    """Parameters that make a fit take a fraction of a second."""
    params = {}
    names = cls().get_params()
    for name, default in names.items():
        # an optional stage (default 0) stays off; one that "auto" resolves by the input
        # (TDCM's image-only pretraining) stays "auto"
        if name.endswith("epochs") and default and (name == "epochs" or default != "auto"):
            params[name] = 2
    for name, value in {"random_state": 0, "embedding_dim": 4, "hidden_dims": (16,),
                        "batch_size": 64, "device": TEST_DEVICE}.items():
        if name in names:
            params[name] = value
    return params


def make_estimator(cls, **extra):
    return cls(**{**fast_params(cls), **extra})


@pytest.fixture(scope="session")
def digits():
    """Disjoint-label digits task (source 0-4, target 5-9), scaled to [0, 1], subsampled."""
    Xs, ys, Xt, yt = skhda.datasets.load_digits_transfer()
    return Xs[::3] / 16, ys[::3], Xt[::3] / 16, yt[::3]


@pytest.fixture(scope="session")
def digits_shared():
    Xs, ys, Xt, yt = skhda.datasets.load_digits_transfer("shared")
    return Xs[::3] / 16, ys[::3], Xt[::3] / 16, yt[::3]


def task_for(cls, digits, digits_shared):
    return digits_shared if capabilities(cls).label_space == "shared" else digits


def capabilities(cls):
    """The :class:`~skhda._base.Capabilities` of ``cls`` at its test parameters."""
    return make_estimator(cls)._capabilities()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_images():
    """60 random 8x8 images in 4 classes: enough for the image-only options to run."""
    X = np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)
    return X, np.arange(60) % 4


@pytest.fixture
def trained_stages(monkeypatch):
    """What a fit trains, for the ``memory`` tests: ``(stages, maps)``.

    ``stages`` gets the name of every training stage that runs (a restored one
    does not), ``maps`` a 1 for every t-SNE map computed; clear both between fits.
    """
    from sklearn.manifold import TSNE

    stages, maps = [], []
    net_fit, tsne_fit = skhda.DomainNet.fit, TSNE.fit_transform
    monkeypatch.setattr(skhda.DomainNet, "fit",
                        lambda net, *a, **k: stages.append(net.stage) or net_fit(net, *a, **k))
    monkeypatch.setattr(TSNE, "fit_transform",
                        lambda tsne, *a, **k: maps.append(1) or tsne_fit(tsne, *a, **k))
    return stages, maps
