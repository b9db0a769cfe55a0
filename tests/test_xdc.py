"""XDC and its graph pieces (skhda.nn.graph)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import KMeans

from skhda import XDC
from skhda.metrics import pairwise_f1_score
from skhda.nn.graph import (
    GraphConv,
    LinkageGCN,
    balanced_link_loss,
    knn_indices,
    link_components,
    link_matrix,
    merge_clusters,
    pivot_subgraphs,
    spectral_cut,
)


def unseen_blobs(seed=0, per_class=30, d_noise=40, noise=2.0):
    """30 source classes in a 3-D signal space, 5 unseen target classes, 40 noise features.

    The noise features drown the target clusters for k-means on the raw
    inputs; the source labels teach an encoder to ignore them.
    """
    rng = np.random.default_rng(seed)
    src_centers = rng.uniform(-5, 5, size=(30, 3))
    tgt_centers = 5.0 * np.vstack([np.eye(3), -np.eye(3)])[:5]

    def draw(centers):
        y = np.repeat(np.arange(len(centers)), per_class)
        X = np.hstack([centers[y] + rng.normal(scale=0.3, size=(len(y), 3)),
                       rng.normal(scale=noise, size=(len(y), d_noise))])
        return X.astype(np.float32), y

    return (*draw(src_centers), *draw(tgt_centers))


FAST = {"epochs": 20, "gcn_epochs": 10, "embedding_dim": 16, "hidden_dims": (64,), "k1": 10,
        "gcn_dims": (32, 32), "lambda_adversarial": 0.1, "link_threshold": 0.5,
        "max_cluster_size": None, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def blobs():
    return unseen_blobs()


@pytest.fixture(scope="module")
def fitted(blobs):
    Xs, ys, Xt, yt = blobs
    return XDC(**FAST).fit(Xs, ys, Xt)


# ------------------------------------------------------------- graph pieces
def test_knn_indices_match_brute_force(rng):
    Z = rng.normal(size=(50, 6))
    idx = knn_indices(Z, 5, batch_size=7)
    Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    order = np.argsort(-(Zn @ Zn.T), axis=1)[:, :6]
    assert idx.shape == (50, 6)
    np.testing.assert_array_equal(idx[:, 0], np.arange(50))
    np.testing.assert_array_equal(np.sort(idx, 1), np.sort(order, 1))
    assert knn_indices(Z[:3], 10).shape == (3, 3)      # k clipped to n - 1
    assert knn_indices(Z[:1], 10).tolist() == [[0]]


def test_knn_indices_put_self_first_among_duplicates():
    Z = np.ones((4, 3))
    idx = knn_indices(Z, 2)
    np.testing.assert_array_equal(idx[:, 0], np.arange(4))
    assert all(len(set(row)) == 3 for row in idx.tolist())


def test_pivot_subgraphs_structure(rng):
    n, k1, k2, u = 40, 5, 3, 2
    feats = torch.as_tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    knn = torch.as_tensor(knn_indices(feats.numpy(), 6))
    pivots = torch.tensor([0, 7, 39])
    g = pivot_subgraphs(feats, knn, pivots, k1, k2, u)
    assert g.features.shape == (3, 1 + k1 + k1 * k2, 4)
    for b, p in enumerate(pivots.tolist()):
        hop1 = knn[p, 1:k1 + 1]
        expected = {p, *hop1.tolist(), *knn[hop1, 1:k2 + 1].flatten().tolist()}
        nodes = g.nodes[b][g.valid[b]]
        assert set(nodes.tolist()) == expected and len(nodes) == len(expected)
        np.testing.assert_array_equal(g.nodes[b, g.hop1_pos[b]], hop1)
        assert g.valid[b, g.hop1_pos[b]].all()
        # node features relative to the pivot, zero on padding
        torch.testing.assert_close(g.features[b][g.valid[b]], feats[nodes] - feats[p])
        assert (g.features[b][~g.valid[b]] == 0).all()
        # links: each node to its u nearest inside the subgraph, symmetric, row-normalised
        A = g.adjacency[b]
        pattern = A > 0
        assert torch.equal(pattern, pattern.T)
        rows = A.sum(1)
        torch.testing.assert_close(rows[pattern.any(1)], torch.ones(int(pattern.any(1).sum())))
        assert not pattern[~g.valid[b]].any() and not pattern[:, ~g.valid[b]].any()
        pos = {int(v): i for i, v in enumerate(g.nodes[b].tolist()) if g.valid[b, i]}
        for node in nodes.tolist():
            for nb in knn[node, 1:u + 1].tolist():
                if nb in pos:
                    assert pattern[pos[node], pos[nb]]


def test_pivot_subgraphs_similarity_feature(rng):
    feats = torch.nn.functional.normalize(torch.randn(20, 3), dim=1)
    knn = torch.as_tensor(knn_indices(feats.numpy(), 4))
    g = pivot_subgraphs(feats, knn, torch.tensor([3]), 3, 2, 2, with_similarity=True)
    assert g.features.shape[-1] == 4
    nodes = g.nodes[0][g.valid[0]]
    torch.testing.assert_close(g.features[0][g.valid[0]][:, -1], feats[nodes] @ feats[3])


def test_graph_conv_is_relu_of_concat_and_mean():
    conv = GraphConv(3, 2)
    x, A = torch.randn(1, 4, 3), torch.rand(1, 4, 4)
    A = A / A.sum(2, keepdim=True)
    expected = torch.relu(torch.cat([x, A @ x], 2) @ conv.linear.weight.T + conv.linear.bias)
    torch.testing.assert_close(conv(x, A), expected)


def test_linkage_gcn_ignores_padding(rng):
    feats = torch.randn(30, 5)
    knn = torch.as_tensor(knn_indices(feats.numpy(), 6))
    gcn = LinkageGCN(5, (8, 8)).eval()
    g = pivot_subgraphs(feats, knn, torch.tensor([0, 1]), 4, 2, 2)
    out = gcn(g)
    assert out.shape == (2, 4, 2)
    g.features[~g.valid] = 123.0          # padding content must not matter
    torch.testing.assert_close(gcn(g), out)


def test_balanced_link_loss_weighs_both_kinds_equally():
    logits = torch.randn(10, 2)
    same = torch.tensor([1] * 8 + [0] * 2)
    ce = torch.nn.functional.cross_entropy(logits, same, reduction="none")
    torch.testing.assert_close(balanced_link_loss(logits, same),
                               (ce[same == 1].mean() + ce[same == 0].mean()) / 2)
    torch.testing.assert_close(balanced_link_loss(logits, torch.ones(10)), ce.new_tensor(
        torch.nn.functional.cross_entropy(logits, torch.ones(10, dtype=torch.long)).item()))


def test_link_matrix_averages_both_directions():
    W = link_matrix(3, [0, 1, 1], [1, 0, 2], [0.8, 0.4, 0.9])
    assert sp.issparse(W)
    np.testing.assert_allclose(W.toarray(), [[0, 0.6, 0], [0.6, 0, 0.9], [0, 0.9, 0]],
                               atol=1e-9)


def test_link_components_resplits_oversized_components():
    # a chain 0-1-2-3-4-5 whose middle link is the weakest
    W = link_matrix(6, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [0.9, 0.9, 0.6, 0.95, 0.95])
    assert len(set(link_components(W, 0.5))) == 1
    labels = link_components(W, 0.5, max_size=3)
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4] == labels[5]
    # with a tiny max size, every component ends at most that large
    assert np.bincount(link_components(W, 0.5, max_size=1)).max() == 1


def test_merge_clusters_joins_linked_fragments_only():
    # clusters {0, 1}, {2, 3} strongly linked; {4, 5} linked to nobody
    W = link_matrix(6, [0, 1, 2, 1, 4], [1, 2, 3, 3, 5], [0.9, 0.8, 0.9, 0.7, 0.9])
    labels = merge_clusters(W, np.array([0, 0, 1, 1, 2, 2]), k=1, threshold=0.3)
    assert labels[0] == labels[2] and labels[4] != labels[0]
    assert len(set(labels)) == 2
    capped = merge_clusters(W, np.array([0, 0, 1, 1, 2, 2]), k=1, threshold=0.3, max_size=3)
    assert len(set(capped)) == 3


def test_merge_clusters_exact_count_and_small_clusters():
    Z = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 0.05], [0, 1.1]])
    W = link_matrix(6, [0, 2], [1, 3], [0.9, 0.9])
    start = np.array([0, 0, 1, 1, 2, 3])
    assert len(set(merge_clusters(W, start, 1, n_clusters=2, Z=Z))) == 2
    three = merge_clusters(W, start, 1, n_clusters=5, Z=Z)
    assert len(set(three)) == 5
    absorbed = merge_clusters(W, start, 1, threshold=10.0, Z=Z, min_size=2)
    assert absorbed[4] == absorbed[0] and absorbed[5] == absorbed[2]


# ------------------------------------------------------------------ XDC
def test_xdc_clusters_unseen_classes_without_k(blobs, fitted):
    Xs, ys, Xt, yt = blobs
    kmeans = pairwise_f1_score(yt, KMeans(5, n_init=10, random_state=0).fit_predict(Xt))
    f = pairwise_f1_score(yt, fitted.labels_)
    assert f > kmeans + 0.1, (f, kmeans)
    assert 3 <= fitted.n_clusters_found_ <= 8
    assert fitted.n_clusters_found_ == len(np.unique(fitted.labels_))


def test_xdc_predict_reruns_the_linkage(blobs, fitted):
    Xs, ys, Xt, yt = blobs
    labels = fitted.predict(Xt)
    np.testing.assert_array_equal(labels, fitted.labels_)
    # ids are 0..C-1, the largest cluster first
    sizes = np.bincount(labels)
    assert (np.diff(sizes) <= 0).all()
    part = fitted.predict(Xt[::2])
    assert part.shape == (len(Xt[::2]),)
    assert fitted.predict(Xt[:1]).tolist() == [0]
    assert fitted.predict(Xt[:2]).shape == (2,)
    assert fitted.transform(Xt).shape == (len(Xt), 16)


def test_xdc_n_clusters_cuts_to_exactly_k(blobs, fitted):
    Xs, ys, Xt, yt = blobs
    est = fitted
    for k in (2, 5, 9):
        est.set_params(n_clusters=k)
        assert len(np.unique(est.predict(Xt))) == k
    est.set_params(n_clusters=None)


def test_xdc_cut_merge_keeps_the_agglomeration(blobs, fitted):
    Xs, ys, Xt, yt = blobs
    est = fitted
    try:
        est.set_params(n_clusters=5, cut="merge")
        merged = est.predict(Xt)
        est.set_params(cut="spectral")
        cut = est.predict(Xt)
    finally:
        est.set_params(n_clusters=None, cut="spectral")
    assert len(np.unique(merged)) == len(np.unique(cut)) == 5
    assert pairwise_f1_score(yt, cut) > 0.8


def test_spectral_cut_separates_weakly_linked_blocks():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    dense = np.where(y[:, None] == y[None, :], 0.9, 0.02) * (rng.random((30, 30)) < 0.6)
    W = sp.csr_matrix(np.triu(dense, 1) + np.triu(dense, 1).T)
    labels = spectral_cut(W, 3)
    assert pairwise_f1_score(y, labels) == 1.0
    assert spectral_cut(W, 1).tolist() == [0] * 30
    assert spectral_cut(W, 40).tolist() == list(range(30))


def test_xdc_graph_features_rule(blobs, fitted):
    """``graph_features="auto"``: the input rows for same-feature vectors, else the embedding."""
    Xs, ys, Xt, yt = blobs
    assert fitted.graph_features_ == "input"
    assert fitted.gcn_net_.module_.gcn.norm.num_features == Xs.shape[1] + 1   # + similarity
    quick = {**FAST, "epochs": 1, "gcn_epochs": 1}
    est = XDC(**{**quick, "graph_features": "embedding"}).fit(Xs[::3], ys[::3], Xt[::3])
    assert est.graph_features_ == "embedding"
    enc = torch.nn.Sequential(torch.nn.Linear(Xs.shape[1], 16))
    est = XDC(**{**quick, "encoder": enc}).fit(Xs[::3], ys[::3], Xt[::3])
    assert est.graph_features_ == "embedding"   # a user encoder: its features
    images = np.random.default_rng(0).random((60, 1, 8, 8)).astype(np.float32)
    y = np.arange(60) % 3
    est = XDC(**{**quick, "k1": 5}).fit(images, y, images)
    assert est.graph_features_ == "embedding"
    with pytest.raises(ValueError, match="graph_features"):
        XDC(**{**quick, "graph_features": "input"}).fit(images, y, images)
    with pytest.raises(ValueError, match="graph_features"):   # other target features
        XDC(**{**quick, "graph_features": "input"}).fit(Xs, ys, Xt[:, :10].copy())


def test_xdc_link_graph_is_sparse(blobs, fitted):
    Xs, ys, Xt, yt = blobs
    W = fitted.link_probabilities(Xt)
    assert sp.issparse(W) and W.shape == (len(Xt), len(Xt))
    assert W.nnz <= 2 * len(Xt) * fitted.k1
    assert not hasattr(fitted.gcn_net_.module_, "features") or \
        fitted.gcn_net_.module_.features is None   # source rows are not kept


def test_xdc_ips_baseline_has_no_discriminator(blobs):
    Xs, ys, Xt, yt = blobs
    est = XDC(**{**FAST, "lambda_adversarial": 0.0, "epochs": 1, "gcn_epochs": 1})
    est.fit(Xs[::3], ys[::3], Xt[::3])
    assert est.net_.module_.discriminator is None
    assert "train_adversarial" not in est.histories_["encoder"][-1]
    adv = XDC(**{**FAST, "epochs": 1, "gcn_epochs": 1}).fit(Xs[::3], ys[::3], Xt[::3])
    assert "train_adversarial" in adv.histories_["encoder"][-1]


def test_xdc_few_target_rows():
    Xs, ys, Xt, yt = unseen_blobs(per_class=4)
    est = XDC(**{**FAST, "epochs": 1, "gcn_epochs": 1}).fit(Xs, ys, Xt[:3])
    assert est.labels_.shape == (3,)
    est = XDC(**{**FAST, "epochs": 1, "gcn_epochs": 1}).fit(Xs, ys, Xt[:1])
    assert est.labels_.tolist() == [0]


@pytest.mark.parametrize("params, match", [
    ({"k1": 0}, "k1"), ({"linkage": "single"}, "linkage"), ({"gcn_dims": ()}, "gcn_dims"),
    ({"max_cluster_size": 1.5}, "max_cluster_size"), ({"link_threshold": 1.0}, "link_threshold"),
    ({"lambda_adversarial": -1}, "lambda_adversarial"),
])
def test_xdc_bad_parameters_fail_before_training(blobs, params, match):
    Xs, ys, Xt, yt = blobs
    with pytest.raises(ValueError, match=match):
        XDC(**{**FAST, **params}).fit(Xs, ys, Xt)


def test_xdc_needs_source_labels(blobs):
    Xs, ys, Xt, yt = blobs
    with pytest.raises(ValueError, match="y_source"):
        XDC(**FAST).fit(Xs, None, Xt)


def test_memory_restores_both_stages_for_a_linkage_search(blobs, fitted, tmp_path,
                                                           trained_stages):
    """memory: stage 1 (trained with its DANN schedule) and the GCN are restored, with the
    schedule's last value; the linkage settings train nothing, the GCN's train the GCN only."""
    Xs, ys, Xt, _ = blobs
    trained, _ = trained_stages

    def fit(**kw):
        trained.clear()
        return XDC(**{**FAST, "memory": str(tmp_path), **kw}).fit(Xs, ys, Xt)

    first = fit()
    assert trained == ["encoder", "gcn"]
    np.testing.assert_array_equal(first.labels_, fitted.labels_)
    est = fit()
    assert trained == []
    np.testing.assert_array_equal(est.labels_, fitted.labels_)
    np.testing.assert_array_equal(est.predict(Xt), fitted.predict(Xt))
    coeff = fitted.net_.module_.discriminator.grl.coeff
    assert coeff > 0.9 and est.net_.module_.discriminator.grl.coeff == coeff
    fit(link_threshold=0.6, linkage="components")   # the linkage on the target: restored
    assert trained == []
    fit(gcn_epochs=5)                                # the GCN's setting: stage 1 restored
    assert trained == ["gcn"]
    fit(lambda_adversarial=0.2)      # stage 1's setting: on vectors the GCN sees the inputs
    assert trained == ["encoder"]
    fit(graph_features="embedding")  # a GCN on stage 1's embedding: it follows stage 1
    assert trained == ["gcn"]
    fit(graph_features="embedding", lambda_adversarial=0.3)
    assert trained == ["encoder", "gcn"]
    with pytest.raises(ValueError, match="memory"):
        XDC(**{**FAST, "memory": 3}).fit(Xs, ys, Xt)


def test_tsne_map_of_identical_rows_is_one_point():
    """scikit-learn's Barnes-Hut t-SNE crashes on identical rows: the map is all zeros."""
    from skhda.nn.graph import tsne_map

    np.testing.assert_array_equal(tsne_map(np.ones((12, 64))), np.zeros((12, 2)))
    assert tsne_map(np.ones((12, 64)), normalize=False).shape == (12, 2)
