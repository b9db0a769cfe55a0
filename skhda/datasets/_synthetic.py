"""Synthetic domain-shift data generators."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_domain_shift_blobs"]

# Bounds on the rejection sampling of cluster centres.
_MAX_TRIES_PER_CENTER = 200
_MAX_RESTARTS = 20


def _place_separated(
    propose: Callable[[int], np.ndarray],
    n_centers: int,
    min_distance: float,
    what: str,
) -> np.ndarray:
    """Place centres one by one by rejection sampling, restarting on failure.

    ``propose(k)`` returns a candidate for centre ``k``. Raises ValueError when
    no valid configuration is found within the bounded number of tries.
    """
    for _ in range(_MAX_RESTARTS):
        centers: list[np.ndarray] = []
        for k in range(n_centers):
            for _ in range(_MAX_TRIES_PER_CENTER):
                cand = propose(k)
                if (
                    not centers
                    or np.min(np.linalg.norm(np.asarray(centers) - cand, axis=1)) >= min_distance
                ):
                    centers.append(cand)
                    break
            else:
                break  # could not place centre k: restart
        if len(centers) == n_centers:
            return np.asarray(centers)
    raise ValueError(
        f"Could not place {n_centers} {what} centres at least "
        f"min_center_distance={min_distance} apart after "
        f"{_MAX_RESTARTS} restarts of {_MAX_TRIES_PER_CENTER} tries per centre; "
        "decrease min_center_distance or n_clusters, or enlarge center_box."
    )


def _cluster_sizes(n_samples: int, n_clusters: int) -> np.ndarray:
    """Equal cluster sizes, the remainder spread over the first clusters."""
    sizes = np.full(n_clusters, n_samples // n_clusters, dtype=np.int64)
    sizes[: n_samples % n_clusters] += 1
    return sizes


def _draw(
    centers: np.ndarray,
    factors: np.ndarray,
    sizes: np.ndarray,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw Gaussian points around ``centers`` with covariances ``A A^T``; shuffle."""
    n_features = centers.shape[1]
    X_parts, y_parts = [], []
    for k, (mu, A, n_k) in enumerate(zip(centers, factors, sizes, strict=True)):
        z = rng.standard_normal((int(n_k), n_features))
        X_parts.append(mu + z @ A.T)
        y_parts.append(np.full(int(n_k), k, dtype=np.int64))
    X = np.concatenate(X_parts, axis=0)
    y = np.concatenate(y_parts)
    perm = rng.permutation(X.shape[0])
    return X[perm], y[perm]


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    return float(value)


