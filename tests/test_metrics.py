"""Tests for skhda.metrics."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st

from skhda import metrics
from skhda.metrics import (
    bcubed_f1_score,
    bcubed_precision_recall,
    cluster_accuracy,
    n_dominant_clusters,
    pair_precision_recall,
    pairwise_f1_score,
    pairwise_precision_recall,
)

PAIR_METRICS = [cluster_accuracy, pairwise_f1_score, bcubed_f1_score]
SETTINGS = settings(max_examples=60, deadline=None)

Y_TRUE = [0, 0, 0, 1, 1, 1]
Y_PRED = [0, 0, 1, 1, 2, 2]


# --------------------------------------------------------------------------- strategies


@st.composite
def label_pairs(draw, max_n=20, max_true=4, max_pred=4):
    """Two label arrays of the same length with few distinct values."""
    n = draw(st.integers(1, max_n))
    k_true = draw(st.integers(1, max_true))
    k_pred = draw(st.integers(1, max_pred))
    y_true = draw(st.lists(st.integers(0, k_true - 1), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.integers(0, k_pred - 1), min_size=n, max_size=n))
    return np.array(y_true), np.array(y_pred)


def relabel(y, mapping):
    return np.array([mapping[v] for v in y.tolist()], dtype=object)


@st.composite
def relabelling(draw, values):
    """An injective relabelling of ``values`` into (possibly negative) ints or strings."""
    values = sorted(set(np.asarray(values).tolist()))
    targets = draw(
        st.lists(st.integers(-50, 50), min_size=len(values), max_size=len(values), unique=True)
    )
    if draw(st.booleans()):
        targets = [f"c{t}" for t in targets]
    return dict(zip(values, targets, strict=True))


# --------------------------------------------------------------------------- brute force


def brute_force_accuracy(y_true, y_pred):
    """Best partial one-to-one matching, enumerated explicitly on raw labels."""
    y_true = list(y_true)
    y_pred = list(y_pred)
    classes = sorted(set(y_true))
    clusters = sorted(set(y_pred))
    best = 0
    for r in range(1, min(len(classes), len(clusters)) + 1):
        for chosen in itertools.combinations(clusters, r):
            for targets in itertools.permutations(classes, r):
                mapping = dict(zip(chosen, targets, strict=True))
                hits = sum(mapping.get(p) == t for p, t in zip(y_pred, y_true, strict=True))
                best = max(best, hits)
    return best / len(y_true)


def brute_force_pairwise(y_true, y_pred):
    n = len(y_true)
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(n), 2):
        same_t = y_true[i] == y_true[j]
        same_p = y_pred[i] == y_pred[j]
        tp += same_t and same_p
        fp += same_p and not same_t
        fn += same_t and not same_p
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def brute_force_bcubed(y_true, y_pred):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    same_t = y_true[:, None] == y_true[None, :]
    same_p = y_pred[:, None] == y_pred[None, :]
    both = (same_t & same_p).sum(axis=1)
    p = np.mean(both / same_p.sum(axis=1))
    r = np.mean(both / same_t.sum(axis=1))
    return p, r, 2 * p * r / (p + r)


# --------------------------------------------------------------------------- hand-computed


def test_cluster_accuracy_hand_computed():
    # 0->0 (2 hits) and 1->2 (2 hits): 4 / 6
    assert cluster_accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert cluster_accuracy([0, 1, 2, 3], [0, 0, 0, 0]) == pytest.approx(1 / 4)
    assert cluster_accuracy([1, 1, 0, 0], [0, 0, 1, 1]) == 1.0


def test_pairwise_hand_computed():
    # sum n_ij^2 = 10, N = 6 -> tk = 4; pred: 12 - 6 = 6; true: 18 - 6 = 12
    p, r, f = pairwise_precision_recall(Y_TRUE, Y_PRED)
    assert p == pytest.approx(2 / 3)
    assert r == pytest.approx(1 / 3)
    assert f == pytest.approx(4 / 9)
    assert pairwise_f1_score(Y_TRUE, Y_PRED) == pytest.approx(4 / 9)


def test_pairwise_zero_division_conventions():
    assert pairwise_precision_recall([0, 1, 2], [3, 4, 5]) == (1.0, 1.0, 1.0)
    assert pairwise_precision_recall([0, 0, 1], [0, 1, 2]) == (1.0, 0.0, 0.0)
    assert pairwise_precision_recall([0, 1, 2], [0, 0, 1]) == (0.0, 1.0, 0.0)
    assert pairwise_f1_score([7], [8]) == 1.0


def test_bcubed_hand_computed():
    # P = (2 + 1 + 2) / 6 = 5/6; R = (5/3 + 5/3) / 6 = 5/9; F = 2/3
    p, r, f = bcubed_precision_recall(Y_TRUE, Y_PRED)
    assert p == pytest.approx(5 / 6)
    assert r == pytest.approx(5 / 9)
    assert f == pytest.approx(2 / 3)
    assert bcubed_f1_score(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)
    assert bcubed_precision_recall([0, 1, 2], [0, 0, 0]) == pytest.approx((1 / 3, 1.0, 0.5))


def test_n_dominant_clusters_hand_computed():
    # N / K = 2: sizes 3, 2, 1 -> 2 dominant
    assert n_dominant_clusters([0, 0, 0, 1, 1, 2], n_clusters=3) == 2
    assert n_dominant_clusters([5, 5, 5, 5], n_clusters=4) == 1
    assert n_dominant_clusters(["a", "b", "c", "d"], n_clusters=4) == 4
    # N / K = 7 / 2 = 3.5: sizes 4, 3 -> 1 dominant (exact comparison)
    assert n_dominant_clusters([0, 0, 0, 0, 1, 1, 1], n_clusters=2) == 1
    # fewer clusters expected than present: threshold N / 1 = N
    assert n_dominant_clusters([0, 0, 1], n_clusters=1) == 0
    assert isinstance(n_dominant_clusters([0, 1], np.int64(2)), int)


def test_knn_normalized_cut_hand_computed_and_label_free():
    from skhda.metrics import knn_normalized_cut
    from skhda.nn.graph import knn_indices

    # a path 0-1-2-3: each row's nearest other row; the graph is made symmetric
    nb = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    assert knn_normalized_cut(nb, [0, 0, 1, 1]) == 0.0
    assert knn_normalized_cut(nb, ["b", "b", "a", "a"]) == 0.0      # any label values
    assert knn_normalized_cut(nb, [0, 1, 0, 1]) == 2.0                 # every edge cut
    assert knn_normalized_cut(nb, [0, 0, 0, 0], n_clusters=2) == 1.0   # an empty cluster
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + [8, 0]])
    graph = knn_indices(X, 5, metric="euclidean")
    truth = np.repeat([0, 1], 30)
    split = (X[:, 1] > 0).astype(int)        # cuts both groups across
    assert knn_normalized_cut(graph, truth) < knn_normalized_cut(graph, split)
    with pytest.raises(ValueError, match="neighbors"):
        knn_normalized_cut(graph[:10], truth)


def test_reexports():
    assert metrics.normalized_mutual_info_score is sklearn.metrics.normalized_mutual_info_score
    assert metrics.adjusted_rand_score is sklearn.metrics.adjusted_rand_score
    for name in metrics.__all__:
        assert hasattr(metrics, name)


# --------------------------------------------------------------------------- input types


@pytest.mark.parametrize("metric", PAIR_METRICS)
def test_input_types_and_no_mutation(metric):
    expected = metric(Y_TRUE, Y_PRED)
    y_true = np.array(Y_TRUE)
    y_pred = np.array(Y_PRED)
    y_true_copy, y_pred_copy = y_true.copy(), y_pred.copy()
    assert metric(y_true, y_pred) == pytest.approx(expected)
    np.testing.assert_array_equal(y_true, y_true_copy)
    np.testing.assert_array_equal(y_pred, y_pred_copy)
    s_true = pd.Series(Y_TRUE, index=[10, 3, 7, 1, 2, 0])
    s_pred = pd.Series(Y_PRED, index=list("abcdef"))
    assert metric(s_true, s_pred) == pytest.approx(expected)
    strings = [f"class{v}" for v in Y_TRUE]
    negatives = [-v - 3 for v in Y_PRED]
    assert metric(strings, negatives) == pytest.approx(expected)
    assert metric(tuple(Y_TRUE), pd.Series(negatives, dtype="category")) == pytest.approx(expected)
    assert isinstance(metric(Y_TRUE, Y_PRED), float)


def test_n_dominant_clusters_input_types():
    labels = np.array([2, 2, -1, 0])
    copy = labels.copy()
    assert n_dominant_clusters(labels, 3) == 1
    assert n_dominant_clusters(pd.Series(labels), 3) == 1
    np.testing.assert_array_equal(labels, copy)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "metric",
    PAIR_METRICS + [pairwise_precision_recall, bcubed_precision_recall],
)
def test_pair_validation(metric):
    with pytest.raises(ValueError, match="y_true"):
        metric([], [])
    with pytest.raises(ValueError, match="y_pred"):
        metric([0], [])
    with pytest.raises(ValueError, match="y_true"):
        metric([[0, 1]], [0, 1])
    with pytest.raises(ValueError, match="y_pred"):
        metric([0, 1], np.zeros((2, 1)))
    with pytest.raises(ValueError, match="y_true"):
        metric(3, [3])
    with pytest.raises(ValueError, match="same length"):
        metric([0, 1, 1], [0, 1])


def test_n_dominant_clusters_validation():
    with pytest.raises(ValueError, match="labels"):
        n_dominant_clusters([], 2)
    with pytest.raises(ValueError, match="labels"):
        n_dominant_clusters([[0, 1], [1, 0]], 2)
    for bad in [0, -1, 2.0, True, "3", None]:
        with pytest.raises(ValueError, match="n_clusters"):
            n_dominant_clusters([0, 1], bad)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(data=st.data(), pair=label_pairs())
def test_invariance_to_predicted_label_permutation(data, pair):
    y_true, y_pred = pair
    mapping = data.draw(relabelling(y_pred))
    y_pred2 = relabel(y_pred, mapping)
    if isinstance(next(iter(mapping.values())), str):
        y_pred2 = y_pred2.astype(str)
    else:
        y_pred2 = y_pred2.astype(int)
    for metric in PAIR_METRICS:
        assert metric(y_true, y_pred2) == pytest.approx(metric(y_true, y_pred))


@SETTINGS
@given(data=st.data(), y_true=st.lists(st.integers(-3, 5), min_size=1, max_size=30))
def test_perfect_clustering_scores_one(data, y_true):
    y_true = np.array(y_true)
    mapping = data.draw(relabelling(y_true))
    y_pred = relabel(y_true, mapping).tolist()
    for metric in PAIR_METRICS:
        assert metric(y_true, y_pred) == pytest.approx(1.0)
    assert pairwise_precision_recall(y_true, y_pred) == pytest.approx((1.0, 1.0, 1.0))
    assert bcubed_precision_recall(y_true, y_pred) == pytest.approx((1.0, 1.0, 1.0))


@SETTINGS
@given(pair=label_pairs(max_n=40, max_true=6, max_pred=9))
def test_values_in_unit_interval(pair):
    y_true, y_pred = pair
    for metric in PAIR_METRICS:
        value = metric(y_true, y_pred)
        assert 0.0 <= value <= 1.0
    for func in (pairwise_precision_recall, bcubed_precision_recall):
        for value in func(y_true, y_pred):
            assert 0.0 <= value <= 1.0


@SETTINGS
@given(
    y_true=st.lists(st.integers(0, 3), min_size=2, max_size=30),
    data=st.data(),
)
def test_splitting_a_class_lowers_scores(y_true, data):
    y_true = np.array(y_true)
    values, counts = np.unique(y_true, return_counts=True)
    splittable = values[counts >= 2]
    if splittable.size == 0:
        y_true = np.append(y_true, y_true[0])
        splittable = np.array([y_true[0]])
    c = data.draw(st.sampled_from(splittable.tolist()))
    idx = np.flatnonzero(y_true == c)
    n_moved = data.draw(st.integers(1, idx.size - 1))
    moved = data.draw(st.permutations(idx.tolist()))[:n_moved]
    y_pred = y_true.copy()
    y_pred[moved] = 100  # a new cluster id: more clusters than classes
    assert np.unique(y_pred).size > np.unique(y_true).size
    n = y_true.size
    smaller = min(n_moved, idx.size - n_moved)
    acc = cluster_accuracy(y_true, y_pred)
    assert acc < 1.0
    assert acc == pytest.approx((n - smaller) / n)
    p, r, _ = pairwise_precision_recall(y_true, y_pred)
    assert p == 1.0 and r < 1.0
    p, r, _ = bcubed_precision_recall(y_true, y_pred)
    assert p == pytest.approx(1.0) and r < 1.0


@SETTINGS
@given(pair=label_pairs())
def test_symmetry(pair):
    y_true, y_pred = pair
    for metric in PAIR_METRICS:
        assert metric(y_true, y_pred) == pytest.approx(metric(y_pred, y_true))
    p, r, f = pairwise_precision_recall(y_true, y_pred)
    assert pairwise_precision_recall(y_pred, y_true) == pytest.approx((r, p, f))
    p, r, f = bcubed_precision_recall(y_true, y_pred)
    assert bcubed_precision_recall(y_pred, y_true) == pytest.approx((r, p, f))


@SETTINGS
@given(pair=label_pairs(max_n=12, max_true=4, max_pred=5))
def test_cluster_accuracy_matches_brute_force(pair):
    y_true, y_pred = pair
    expected = brute_force_accuracy(y_true.tolist(), y_pred.tolist())
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(expected)


@SETTINGS
@given(pair=label_pairs(max_n=15, max_true=5, max_pred=5))
def test_pairwise_and_bcubed_match_brute_force(pair):
    y_true, y_pred = pair
    assert pairwise_precision_recall(y_true, y_pred) == pytest.approx(
        brute_force_pairwise(y_true.tolist(), y_pred.tolist())
    )
    assert bcubed_precision_recall(y_true, y_pred) == pytest.approx(
        brute_force_bcubed(y_true, y_pred)
    )


@SETTINGS
@given(
    labels=st.lists(st.integers(-2, 6), min_size=1, max_size=40),
    n_clusters=st.integers(1, 12),
)
def test_n_dominant_clusters_properties(labels, n_clusters):
    ndc = n_dominant_clusters(labels, n_clusters)
    assert isinstance(ndc, int)
    assert 0 <= ndc <= n_clusters
    if len(set(labels)) <= n_clusters:
        assert ndc >= 1
    sizes = np.unique(labels, return_counts=True)[1]
    assert ndc == int(np.sum(sizes >= len(labels) / n_clusters))


def test_pair_precision_recall_by_hand():
    y = [0, 0, 1, 1]
    S = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], float)
    # off-diagonal: true similar (0,1),(1,0),(2,3),(3,2); predicted (0,1),(1,0),(0,2),(2,0)
    r = pair_precision_recall(y, S)
    assert r["similar_precision"] == 0.5 and r["similar_recall"] == 0.5
    assert r["dissimilar_precision"] == 6 / 8 and r["dissimilar_recall"] == 6 / 8
    with pytest.raises(ValueError, match="similarity"):
        pair_precision_recall(y, S[:3])
