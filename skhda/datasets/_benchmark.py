"""The benchmark data sets, read from ``.npz`` files the user holds locally.

The benchmark tasks of ``python -m skhda benchmark`` read five files from one
folder (``data_dir``, default ``$SKHDA_DATA_DIR``). Nothing here downloads
anything: a missing file raises a :class:`FileNotFoundError` that names the
file, the folder searched and how to build the file from the original
distribution (:data:`BENCHMARK_FILES`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._local import PathLike, load_npz_dataset

__all__ = [
    "BENCHMARK_FILES",
    "benchmark_data_dir",
    "benchmark_file",
    "load_mnist",
    "load_office_caltech",
    "load_office_caltech_task",
    "load_omniglot",
    "load_usps",
    "resize_images",
]

#: file name -> what it holds and how to build it (``np.savez_compressed`` archives).
BENCHMARK_FILES = {
    "usps.npz": (
        "USPS digits (Hull 1994), all 9298 rows: X (9298, 16, 16) uint8 0-255, y 0-9, "
        "split 'train' (7291) / 'test' (2007). Build it from the Kaggle 'usps.h5' with "
        "skhda.datasets.load_usps_h5(path, 'train') and (path, 'test'): X = round(255 * x)."
    ),
    "mnist_test.npz": (
        "MNIST test set (LeCun et al. 1998): X (10000, 28, 28) uint8, y 0-9. Build it from "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz with "
        "skhda.datasets.load_mnist_idx."
    ),
    "omniglot_background_small.npz": (
        "Omniglot (Lake et al. 2015) 'images_background_small1' + 'small2' (8 alphabets, 242 "
        "characters x 20 drawers): X (4840, 28, 28) uint8 with ink = 255 (box-downsampled from "
        "105 x 105), y the character 0-241, alphabet 0-7 (Greek and Latin de-duplicated)."
    ),
    "office_caltech10_surf.npz": (
        "Office-Caltech10 SURF bag-of-words (800 bins) of the GFK package (Gong et al. 2012): "
        "X (2533, 800) float32 raw counts, y 0-9, domain 'amazon' / 'caltech' / 'dslr' / "
        "'webcam'. Build it from {amazon,caltech,dslr,webcam}_SURF_L10.mat with "
        "skhda.datasets.load_office_caltech_mat."
    ),
    "office_caltech10_decaf6_dw.npz": (
        "Office-Caltech10 DeCAF6 features (4096-d, Donahue et al. 2014) of DSLR and Webcam, in "
        "the row order of the SURF file: X (452, 4096), y, domain, and the 20 random splits of "
        "the usual protocol as {dslr,webcam}_target_idx (20, 30): within-domain indices of the "
        "3 labelled target rows per class."
    ),
}


def benchmark_data_dir(data_dir: PathLike | None = None) -> Path:
    """The folder the benchmark files are read from.

    Parameters
    ----------
    data_dir : str, path-like or None, default=None
        The folder; None means ``$SKHDA_DATA_DIR``.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    ValueError
        If ``data_dir`` is None and ``$SKHDA_DATA_DIR`` is not set.

    Examples
    --------
    >>> from skhda.datasets import benchmark_data_dir
    >>> benchmark_data_dir("/data/skhda").name
    'skhda'
    """
    if data_dir is None:
        env = os.environ.get("SKHDA_DATA_DIR")
        if not env:
            raise ValueError(
                "data_dir: no folder given and $SKHDA_DATA_DIR is not set; pass the folder "
                "that holds the benchmark .npz files (python -m skhda benchmark --data-dir DIR)."
            )
        data_dir = env
    return Path(data_dir)


def benchmark_file(name: str, data_dir: PathLike | None = None) -> Path:
    """The path of one benchmark file, checked to exist.

    Parameters
    ----------
    name : str
        A key of :data:`BENCHMARK_FILES`, e.g. ``"usps.npz"``.
    data_dir : str, path-like or None, default=None
        See :func:`benchmark_data_dir`.

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the file is not in ``data_dir``; the message says what the file
        holds and how to build it.

    Examples
    --------
    >>> from skhda.datasets import benchmark_file
    >>> benchmark_file("usps.npz", "/nowhere")
    Traceback (most recent call last):
    ...
    FileNotFoundError: usps.npz: not found in /nowhere ...
    """
    if name not in BENCHMARK_FILES:
        raise ValueError(f"name: unknown benchmark file {name!r}; "
                         f"known: {sorted(BENCHMARK_FILES)}.")
    folder = benchmark_data_dir(data_dir)
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}: not found in {folder} (set --data-dir or $SKHDA_DATA_DIR to the folder "
            f"that holds it). It is {BENCHMARK_FILES[name]} Nothing is downloaded."
        )
    return path


def resize_images(X, size: int = 16, mode: str = "bilinear") -> np.ndarray:
    """Resize images ``(n, h, w)`` to ``(n, size, size)`` with torch's interpolation.

    Parameters
    ----------
    X : array-like of shape (n, h, w)
        Images, e.g. in [0, 1].
    size : int, default=16
        Output height and width.
    mode : {"bilinear", "area"}, default="bilinear"
        Bilinear interpolation with antialiasing, or box averaging.

    Returns
    -------
    X_resized : ndarray of shape (n, size, size), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from skhda.datasets import resize_images
    >>> resize_images(np.ones((2, 28, 28)), 16).shape
    (2, 16, 16)
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(X, dtype=np.float32))[:, None]
    kw = {"antialias": True, "align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x, size=(size, size), mode=mode, **kw)[:, 0].numpy()


def load_usps(data_dir: PathLike | None = None, split: str = "all"):
    """USPS from ``usps.npz``: images in [0, 1] and digit labels.

    Parameters
    ----------
    data_dir : str, path-like or None, default=None
        See :func:`benchmark_data_dir`.
    split : {"all", "train", "test"}, default="all"
        All 9298 rows, or the standard split (7291 / 2007).

    Returns
    -------
    X : ndarray of shape (n, 16, 16), dtype float32
    y : ndarray of shape (n,), dtype int64

    Examples
    --------
    >>> from skhda.datasets import load_usps
    >>> X, y = load_usps("/path/to/data")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (9298, 16, 16)
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}.")
    d = load_npz_dataset(benchmark_file("usps.npz", data_dir))
    rows = slice(None) if split == "all" else d.split == split
    return d.X[rows].astype(np.float32) / 255, d.y[rows].astype(np.int64)


def load_mnist(data_dir: PathLike | None = None, size: int = 28, mode: str = "bilinear",
               crop: int = 0):
    """The MNIST test set from ``mnist_test.npz``, optionally cropped and resized.

    Parameters
    ----------
    data_dir : str, path-like or None, default=None
        See :func:`benchmark_data_dir`.
    size : int, default=28
        Output height and width (see :func:`resize_images`).
    mode : {"bilinear", "area"}, default="bilinear"
        Interpolation of the resizing.
    crop : int, default=0
        Pixels cut from every border first (4 keeps the 20 x 20 box the digits
        were size-normalised into).

    Returns
    -------
    X : ndarray of shape (10000, size, size), dtype float32, in [0, 1]
    y : ndarray of shape (10000,), dtype int64

    Examples
    --------
    >>> from skhda.datasets import load_mnist
    >>> X, y = load_mnist("/path/to/data", size=16)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 16, 16)
    """
    d = load_npz_dataset(benchmark_file("mnist_test.npz", data_dir))
    X = d.X.astype(np.float32) / 255
    if crop:
        X = X[:, crop:-crop, crop:-crop]
    if X.shape[-1] != size:
        X = resize_images(X, size, mode)
    return X, d.y.astype(np.int64)


def load_omniglot(data_dir: PathLike | None = None):
    """Omniglot background-small from ``omniglot_background_small.npz``.

    Parameters
    ----------
    data_dir : str, path-like or None, default=None
        See :func:`benchmark_data_dir`.

    Returns
    -------
    X : ndarray of shape (4840, 28, 28), dtype float32, ink = 1
    y : ndarray of shape (4840,), the character 0-241
    alphabet : ndarray of shape (4840,), the alphabet 0-7

    Examples
    --------
    >>> from skhda.datasets import load_omniglot
    >>> X, y, alphabet = load_omniglot("/path/to/data")  # doctest: +SKIP
    """
    d = load_npz_dataset(benchmark_file("omniglot_background_small.npz", data_dir))
    return d.X.astype(np.float32) / 255, d.y.astype(np.int64), d.alphabet.astype(np.int64)


_OFFICE_DOMAINS = {"A": "amazon", "C": "caltech", "D": "dslr", "W": "webcam"}
_OFFICE_FILES = {"surf": "office_caltech10_surf.npz", "decaf6": "office_caltech10_decaf6_dw.npz"}


def load_office_caltech(domain: str, features: str = "surf", data_dir: PathLike | None = None):
    """The Office-Caltech10 rows of one domain.

    Parameters
    ----------
    domain : {"A", "C", "D", "W"}
        Amazon, Caltech, DSLR or Webcam.
    features : {"surf", "decaf6"}, default="surf"
        800-d raw SURF bag-of-words counts (all four domains) or 4096-d DeCAF6
        activations (D and W only; same images and row order as their SURF rows).
    data_dir : str, path-like or None, default=None
        See :func:`benchmark_data_dir`.

    Returns
    -------
    X : ndarray of shape (n, n_features), dtype float32
    y : ndarray of shape (n,), the class 0-9

    Examples
    --------
    >>> from skhda.datasets import load_office_caltech
    >>> X, y = load_office_caltech("W", "decaf6", "/path/to/data")  # doctest: +SKIP
    """
    if domain not in _OFFICE_DOMAINS:
        raise ValueError(f"domain must be one of {sorted(_OFFICE_DOMAINS)}, got {domain!r}.")
    if features not in _OFFICE_FILES:
        raise ValueError(f"features must be 'surf' or 'decaf6', got {features!r}.")
    if features == "decaf6" and domain not in ("D", "W"):
        raise ValueError(f"domain: DeCAF6 features are stored for D and W only, got {domain!r}.")
    d = load_npz_dataset(benchmark_file(_OFFICE_FILES[features], data_dir))
    rows = d.domain == _OFFICE_DOMAINS[domain]
    return d.X[rows].astype(np.float32), d.y[rows].astype(np.int64)


def load_office_caltech_task(task: str, split: int, data_dir: PathLike | None = None):
    """One heterogeneous task of SSAN's Office-Caltech protocol.

    Parameters
    ----------
    task : str
        ``"<src>-><tgt>"`` (SURF source -> DeCAF6 target, e.g. ``"A->W"``), or
        ``"<src>-><tgt>:<f_s>-><f_t>"`` with features ``surf`` / ``decaf6``.
    split : int
        One of the 20 stored random splits (0-19): which 3 target rows per
        class are labelled.
    data_dir : str, path-like or None, default=None
        See :func:`benchmark_data_dir`.

    Returns
    -------
    X_source, y_source, X_target : ndarray
        All source rows with their labels; all target rows.
    y_target_partial : ndarray of shape (n_target,)
        The labels of the split's labelled target rows, -1 elsewhere.
    y_target : ndarray of shape (n_target,)
        Every target label (for scoring only).
    labelled : ndarray of shape (n_target,), dtype bool

    Examples
    --------
    >>> from skhda.datasets import load_office_caltech_task
    >>> Xs, ys, Xt, yt_partial, yt, labelled = load_office_caltech_task(
    ...     "A->W", 0, "/path/to/data")  # doctest: +SKIP
    """
    pair, _, feats = task.partition(":")
    try:
        src, tgt = pair.split("->")
        fs, ft = (feats or "surf->decaf6").split("->")
    except ValueError:
        raise ValueError(
            f"task must look like 'A->W' or 'A->W:surf->decaf6', got {task!r}.") from None
    Xs, ys = load_office_caltech(src, fs, data_dir)
    Xt, yt = load_office_caltech(tgt, ft, data_dir)
    if tgt not in ("D", "W"):
        raise ValueError(f"task: the stored splits are for targets D and W, got {tgt!r}.")
    splits = load_npz_dataset(benchmark_file(_OFFICE_FILES["decaf6"], data_dir))
    labelled = np.zeros(len(yt), dtype=bool)
    labelled[splits[f"{_OFFICE_DOMAINS[tgt]}_target_idx"][split]] = True
    return Xs, ys, Xt, np.where(labelled, yt, -1), yt, labelled