def make_domain_shift_blobs(
    n_clusters: int = 5,
    n_samples: int = 1000,
    *,
    n_features: int = 2,
    n_target_samples: int | None = None,
    min_center_distance: float = 6.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    cov_scale: float = 0.8,
    shift_scale: float = 5.0,
    random_state: int | np.random.RandomState | None = None,
    return_centers: bool = False,
) -> (
    tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
):
    """Generate Gaussian clusters in a source domain and a shifted target domain.

    This is the synthetic protocol used to evaluate transferable deep
    clustering (TDCM):

    1. ``n_clusters`` centres are drawn uniformly in the hyper-cube
       ``center_box ** n_features`` by rejection sampling, so that every pair is
       at least ``min_center_distance`` apart.
    2. Each cluster ``k`` gets a covariance ``A_k A_k^T`` with
       ``A_k = cov_scale * randn(n_features, n_features)``.
    3. Source points are drawn from ``N(mu_k, A_k A_k^T)``.
    4. Target centres are ``mu_k + delta_k`` with
       ``delta_k ~ N(0, shift_scale^2 I)``; a shift is re-drawn until the moved
       centres are also at least ``min_center_distance`` apart (moved centres
       may leave ``center_box``). Target points use the same covariances.

    Clusters have equal sizes (the remainder of ``n_samples / n_clusters`` is
    spread over the first clusters) and the rows of each domain are shuffled.

    Parameters
    ----------
    n_clusters : int, default=5
        Number of clusters (classes), shared by both domains.
    n_samples : int, default=1000
        Number of source points; must be at least ``n_clusters``.
    n_features : int, default=2
        Dimension of the points.
    n_target_samples : int or None, default=None
        Number of target points; defaults to ``n_samples``.
    min_center_distance : float, default=6.0
        Minimum Euclidean distance between any two centres, in each domain.
    center_box : tuple of float, default=(-10.0, 10.0)
        Bounds ``(low, high)`` of the box in which source centres are drawn.
    cov_scale : float, default=0.8
        Scale of the random covariance factors ``A_k``.
    shift_scale : float, default=5.0
        Standard deviation of the per-coordinate centre shift to the target.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.
    return_centers : bool, default=False
        If True, also return the source and target centres.

    Returns
    -------
    X_source : ndarray of shape (n_samples, n_features)
    y_source : ndarray of shape (n_samples,), dtype int64
        Cluster index in ``0..n_clusters-1``.
    X_target : ndarray of shape (n_target_samples, n_features)
    y_target : ndarray of shape (n_target_samples,), dtype int64
        Cluster index; cluster ``k`` in the target is the shifted cluster ``k``
        of the source.
    centers_source, centers_target : ndarray of shape (n_clusters, n_features)
        Only returned when ``return_centers=True``.

    Raises
    ------
    ValueError
        If a parameter is invalid, or if no centre configuration satisfying
        ``min_center_distance`` is found within a bounded number of tries.

    Examples
    --------
    >>> from skhda.datasets import make_domain_shift_blobs
    >>> Xs, ys, Xt, yt = make_domain_shift_blobs(n_clusters=3, n_samples=10,
    ...                                          random_state=0)
    >>> Xs.shape, Xt.shape
    ((10, 2), (10, 2))
    >>> import numpy as np
    >>> np.bincount(ys).tolist()
    [4, 3, 3]
    """
    n_clusters = _check_int(n_clusters, "n_clusters", 1)
    n_samples = _check_int(n_samples, "n_samples", n_clusters)
    n_features = _check_int(n_features, "n_features", 1)
    if n_target_samples is None:
        n_target_samples = n_samples
    n_target_samples = _check_int(n_target_samples, "n_target_samples", n_clusters)
    min_center_distance = _check_real(min_center_distance, "min_center_distance")
    cov_scale = _check_real(cov_scale, "cov_scale")
    shift_scale = _check_real(shift_scale, "shift_scale")
    try:
        low, high = (float(v) for v in center_box)
    except (TypeError, ValueError):
        raise ValueError(
            f"center_box must be a pair (low, high) of numbers, got {center_box!r}."
        ) from None
    if not low < high:
        raise ValueError(f"center_box must satisfy low < high, got {center_box!r}.")

    if n_clusters > 1 and min_center_distance > (high - low) * np.sqrt(n_features):
        raise ValueError(
            f"min_center_distance={min_center_distance} exceeds the diagonal of center_box "
            f"{center_box!r}; {n_clusters} centres cannot be placed that far apart."
        )

    rng = check_random_state(random_state)

    centers_s = _place_separated(
        lambda k: rng.uniform(low, high, size=n_features),
        n_clusters,
        min_center_distance,
        "source",
    )
    factors = cov_scale * rng.standard_normal((n_clusters, n_features, n_features))
    centers_t = _place_separated(
        lambda k: centers_s[k] + shift_scale * rng.standard_normal(n_features),
        n_clusters,
        min_center_distance,
        "target",
    )

    X_s, y_s = _draw(centers_s, factors, _cluster_sizes(n_samples, n_clusters), rng)
    X_t, y_t = _draw(centers_t, factors, _cluster_sizes(n_target_samples, n_clusters), rng)
    if return_centers:
        return X_s, y_s, X_t, y_t, centers_s, centers_t
    return X_s, y_s, X_t, y_t
