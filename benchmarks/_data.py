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


_OFFICE_DOMAINS = {"A": "amazon", "C": "caltech", "D": "dslr", "W": "webcam"}


def load_office_caltech(domain, features):
    """Office-Caltech10 rows of one domain ("A", "C", "D", "W"): ``X`` float32, ``y`` 0-9.

    ``features``: "surf" (800-d raw SURF bag-of-words counts, all four domains)
    or "decaf6" (4096-d DeCAF6 activations, D and W only; same images and
    row order as the SURF rows of D and W).
    """
    name = _OFFICE_DOMAINS[domain]
    file = {"surf": "office_caltech10_surf.npz", "decaf6": "office_caltech10_decaf6_dw.npz"}
    d = np.load(data_dir() / file[features])
    rows = d["domain"] == name
    return d["X"][rows].astype(np.float32), d["y"][rows]


def office_caltech_split(domain, split):
    """The labelled target rows of one of the 20 stored random splits (3 per class).

    Within-domain row indices from ``office_caltech10_decaf6_dw.npz``
    (``{dslr,webcam}_target_idx``), for D or W.
    """
    d = np.load(data_dir() / "office_caltech10_decaf6_dw.npz")
    return d[f"{_OFFICE_DOMAINS[domain]}_target_idx"][split]


def office_caltech_task(task, split):
    """One HDA task of SSAN's protocol: ``(Xs, ys, Xt, yt_partial, yt, labelled)``.

    ``task`` is "<src>-><tgt>" with "surf->decaf6" features by default, or
    "<src>-><tgt>:decaf6->surf". All source rows; the target rows of split
    ``split`` in ``labelled`` carry their label in ``yt_partial``, all others -1.
    """
    pair, _, feats = task.partition(":")
    src, tgt = pair.split("->")
    fs, ft = (feats or "surf->decaf6").split("->")
    Xs, ys = load_office_caltech(src, fs)
    Xt, yt = load_office_caltech(tgt, ft)
    labelled = np.zeros(len(yt), dtype=bool)
    labelled[office_caltech_split(tgt, split)] = True
    return Xs, ys, Xt, np.where(labelled, yt, -1), yt, labelled
