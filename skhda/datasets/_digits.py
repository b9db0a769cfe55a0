"""Domain-adaptation variants of scikit-learn's bundled 8x8 digits."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_digits_transfer"]

_SETTINGS = ("disjoint", "shared", "heterogeneous")

# Fixed parameters of the "shared" target shift (documented in the docstring).
_SHIFT_PIXELS = 1
_SHIFT_CONTRAST = 0.75
_SHIFT_OFFSET = 2.0
_SHIFT_NOISE = 1.0
# Noise level added to the pooled target of the "heterogeneous" setting.
_HETERO_NOISE = 0.5

_DESCR = {
    "disjoint": (
        "Digits transfer (disjoint labels)\n"
        "---------------------------------\n"
        "Built from sklearn.datasets.load_digits (1797 8x8 images, values 0-16).\n"
        "Source: all images of digits 0-4; target: all images of digits 5-9.\n"
        "Both domains use the same 64 raw pixel features. Target labels keep their\n"
        "original digit values (5-9); they are not remapped to 0-4.\n"
    ),
    "shared": (
        "Digits transfer (shared labels, shifted target)\n"
        "-----------------------------------------------\n"
        "Built from sklearn.datasets.load_digits (1797 8x8 images, values 0-16).\n"
        "The rows are split at random, stratified by class, half into the source and\n"
        "half into the target; all 10 digits occur in both domains. The target images\n"
        "are shifted: translated one pixel to the right (the vacated column is 0),\n"
        "contrast-reduced and brightened (x -> 0.75 * x + 2), corrupted with Gaussian\n"
        "noise (standard deviation 1.0) and clipped to [0, 16].\n"
    ),
    "heterogeneous": (
        "Digits transfer (shared labels, heterogeneous features)\n"
        "-------------------------------------------------------\n"
        "Built from sklearn.datasets.load_digits (1797 8x8 images, values 0-16).\n"
        "The rows are split at random, stratified by class, half into the source and\n"
        "half into the target; all 10 digits occur in both domains. Source features\n"
        "are the 64 raw pixels. Target features are 16 values: the images average-\n"
        "pooled over 2x2 blocks (4x4 images) plus Gaussian noise (standard deviation\n"
        "0.5).\n"
    ),
}


def _translate_right(images: np.ndarray, pixels: int) -> np.ndarray:
    """Translate a stack of images ``pixels`` columns to the right, zero-filling."""
    out = np.zeros_like(images)
    out[:, :, pixels:] = images[:, :, : images.shape[2] - pixels]
    return out


def _avg_pool_2x2(images: np.ndarray) -> np.ndarray:
    """Average-pool a stack of (n, h, w) images over non-overlapping 2x2 blocks."""
    n, h, w = images.shape
    return images.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def load_digits_transfer(
    setting: str = "disjoint",
    *,
    return_X_y: bool = True,
    as_images: bool = False,
    random_state: int | np.random.RandomState | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | Bunch:
    """Load a source/target transfer problem built from the bundled 8x8 digits.

    This is the package's embedded default data set: it is derived from
    :func:`sklearn.datasets.load_digits` (1797 grey-level 8x8 images with
    values 0-16, 10 classes), so nothing is downloaded.

    Parameters
    ----------
    setting : {"disjoint", "shared", "heterogeneous"}, default="disjoint"
        Which transfer problem to build.

        - ``"disjoint"``: source = all images of digits 0-4 (901 rows), target
          = all images of digits 5-9 (896 rows); the label sets are disjoint
          (novel-class / transferable clustering setting). ``y_target`` keeps
          the original digit labels 5-9 (they are *not* remapped to 0-4).
          Rows are in the original order of ``load_digits``.
        - ``"shared"``: all 10 digits in both domains. The rows are split at
          random (stratified by class) into a source half (898 rows) and a
          target half (899 rows). The target images are shifted: translated
          one pixel to the right (zero-filled), intensity-transformed
          ``x -> 0.75 * x + 2``, corrupted with Gaussian noise of standard
          deviation 1 and clipped to ``[0, 16]``. A logistic regression fitted
          on the source loses about 50 accuracy points on the target.
        - ``"heterogeneous"``: the same random stratified split as
          ``"shared"``; source features are the 64 raw pixels, target features
          are the images average-pooled over 2x2 blocks (16 features, i.e.
          4x4 images) plus Gaussian noise of standard deviation 0.5.
    return_X_y : bool, default=True
        If True, return the tuple ``(X_source, y_source, X_target, y_target)``;
        otherwise a :class:`~sklearn.utils.Bunch`.
    as_images : bool, default=False
        If True, return the features as image stacks: ``(n, 8, 8)`` for raw
        pixels and ``(n, 4, 4)`` for the pooled heterogeneous target. If False,
        flat ``(n, n_features)`` arrays.
    random_state : int, RandomState instance or None, default=0
        Seed for the source/target split and for the noise of the
        ``"shared"`` and ``"heterogeneous"`` settings. Ignored for
        ``"disjoint"``, which is deterministic.

    Returns
    -------
    X_source, y_source, X_target, y_target : tuple of ndarray
        Returned when ``return_X_y=True``. Features are float64, labels int64.
    data : :class:`~sklearn.utils.Bunch`
        Returned when ``return_X_y=False``, with attributes ``X_source``,
        ``y_source``, ``X_target``, ``y_target``, ``DESCR`` (description of the
        construction) and ``setting``.

    Raises
    ------
    ValueError
        If ``setting`` is not one of the supported values.

    Examples
    --------
    >>> from skhda.datasets import load_digits_transfer
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> Xs.shape, Xt.shape
    ((901, 64), (896, 64))
    >>> import numpy as np
    >>> np.unique(ys).tolist(), np.unique(yt).tolist()
    ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    >>> Xs, ys, Xt, yt = load_digits_transfer("heterogeneous", as_images=True)
    >>> Xs.shape, Xt.shape
    ((898, 8, 8), (899, 4, 4))
    >>> data = load_digits_transfer("shared", return_X_y=False)
    >>> data.setting, data.X_target.dtype
    ('shared', dtype('float64'))
    """
    if not isinstance(setting, str) or setting not in _SETTINGS:
        raise ValueError(f"setting must be one of {_SETTINGS}, got {setting!r}.")

    digits = load_digits()
    images = np.asarray(digits.images, dtype=np.float64)
    labels = np.asarray(digits.target, dtype=np.int64)

    if setting == "disjoint":
        src = labels < 5
        img_s, y_s = images[src], labels[src]
        img_t, y_t = images[~src], labels[~src]
    else:
        rng = check_random_state(random_state)
        idx_s, idx_t = train_test_split(
            np.arange(labels.shape[0]),
            test_size=0.5,
            stratify=labels,
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        img_s, y_s = images[idx_s], labels[idx_s]
        img_t, y_t = images[idx_t], labels[idx_t]
        if setting == "shared":
            img_t = _translate_right(img_t, _SHIFT_PIXELS)
            img_t = _SHIFT_CONTRAST * img_t + _SHIFT_OFFSET
            img_t = img_t + _SHIFT_NOISE * rng.standard_normal(img_t.shape)
            img_t = np.clip(img_t, 0.0, 16.0)
        else:  # heterogeneous
            img_t = _avg_pool_2x2(img_t)
            img_t = img_t + _HETERO_NOISE * rng.standard_normal(img_t.shape)

    if as_images:
        X_s, X_t = img_s, img_t
    else:
        X_s = img_s.reshape(img_s.shape[0], -1)
        X_t = img_t.reshape(img_t.shape[0], -1)
    X_s = np.ascontiguousarray(X_s, dtype=np.float64)
    X_t = np.ascontiguousarray(X_t, dtype=np.float64)

    if return_X_y:
        return X_s, y_s, X_t, y_t
    return Bunch(
        X_source=X_s,
        y_source=y_s,
        X_target=X_t,
        y_target=y_t,
        DESCR=_DESCR[setting],
        setting=setting,
    )
