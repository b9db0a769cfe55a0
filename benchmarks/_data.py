"""Benchmark data from ``../shared/data`` (or ``$SKHDA_DATA_DIR``), loaded one way."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def data_dir():
    """``$SKHDA_DATA_DIR``, else ``shared/data`` beside the repository."""
    env = os.environ.get("SKHDA_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def resize(X, size=16, mode="bilinear"):
    """Images ``(n, h, w)`` in [0, 1] to ``(n, size, size)`` (antialiased bilinear, or "area")."""
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))[:, None]
    kw = {"antialias": True, "align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x, size=(size, size), mode=mode, **kw)[:, 0].numpy()


def load_usps():
    """USPS, all 9298 rows: ``X`` (n, 16, 16) float32 in [0, 1], ``y`` 0-9."""
    d = np.load(data_dir() / "usps.npz")
    return d["X"].astype(np.float32) / 255, d["y"]


def load_usps_split():
    """The standard USPS split of the rows of :func:`load_usps`: "train" (7291) or "test"."""
    return np.load(data_dir() / "usps.npz")["split"]


def load_mnist(size=16, mode="bilinear", crop=0):
    """MNIST test, 10000 rows, resized to ``size``: ``X`` (n, size, size) in [0, 1], ``y``.

    ``crop``: pixels cut from every border first (4 keeps the 20x20 box the
    digits were size-normalised into).
    """
    d = np.load(data_dir() / "mnist_test.npz")
    X = d["X"].astype(np.float32) / 255
    if crop:
        X = X[:, crop:-crop, crop:-crop]
    return (X if X.shape[-1] == size else resize(X, size, mode)), d["y"]


def load_omniglot():
    """Omniglot background-small: ``X`` (n, 28, 28) in [0, 1], character ``y``, ``alphabet``."""
    d = np.load(data_dir() / "omniglot_background_small.npz")
    return d["X"].astype(np.float32) / 255, d["y"], d["alphabet"]
