"""Loaders for benchmark files that the user already holds locally.

Nothing here downloads anything: every loader takes a path.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "load_mnist_idx",
    "load_usps_h5",
    "load_office_caltech_mat",
    "load_npz_dataset",
    "load_benchmark_pair",
]

PathLike = str | os.PathLike

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FEATURE_KEYS = ("fts", "feas", "features", "feature", "x", "data")
_LABEL_KEYS = ("labels", "label", "gnd", "y", "target", "targets")


def _check_file(path: PathLike, name: str) -> Path:
    """Return ``path`` as a Path, raising FileNotFoundError naming the argument."""
    try:
        p = Path(path)
    except TypeError:
        raise TypeError(
            f"{name} must be a str or os.PathLike, got {type(path).__name__}."
        ) from None
    if not p.is_file():
        raise FileNotFoundError(f"{name}: no such file: {str(p)!r}.")
    return p


def _read_idx(path: Path, name: str) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed, detected from the magic bytes)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == _GZIP_MAGIC else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{name}: could not read {str(path)!r}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{name}: {str(path)!r} is not an IDX file (bad magic number).")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise ValueError(f"{name}: {str(path)!r} has a truncated IDX header.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header_end != count * dtype.itemsize:
        raise ValueError(
            f"{name}: {str(path)!r} holds {len(raw) - header_end} data bytes, "
            f"expected {count * dtype.itemsize} for shape {shape}."
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header_end).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def load_mnist_idx(images_path: PathLike, labels_path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST-style images and labels from local IDX files.

    Both raw (``*-ubyte``) and gzip-compressed (``*-ubyte.gz``) files are
    accepted; compression is detected from the file's magic bytes.

    Parameters
    ----------
    images_path : str or path-like
        IDX file of unsigned-byte images, e.g. ``t10k-images-idx3-ubyte.gz``.
    labels_path : str or path-like
        IDX file of unsigned-byte labels, e.g. ``t10k-labels-idx1-ubyte.gz``.

    Returns
    -------
    X : ndarray of shape (n, rows, cols), dtype uint8
        The images, ``(n, 28, 28)`` for MNIST, values 0-255.
    y : ndarray of shape (n,), dtype int64
        The labels.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file is not a valid IDX file of the expected kind, or the numbers
        of images and labels differ.

    Examples
    --------
    >>> from skhda.datasets import load_mnist_idx
    >>> X, y = load_mnist_idx("t10k-images-idx3-ubyte.gz",
    ...                       "t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'), dtype('int64'))
    """
    img_file = _check_file(images_path, "images_path")
    lab_file = _check_file(labels_path, "labels_path")
    X = _read_idx(img_file, "images_path")
    y = _read_idx(lab_file, "labels_path")
    if X.ndim != 3 or X.dtype != np.uint8:
        raise ValueError(
            f"images_path: expected a 3-D unsigned-byte IDX array, got ndim={X.ndim} "
            f"dtype={X.dtype}."
        )
    if y.ndim != 1:
        raise ValueError(f"labels_path: expected a 1-D IDX array, got ndim={y.ndim}.")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"images_path holds {X.shape[0]} images but labels_path holds {y.shape[0]} labels."
        )
    return np.ascontiguousarray(X, dtype=np.uint8), y.astype(np.int64)


def load_usps_h5(path: PathLike, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Load the USPS digits from a local ``usps.h5`` file (Kaggle layout).

    The file has groups ``train`` and ``test``, each with datasets ``data``
    (``(n, 256)`` floats in [0, 1]) and ``target`` (digit labels). Reading it
    needs the optional dependency ``h5py``.

    Parameters
    ----------
    path : str or path-like
        Path to ``usps.h5``.
    split : {"all", "train", "test"}, default="all"
        Which part to return; ``"all"`` is train (7291 rows) followed by test
        (2007 rows).

    Returns
    -------
    X : ndarray of shape (n, 16, 16), dtype float32
        Images with values in [0, 1].
    y : ndarray of shape (n,), dtype int64
        Digit labels 0-9.

    Raises
    ------
    ImportError
        If ``h5py`` is not installed.
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``split`` is invalid or the file does not have the expected layout.

    Examples
    --------
    >>> from skhda.datasets import load_usps_h5
    >>> X, y = load_usps_h5("usps.h5", split="test")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (2007, 16, 16)
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be one of ('all', 'train', 'test'), got {split!r}.")
    file = _check_file(path, "path")
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(
            "load_usps_h5 requires the optional dependency h5py (pip install h5py)."
        ) from exc
    parts = ("train", "test") if split == "all" else (split,)
    Xs, ys = [], []
    try:
        with h5py.File(file, "r") as fh:
            for part in parts:
                if part not in fh or "data" not in fh[part] or "target" not in fh[part]:
                    raise ValueError(
                        f"path: {str(file)!r} lacks the dataset '{part}/data' or "
                        f"'{part}/target' (expected the Kaggle usps.h5 layout)."
                    )
                Xs.append(np.asarray(fh[part]["data"][()], dtype=np.float32))
                ys.append(np.asarray(fh[part]["target"][()]).ravel().astype(np.int64))
    except OSError as exc:
        raise ValueError(f"path: could not read {str(file)!r} as HDF5: {exc}") from exc
    X = np.concatenate(Xs, axis=0)
    y = np.concatenate(ys)
    if X.ndim != 2 or X.shape[1] != 256 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"path: expected data of shape (n, 256) and n targets, got {X.shape} and {y.shape}."
        )
    return X.reshape(-1, 16, 16), y


