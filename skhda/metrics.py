"""Clustering evaluation metrics.

Metrics commonly reported for deep clustering and transferable clustering:

* :func:`cluster_accuracy` -- accuracy under the best one-to-one matching of
  predicted clusters to true classes (Hungarian algorithm).
* :func:`pairwise_f1_score` / :func:`pairwise_precision_recall` -- the pairwise
  F-score used for face clustering.
* :func:`bcubed_f1_score` / :func:`bcubed_precision_recall` -- BCubed
  precision, recall and F-score.
* :func:`n_dominant_clusters` -- the number of dominant clusters (NDC).
* :func:`pair_precision_recall` -- precision and recall of a pairwise
  similarity prediction (CCN's similarity network).
* :func:`normalized_mutual_info_score` and :func:`adjusted_rand_score`,
  re-exported unchanged from :mod:`sklearn.metrics`.

All label arrays may hold any sortable hashable values of a single type
(integers, including negative ones, or strings) and may be given as lists,
NumPy arrays or pandas Series. Inputs are never modified.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "adjusted_rand_score",
    "bcubed_f1_score",
    "bcubed_precision_recall",
    "cluster_accuracy",
    "knn_normalized_cut",
    "n_dominant_clusters",
    "normalized_mutual_info_score",
    "pair_precision_recall",
    "pairwise_f1_score",
    "pairwise_precision_recall",
]


def label_kinds(values: Any) -> set[str]:
    """The kinds of label values in ``values``: a subset of ``{"string", "number", <type>}``.

    Strings (``str``, ``numpy.str_``) are ``"string"``, integers, floats and
    booleans (Python or NumPy) ``"number"``, anything else its type's name.
    A typed NumPy array is answered from its dtype, without looking at values.

    Examples
    --------
    >>> sorted(label_kinds([1, "1"]))
    ['number', 'string']
    """
    arr = values if isinstance(values, np.ndarray) else None
    if arr is not None and arr.dtype.kind in "biuf":
        return {"number"} if arr.size else set()
    if arr is not None and arr.dtype.kind in "US":
        return {"string"} if arr.size else set()
    kinds = set()
    for v in (arr.ravel() if arr is not None else values):
        if isinstance(v, str | bytes):
            kinds.add("string")
        elif isinstance(v, numbers.Number | np.bool_):
            kinds.add("number")
        else:
            kinds.add(type(v).__name__)
    return kinds


def _check_labels(labels: Any, name: str) -> np.ndarray:
    """Return ``labels`` as a 1-D non-empty array (a view or a copy, never mutated).

    Labels of mixed types (e.g. ``[1, "1"]``, which NumPy would silently turn
    into two equal strings) raise a ``ValueError`` naming ``name``.
    """
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array-like, got an array of shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must be non-empty.")
    # only an object array, or strings made from a list, can hide several types
    if arr.dtype.kind == "O" or (arr.dtype.kind in "US" and not isinstance(labels, np.ndarray)):
        values = labels.to_numpy() if hasattr(labels, "to_numpy") else labels
        kinds = label_kinds(np.asarray(values, dtype=object))
        if len(kinds) > 1:
            raise ValueError(
                f"{name} mixes label types ({' and '.join(sorted(kinds))}); labels must all be "
                "numbers or all be strings."
            )
    return arr


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of label arrays of the same length."""
    y_true = _check_labels(y_true, "y_true")
    y_pred = _check_labels(y_pred, "y_pred")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            "y_true and y_pred must have the same length, got "
            f"len(y_true)={y_true.shape[0]} and len(y_pred)={y_pred.shape[0]}."
        )
    return y_true, y_pred


def _f_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall, 0.0 when both are 0."""
    if precision + recall == 0:
        return 0.0
    return float(2.0 * precision * recall / (precision + recall))


def _matching(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the one-to-one matching of largest total in ``table``.

    The Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`);
    the one place skhda matches clusters to classes (or to other clusters).
    """
    return linear_sum_assignment(table, maximize=True)


def _relabel(labels: np.ndarray, reference: np.ndarray, n_labels: int) -> np.ndarray:
    """``labels`` renamed to the ``reference`` labels they overlap most, one to one.

    Both arrays hold ints in ``[0, n_labels)``; rows with a negative
    ``reference`` (unknown) are left out of the overlap table. A label that
    overlaps no reference row still gets a distinct name.
    """
    known = reference >= 0
    table = np.zeros((n_labels, n_labels))
    np.add.at(table, (labels[known], reference[known]), 1)
    rows, cols = _matching(table)
    mapping = np.empty(n_labels, dtype=np.int64)
    mapping[rows] = cols
    return mapping[labels]