def _find_key(names: list[str], candidates: tuple[str, ...]) -> str | None:
    lower = {n.lower(): n for n in names}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def load_office_caltech_mat(
    path: PathLike, *, one_based: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load one domain of Office-Caltech features from a GFK-style ``.mat`` file.

    The features are read from a key such as ``fts`` (SURF files) or ``feas``
    (DeCAF files), or from the only 2-D floating-point array in the file if no
    such key exists. The labels are read from ``labels``, ``label``, ``gnd`` or
    ``y`` (matched case-insensitively). Files stored as MATLAB v7.3 (HDF5) are
    not supported.

    Parameters
    ----------
    path : str or path-like
        Path to the ``.mat`` file, e.g. ``amazon_SURF_L10.mat``.
    one_based : bool or None, default=None
        Whether the stored labels start at 1 (as in these files); they are
        shifted to 0-based. If None, labels are shifted when their minimum is 1.

    Returns
    -------
    X : ndarray of shape (n, n_features), dtype float32
        The features, one row per image.
    y : ndarray of shape (n,), dtype int64
        0-based class labels.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read or no feature/label array is found.

    Examples
    --------
    >>> from skhda.datasets import load_office_caltech_mat
    >>> X, y = load_office_caltech_mat("amazon_SURF_L10.mat")  # doctest: +SKIP
    >>> X.shape, y.min(), y.max()  # doctest: +SKIP
    ((958, 800), 0, 9)
    """
    from scipy.io import loadmat

    file = _check_file(path, "path")
    try:
        mat = loadmat(file)
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise ValueError(
            f"path: {str(file)!r} is a MATLAB v7.3 (HDF5) file, which is not supported; "
            "re-save it with an older format (e.g. save(..., '-v7'))."
        ) from exc
    except Exception as exc:  # scipy raises various errors on corrupt input
        raise ValueError(f"path: could not read {str(file)!r} as a .mat file: {exc}") from exc
    names = [k for k in mat if not k.startswith("__")]

    label_key = _find_key(names, _LABEL_KEYS)
    if label_key is None:
        raise ValueError(
            f"path: no label array found in {str(file)!r}; looked for keys {_LABEL_KEYS}, "
            f"found {names}."
        )
    feat_key = _find_key([n for n in names if n != label_key], _FEATURE_KEYS)
    if feat_key is None:
        floats = [
            n
            for n in names
            if n != label_key
            and isinstance(mat[n], np.ndarray)
            and mat[n].ndim == 2
            and np.issubdtype(mat[n].dtype, np.floating)
        ]
        if len(floats) != 1:
            raise ValueError(
                f"path: could not identify the feature array in {str(file)!r}; looked for keys "
                f"{_FEATURE_KEYS} or a single 2-D float array, found {names}."
            )
        feat_key = floats[0]

    y_raw = np.asarray(mat[label_key]).ravel()
    X = np.asarray(mat[feat_key])
    if X.ndim != 2:
        raise ValueError(f"path: feature array {feat_key!r} must be 2-D, got shape {X.shape}.")
    n = y_raw.shape[0]
    if X.shape[0] != n and X.shape[1] == n:
        X = X.T  # stored as (n_features, n_samples)
    if X.shape[0] != n:
        raise ValueError(
            f"path: feature array {feat_key!r} of shape {X.shape} does not match "
            f"{n} labels in {label_key!r}."
        )
    if not np.all(np.isfinite(y_raw)) or not np.all(y_raw == np.round(y_raw)):
        raise ValueError(f"path: labels in {label_key!r} must be integers.")
    y = y_raw.astype(np.int64)
    if one_based is None:
        one_based = n > 0 and y.min() == 1
    if one_based:
        y = y - 1
    return np.ascontiguousarray(X, dtype=np.float32), y


def load_npz_dataset(path: PathLike) -> Bunch:
    """Load a benchmark copy stored as an ``.npz`` archive into a Bunch.

    The archives hold ``X`` and ``y`` and optionally further arrays such as
    ``domain``, ``split``, ``alphabet``, ``class_names`` or index arrays. Every
    array becomes an attribute of the returned Bunch; 0-d arrays (e.g. a single
    ``split`` string) are converted to Python scalars. Pickled objects are
    refused (``allow_pickle=False``).

    Parameters
    ----------
    path : str or path-like
        Path to the ``.npz`` file.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        One attribute per array in the archive.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable ``.npz`` archive or it lacks ``X`` or ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from skhda.datasets import load_npz_dataset
    >>> data = load_npz_dataset("office_caltech10_surf.npz")  # doctest: +SKIP
    >>> data.X.shape, np.unique(data.domain).tolist()  # doctest: +SKIP
    ((2533, 800), ['amazon', 'caltech', 'dslr', 'webcam'])
    """
    file = _check_file(path, "path")
    try:
        archive = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"path: could not load {str(file)!r} as an .npz archive: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"path: {str(file)!r} is a .npy file, not an .npz archive.")
    content: dict[str, Any] = {}
    with archive:
        for key in archive.files:
            try:
                arr = archive[key]
            except ValueError as exc:  # e.g. object arrays, refused without pickle
                raise ValueError(
                    f"path: could not load array {key!r} of {str(file)!r}: {exc}"
                ) from exc
            content[key] = arr.item() if arr.ndim == 0 else arr
    missing = [k for k in ("X", "y") if k not in content]
    if missing:
        raise ValueError(
            f"path: {str(file)!r} lacks the required array(s) {missing}; found {sorted(content)}."
        )
    return Bunch(**content)


def load_benchmark_pair(
    data: PathLike | Bunch,
    source: Any,
    target: Any,
    *,
    by: str = "domain",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split a benchmark archive into a source and a target domain.

    Parameters
    ----------
    data : str, path-like or :class:`~sklearn.utils.Bunch`
        An ``.npz`` archive (loaded with :func:`load_npz_dataset`) or an
        already loaded Bunch with arrays ``X``, ``y`` and ``by``.
    source, target : scalar
        Values of the array ``by`` selecting the source and target rows,
        e.g. ``"amazon"`` and ``"webcam"``.
    by : str, default="domain"
        Name of the per-row array used to select the domains, e.g.
        ``"domain"``, ``"split"`` or ``"alphabet"``.

    Returns
    -------
    X_source, y_source, X_target, y_target : tuple of ndarray
        Rows in their original order.

    Raises
    ------
    ValueError
        If ``by`` is not a per-row array of the data or a value selects no row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from skhda.datasets import load_benchmark_pair
    >>> data = Bunch(X=np.arange(8.0).reshape(4, 2), y=np.array([0, 1, 0, 1]),
    ...              domain=np.array(["a", "a", "b", "b"]))
    >>> Xs, ys, Xt, yt = load_benchmark_pair(data, "a", "b")
    >>> Xs.shape, yt.tolist()
    ((2, 2), [0, 1])
    """
    bunch = data if isinstance(data, Bunch) else load_npz_dataset(data)
    if by not in bunch:
        raise ValueError(f"by={by!r} is not an array of the data; available: {sorted(bunch)}.")
    groups = np.asarray(bunch[by])
    X, y = np.asarray(bunch["X"]), np.asarray(bunch["y"])
    if groups.ndim != 1 or groups.shape[0] != X.shape[0]:
        raise ValueError(
            f"by={by!r} must name a per-row array of length {X.shape[0]}, got shape {groups.shape}."
        )
    out = []
    for name, value in (("source", source), ("target", target)):
        mask = groups == value
        if not np.any(mask):
            raise ValueError(
                f"{name}={value!r} selects no row; values of {by!r}: {np.unique(groups).tolist()}."
            )
        out.extend([X[mask], y[mask]])
    return out[0], out[1], out[2], out[3]