def cluster_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Clustering accuracy under the best one-to-one cluster-to-class matching.

    The predicted clusters are matched to the true classes by the Hungarian
    algorithm (:func:`scipy.optimize.linear_sum_assignment`) applied to the
    contingency matrix so that the number of correctly labelled samples is
    maximal. The number of predicted clusters may differ from the number of
    classes: samples in clusters left unmatched (or belonging to classes left
    unmatched) count as errors.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels (any sortable hashable values).
    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels (any sortable hashable values).

    Returns
    -------
    accuracy : float
        Fraction of correctly assigned samples, in ``[0, 1]``. The score is
        symmetric in ``y_true`` and ``y_pred`` and invariant to renaming the
        labels of either argument.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty, or the lengths differ.

    Examples
    --------
    >>> from skhda.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> round(cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.6667
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    cont = contingency_matrix(y_true, y_pred)
    rows, cols = _matching(cont)
    return float(cont[rows, cols].sum() / y_true.shape[0])


def pairwise_precision_recall(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[float, float, float]:
    """Pairwise precision, recall and F-score.

    With the contingency matrix ``n_ij`` (class ``i``, cluster ``j``) and
    ``N`` samples, let ``tk = sum_ij n_ij**2 - N`` (twice the number of sample
    pairs sharing both class and cluster). Then::

        P = tk / (sum_j n_.j**2 - N)   # pairs in the same cluster
        R = tk / (sum_i n_i.**2 - N)   # pairs in the same class
        F = 2 * P * R / (P + R)

    Conventions for undefined ratios: when ``y_pred`` has no pair of samples
    in a common cluster (all singletons), there is no false positive pair and
    ``P = 1``; likewise ``R = 1`` when ``y_true`` has only singleton classes;
    ``F = 0`` when ``P + R = 0``. In particular all-singleton labellings on
    both sides give ``(1.0, 1.0, 1.0)``, and all-singleton predictions against
    a labelling with at least one pair give ``(1.0, 0.0, 0.0)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels.

    Returns
    -------
    precision : float
        Pairwise precision in ``[0, 1]``.
    recall : float
        Pairwise recall in ``[0, 1]``.
    f1 : float
        Harmonic mean of precision and recall, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty, or the lengths differ.

    Examples
    --------
    >>> from skhda.metrics import pairwise_precision_recall
    >>> p, r, f = pairwise_precision_recall([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    >>> round(p, 4), round(r, 4), round(f, 4)
    (0.6667, 0.3333, 0.4444)
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    n = np.int64(y_true.shape[0])
    cont = contingency_matrix(y_true, y_pred, sparse=True).astype(np.int64)
    tk = np.int64((cont.data.astype(np.int64) ** 2).sum()) - n
    col_sizes = np.asarray(cont.sum(axis=0), dtype=np.int64).ravel()
    row_sizes = np.asarray(cont.sum(axis=1), dtype=np.int64).ravel()
    pk = np.int64((col_sizes**2).sum()) - n
    qk = np.int64((row_sizes**2).sum()) - n
    precision = float(tk / pk) if pk > 0 else 1.0
    recall = float(tk / qk) if qk > 0 else 1.0
    return precision, recall, _f_score(precision, recall)


def pairwise_f1_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Pairwise F-score (harmonic mean of pairwise precision and recall).

    See :func:`pairwise_precision_recall` for the definition and the
    conventions used when a ratio is ``0 / 0``. The score is symmetric in
    ``y_true`` and ``y_pred``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels.

    Returns
    -------
    f1 : float
        Pairwise F-score in ``[0, 1]``.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty, or the lengths differ.

    Examples
    --------
    >>> from skhda.metrics import pairwise_f1_score
    >>> round(pairwise_f1_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.4444
    >>> pairwise_f1_score(["a", "a", "b"], [5, 5, -1])
    1.0
    """
    return pairwise_precision_recall(y_true, y_pred)[2]


def bcubed_precision_recall(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[float, float, float]:
    """BCubed precision, recall and F-score.

    For each sample ``i``, precision is the fraction of the samples in its
    cluster (itself included) that share its class, and recall is the
    fraction of the samples in its class that share its cluster. Both are
    averaged over samples and F is their harmonic mean. With the contingency
    matrix ``n_ij`` this is::

        P = sum_j (sum_i n_ij**2) / n_.j / N
        R = sum_i (sum_j n_ij**2) / n_i. / N

    computed from a sparse contingency matrix (no ``O(N**2)`` memory). Both
    P and R are always positive, so no ratio is undefined.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels.

    Returns
    -------
    precision : float
        BCubed precision in ``(0, 1]``.
    recall : float
        BCubed recall in ``(0, 1]``.
    f1 : float
        BCubed F-score in ``(0, 1]``.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty, or the lengths differ.

    Examples
    --------
    >>> from skhda.metrics import bcubed_precision_recall
    >>> p, r, f = bcubed_precision_recall([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    >>> round(p, 4), round(r, 4), round(f, 4)
    (0.8333, 0.5556, 0.6667)
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    n = y_true.shape[0]
    cont = contingency_matrix(y_true, y_pred, sparse=True).astype(np.float64)
    squared = cont.multiply(cont)
    col_sizes = np.asarray(cont.sum(axis=0)).ravel()
    row_sizes = np.asarray(cont.sum(axis=1)).ravel()
    precision = float((np.asarray(squared.sum(axis=0)).ravel() / col_sizes).sum() / n)
    recall = float((np.asarray(squared.sum(axis=1)).ravel() / row_sizes).sum() / n)
    # Guard against rounding slightly above 1.
    precision = min(precision, 1.0)
    recall = min(recall, 1.0)
    return precision, recall, _f_score(precision, recall)


def bcubed_f1_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """BCubed F-score (harmonic mean of BCubed precision and recall).

    See :func:`bcubed_precision_recall` for the definition. The score is
    symmetric in ``y_true`` and ``y_pred``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels.

    Returns
    -------
    f1 : float
        BCubed F-score in ``(0, 1]``.

    Raises
    ------
    ValueError
        If an input is not 1-D, is empty, or the lengths differ.

    Examples
    --------
    >>> from skhda.metrics import bcubed_f1_score
    >>> round(bcubed_f1_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.6667
    >>> bcubed_f1_score([0, 0, 1], ["x", "x", "y"])
    1.0
    """
    return bcubed_precision_recall(y_true, y_pred)[2]


def n_dominant_clusters(labels: ArrayLike, n_clusters: int) -> int:
    """Number of dominant clusters (NDC).

    A cluster is dominant when it holds at least ``N / n_clusters`` samples,
    where ``N = len(labels)``; NDC counts such clusters (as in the CCN paper on
    transferable clustering). It measures how balanced a clustering is: a
    perfectly balanced clustering into ``n_clusters`` groups has
    ``NDC = n_clusters``, a degenerate one collapsing onto a single cluster has
    ``NDC = 1``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Cluster labels (any sortable hashable values).
    n_clusters : int
        Expected number of clusters, a positive integer.

    Returns
    -------
    ndc : int
        Number of clusters of size ``>= N / n_clusters``, in
        ``[0, n_clusters]`` (at least 1 when ``labels`` holds at most
        ``n_clusters`` distinct values).

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D or is empty, or ``n_clusters`` is not a
        positive integer.

    Examples
    --------
    >>> from skhda.metrics import n_dominant_clusters
    >>> n_dominant_clusters([0, 0, 0, 1, 1, 2], n_clusters=3)
    2
    >>> n_dominant_clusters(["a", "a", "b", "b"], n_clusters=2)
    2
    """
    labels = _check_labels(labels, "labels")
    if (
        isinstance(n_clusters, bool | np.bool_)
        or not isinstance(n_clusters, numbers.Integral)
        or n_clusters < 1
    ):
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}.")
    _, counts = np.unique(labels, return_counts=True)
    # size >= N / n_clusters  <=>  size * n_clusters >= N  (exact integer arithmetic)
    n = labels.shape[0]
    return int(sum(1 for c in counts.tolist() if c * int(n_clusters) >= n))


def pair_precision_recall(y_true, similarity, threshold=0.5):
    """Precision and recall of similar and dissimilar pairs (the paper's tables 7-13).

    Every ordered pair ``(i, j)``, ``i != j``, of the rows is predicted
    similar when ``similarity[i, j] > threshold`` and scored against
    ``y_true[i] == y_true[j]``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
    similarity : array-like of shape (n, n)
        Pairwise similarity probabilities (e.g.
        :meth:`skhda.ccn.SimilarityNetwork.similarity_matrix`) or 0/1 labels.
    threshold : float, default=0.5

    Returns
    -------
    scores : dict
        ``similar_precision``, ``similar_recall``, ``dissimilar_precision``,
        ``dissimilar_recall`` (NaN when undefined).

    Examples
    --------
    >>> import numpy as np
    >>> S = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]])
    >>> pair_precision_recall([0, 0, 1], S)["similar_precision"]
    0.5
    """
    y = np.asarray(y_true)
    S = np.asarray(similarity)
    if S.shape != (len(y), len(y)):
        raise ValueError(f"similarity must have shape ({len(y)}, {len(y)}), got {S.shape}.")
    off = ~np.eye(len(y), dtype=bool)
    true = (y[:, None] == y[None, :])[off]
    pred = (S > threshold)[off]

    def ratio(a, b):
        return float(a / b) if b else float("nan")

    return {
        "similar_precision": ratio((pred & true).sum(), pred.sum()),
        "similar_recall": ratio((pred & true).sum(), true.sum()),
        "dissimilar_precision": ratio((~pred & ~true).sum(), (~pred).sum()),
        "dissimilar_recall": ratio((~pred & ~true).sum(), (~true).sum()),
    }


def knn_normalized_cut(neighbors, labels, n_clusters=None, reduce="sum"):
    """Normalised cut of a partition on a k-nearest-neighbour graph (no labels needed).

    The graph links every row to the rows of its neighbour list (made
    symmetric, unweighted). For each cluster ``c``, ``cut(c) / vol(c)`` is the
    share of its rows' edge ends that leave it; the score sums that share over
    the clusters (Shi & Malik's normalised cut; spectral clustering minimises
    a relaxation of it). Lower is better: a partition that splits a tight
    group of neighbours, or merges two groups while splitting a third, cuts
    more edges. An empty cluster (of ``n_clusters``) counts 1, the worst
    share, so that merging clusters does not lower the score. skhda uses it
    to choose among restarts without labels.

    Memory ``O(n k)``: the graph is kept sparse.

    Parameters
    ----------
    neighbors : array-like of int, shape (n, k + 1)
        Each row's neighbour indices; a row's own index (e.g. in column 0,
        as :func:`skhda.nn.graph.knn_indices` returns) is ignored.
    labels : array-like of shape (n,)
    n_clusters : int, default=None
        The number of clusters asked for; None: the distinct labels.
    reduce : {"sum", "mean"}, default="sum"
        ``"sum"``: the normalised cut. ``"mean"``: the mean share over the
        non-empty clusters (``n_clusters`` unused; a single cluster scores
        1, the worst), for partitions whose number of clusters may
        legitimately differ (an upper bound for ``n_clusters``): splitting
        a group raises it, merging two well-separated groups leaves it
        about unchanged.

    Returns
    -------
    score : float
        In ``[0, n_clusters]`` (``"sum"``) or ``[0, 1]`` (``"mean"``).

    Examples
    --------
    >>> import numpy as np
    >>> nb = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    >>> knn_normalized_cut(nb, [0, 0, 1, 1])
    0.0
    >>> knn_normalized_cut(nb, [0, 1, 0, 1])
    2.0
    >>> knn_normalized_cut(nb, [0, 0, 0, 0], n_clusters=2)
    1.0
    >>> knn_normalized_cut(nb, [0, 1, 0, 1], reduce="mean")
    1.0
    """
    from scipy import sparse

    nb = np.asarray(neighbors)
    labels = _check_labels(labels, "labels")
    if nb.ndim != 2 or len(nb) != len(labels):
        raise ValueError(f"neighbors must have shape (n, k + 1) with n = len(labels) = "
                         f"{len(labels)}, got {nb.shape}.")
    _, y = np.unique(labels, return_inverse=True)
    n = len(y)
    rows = np.repeat(np.arange(n), nb.shape[1])
    cols = nb.reshape(-1).astype(np.int64)
    keep = rows != cols
    A = sparse.coo_matrix((np.ones(keep.sum()), (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    A = ((A + A.T) > 0).tocoo()
    k = int(y.max()) + 1
    vol = np.bincount(y[A.row], minlength=k).astype(float)
    cross = y[A.row] != y[A.col]
    cut = np.bincount(y[A.row][cross], minlength=k).astype(float)
    share = np.divide(cut, vol, out=np.ones(k), where=vol > 0)
    if reduce == "mean":
        return float(share.mean()) if k > 1 else 1.0
    if reduce != "sum":
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}.")
    missing = 0 if n_clusters is None else max(int(n_clusters) - k, 0)
    return float(share.sum() + missing)
