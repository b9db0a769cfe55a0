"""TDCM: the centroid blocks and loss pieces, the estimator contract, no collapse, learning."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans

from skhda import Domain
from skhda.datasets import make_domain_shift_blobs
from skhda.metrics import cluster_accuracy
from skhda.nn.centroid_blocks import (
    CentroidBlocks,
    CentroidUpdatingBlock,
    assignment_consistency,
    batch_standardize,
    block_weights,
    clustering_loss,
    orthogonal_centroids,
    orthogonality_penalty,
    size_balance_loss,
)
from skhda.tdcm import _AUTO_NEIGHBORS, TDCM

FAST = {"epochs": 3, "n_init": 1, "embedding_dim": 4, "hidden_dims": (16,), "batch_size": 64,
        "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def blobs():
    return make_domain_shift_blobs(3, 300, random_state=0)


# ------------------------------------------------------------- nn pieces
def test_score_is_zero_at_the_centroid_and_negative_elsewhere():
    torch.manual_seed(0)
    block = CentroidUpdatingBlock(3)
    with torch.no_grad():
        block.query.add_(0.1 * torch.randn(3, 3))
        block.key.copy_(block.query)
    c = torch.randn(2, 3)
    z = torch.cat([c, c + torch.randn(2, 3)])
    s = block.score(z, c)
    assert torch.allclose(s[[0, 1], [0, 1]], torch.zeros(2))
    assert (s[2:] < 0).all()


def test_score_with_identity_weights_is_negative_squared_distance():
    block = CentroidUpdatingBlock(2, temperature=2.0)
    with torch.no_grad():
        s = block.score(torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 0.0]]))
    assert float(s) == pytest.approx(-25.0 / 2.0)


def test_weights_are_symmetric_unless_ablated():
    block = CentroidUpdatingBlock(3)
    with torch.no_grad():
        block.query.copy_(torch.arange(9.0).view(3, 3))
    w_q, _ = block.weights()
    assert torch.equal(w_q, w_q.T)
    block.symmetric = False
    assert not torch.equal(block.weights()[0], block.weights()[0].T)


def test_centroid_update_is_the_soft_mean():
    block = CentroidUpdatingBlock(1)
    z = torch.tensor([[0.0], [2.0], [10.0]])
    with torch.no_grad():
        delta, c = block(z, torch.tensor([[1.0], [9.0]]))
    expected = (delta.T @ z) / delta.sum(0, keepdim=True).T
    assert torch.allclose(c, expected)
    assert c[0, 0] == pytest.approx(1.0, abs=1e-3) and c[1, 0] == pytest.approx(10.0, abs=1e-3)


def test_loss_pieces_by_hand():
    delta = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    score = torch.tensor([[-2.0, -4.0], [-1.0, -3.0]])
    assert float(clustering_loss(delta, score)) == pytest.approx((3.0 + 1.0) / 2)
    pi = np.array([0.75, 0.25])
    assert float(size_balance_loss(delta)) == pytest.approx(
        np.log(2) + (pi * np.log(pi)).sum(), rel=1e-5)
    w = torch.tensor([[1.0, 1.0], [0.0, 1.0]])   # W W^T - I = [[1, 1], [1, 0]]
    assert float(orthogonality_penalty(w)) == pytest.approx(3.0)
    assert block_weights(3).tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6])


def test_initial_centroids_are_orthonormal_and_a_fallback_for_small_dims():
    c = orthogonal_centroids(3, 5)
    assert torch.allclose(c @ c.T, torch.eye(3))
    c = orthogonal_centroids(6, 2)
    assert c.shape == (6, 2) and torch.allclose(c.norm(dim=1), torch.ones(6), atol=1e-6)
    assert len(torch.unique(c.round(decimals=4), dim=0)) == 6


def test_standardisation_fixes_the_spread():
    z = batch_standardize(1e-3 * torch.randn(50, 3, dtype=torch.float64) + 7.0)
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=z.dtype), atol=1e-4)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(3, dtype=z.dtype), atol=1e-2)


def test_blocks_cluster_separated_points_from_orthogonal_centroids():
    blocks = CentroidBlocks(3, 3, n_blocks=4)
    z = torch.cat([torch.randn(20, 3) * 0.1 + 3 * torch.eye(3)[k] for k in range(3)])
    labels = blocks.predict(z)
    assert labels.tolist() == [0] * 20 + [1] * 20 + [2] * 20
    clustering, balance = blocks.losses(z)
    assert float(balance) < 1e-3 and float(clustering) > 0
    assert float(blocks.orthogonality()) == 0.0


# ------------------------------------------------------ estimator contract
def test_fit_predict_transform_shapes(blobs):
    Xs, ys, Xt, yt = blobs
    est = TDCM(n_clusters=3, **FAST)
    assert est.fit(Xs, None, Xt) is est
    labels = est.predict(Xt)
    assert labels.shape == (len(Xt),) and labels.min() >= 0 and labels.max() < 3
    assert est.transform(Xt).shape == (len(Xt), 4)
    np.testing.assert_allclose(est.predict_proba(Xt).sum(1), 1.0, rtol=1e-5)
    assert est.predict(Xs, domain="source").shape == (len(Xs),)
    assert est.cluster_centers_.shape == (3, 4) and est.n_features_in_ == 2
    assert not hasattr(est, "classes_")
    assert "train_cluster" in est.history_[-1]
    assert 0.0 <= est.score(Xt, yt) <= 1.0
    assert clone(est).fit_predict(Xs, None, Xt).shape == (len(Xt),)


def test_labels_are_optional_and_ignored(blobs):
    Xs, ys, Xt, yt = blobs
    a = TDCM(n_clusters=3, **FAST).fit(Xs, None, Xt).predict(Xt)  # no y_source
    b = TDCM(**FAST).fit(Xs, ys, Xt).predict(Xt)                  # K from y_source
    c = TDCM(n_clusters=3, **FAST).fit(Xs, (ys + 1) % 3, Domain(Xt, y=yt)).predict(Xt)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="n_clusters"):
        TDCM(**FAST).fit(Xs)


def test_same_seed_same_labels_clone_and_pickle(blobs):
    Xs, ys, Xt, yt = blobs
    est = TDCM(n_clusters=3, **FAST)
    assert clone(est).get_params() == est.get_params()
    pickle.loads(pickle.dumps(est))
    a = est.fit(Xs).predict(Xt)
    np.testing.assert_array_equal(a, TDCM(n_clusters=3, **FAST).fit(Xs).predict(Xt))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(Xt), a)
    assert not hasattr(clone(est), "net_")


def test_verbose_zero_is_silent(blobs, capsys):
    TDCM(n_clusters=3, **FAST).fit(blobs[0])
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


@pytest.mark.parametrize("param, value", [("adapt_max_rows", 2), ("batch_size", 2)])
def test_params_checked_against_the_cluster_count(blobs, param, value):
    """Checks that involve n_clusters (the parameter tables cover the rest)."""
    est = TDCM(n_clusters=3, **{**FAST, param: value})
    with pytest.raises(ValueError, match=param):
        est.fit(blobs[0])


def test_large_inputs_adapt_on_a_subset(blobs):
    Xs, ys, Xt, yt = blobs
    est = TDCM(n_clusters=3, **{**FAST, "adapt_max_rows": 50}).fit(Xs)
    a = est.predict(Xt)
    assert a.shape == (len(Xt),)
    np.testing.assert_array_equal(a, est.predict(Xt))


def test_finetuning_and_heterogeneous_target(blobs):
    Xs, ys, Xt, yt = blobs
    est = TDCM(n_clusters=3, finetune_epochs=2, **FAST).fit(Xs, None, Xt)
    assert set(est.histories_) == {"train", "finetune"} and len(est.histories_["finetune"]) == 2
    assert len(est.history_) == FAST["epochs"]
    Xt3 = np.c_[Xt, Xt[:, :1]]                     # 3 target features: a target encoder
    est = TDCM(n_clusters=3, **FAST).fit(Xs, None, Xt3)   # trained with the source rows
    assert set(est.histories_) == {"train"}
    assert est.predict(Xt3).shape == (len(Xt3),)
    est = TDCM(n_clusters=3, use_target=False, **FAST).fit(Xs, None, Xt3)
    assert "finetune" in est.histories_                   # the paper's path: learned here
    assert est.predict(Xt3).shape == (len(Xt3),)
    with pytest.raises(ValueError, match="features"):
        est.predict(Xs)


def test_ablation_switches_reach_the_module(blobs):
    est = TDCM(n_clusters=3, symmetric=False, beta=0.0, orthogonal_weight=0.0,
               lambda_neighbors=0.0, **FAST)
    est.fit(blobs[0])
    block = est.net_.module_.blocks.blocks[0]
    assert block.symmetric is False
    assert est.net_.loss_weights == {"balance": 0.0, "orthogonality": 0.0}


def test_encoder_activation_switch(blobs):
    leaky = TDCM(n_clusters=3, **FAST).fit(blobs[0]).net_.module_.encoder
    plain = TDCM(n_clusters=3, encoder_negative_slope=0.0, **FAST).fit(blobs[0])
    acts = {type(m) for m in leaky.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU))}
    assert acts == {torch.nn.LeakyReLU}
    assert any(isinstance(m, torch.nn.ReLU) for m in plain.net_.module_.encoder.modules())


def test_contrastive_option_on_images(blobs):
    import skhda

    Xs, ys, Xt, yt = skhda.datasets.load_digits_transfer("shared")
    Xs, Xt = Xs[::4].reshape(-1, 8, 8) / 16, Xt[::4].reshape(-1, 8, 8) / 16
    est = TDCM(10, pretrain_epochs=2, lambda_contrastive=1.0, epochs=2, n_init=2,
               batch_size=64, random_state=0, device="cpu").fit(Xs)
    assert len(est.histories_["pretrain"]) == 2
    assert "train_contrastive" in est.history_[-1]
    assert est.net_.loss_weights["contrastive"] == 1.0
    assert est.predict(Xt).shape == (len(Xt),)
    # pretraining alone: the main stage has no contrastive term
    est = TDCM(10, pretrain_epochs=1, lambda_contrastive=0.0, lambda_consistency=0.0, epochs=1,
               n_init=1, batch_size=64, random_state=0, device="cpu").fit(Xs)
    assert "train_contrastive" not in est.history_[-1] and "pretrain" in est.histories_
    with pytest.raises(ValueError, match="pretrain_epochs"):
        TDCM(n_clusters=3, pretrain_epochs=1, **FAST).fit(blobs[0])
    # the consistency term alone: two views drawn, the contrastive term weighted 0
    est = TDCM(10, pretrain_epochs=0, lambda_contrastive=0.0, lambda_consistency=2.0, epochs=1,
               n_init=1, batch_size=64, random_state=0, device="cpu").fit(Xs)
    assert {"train_consistency", "train_contrastive"} <= set(est.history_[-1])
    assert est.net_.loss_weights == {"balance": 1.0, "orthogonality": 1.0, "contrastive": 0.0,
                                     "consistency": 2.0}
    with pytest.raises(ValueError, match="lambda_consistency"):
        TDCM(n_clusters=3, lambda_consistency=1.0, **FAST).fit(blobs[0])


def test_assignment_consistency_rewards_views_that_agree():
    blocks = CentroidBlocks(2, 2, n_blocks=2)
    z = torch.tensor([[3.0, 0.0], [3.2, 0.0], [0.0, 3.0], [0.0, 3.2]])
    centroids = blocks.adapt(z)
    same = assignment_consistency(blocks, z, z)
    swapped = assignment_consistency(blocks, z, z.flip(0))    # each row's view elsewhere
    agree = (blocks.assign(z, centroids) ** 2).sum(1)
    assert float(same) == pytest.approx(float(-agree.log().mean()), rel=1e-5)
    assert float(same) < 0.1 < float(swapped)


def test_blocks_start_from_given_centroids():
    blocks = CentroidBlocks(2, 2, n_blocks=2)
    z = torch.tensor([[2.0, 0.0], [2.2, 0.0], [0.0, 2.0], [0.0, 2.2]])
    swapped = blocks.adapt(z, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert torch.allclose(swapped, blocks.adapt(z).flip(0))


# ---------------------------------------------------- no collapse, learning
SEPARABLE = {"hidden_dims": (32,), "embedding_dim": 10, "epochs": 30, "n_init": 1,
             "device": "cpu"}


@pytest.fixture(scope="module")
def shifted_sets():
    """Two generated K = 5 problems: the learning tests must not hang on one lucky dataset."""
    return [make_domain_shift_blobs(5, 1000, random_state=seed) for seed in (0, 1)]


@pytest.fixture(scope="module")
def fitted_set(shifted_sets):
    return [TDCM(n_clusters=5, random_state=0, **SEPARABLE).fit(data[0]) for data in shifted_sets]


def test_no_collapse_on_separable_data(fitted_set, shifted_sets):
    for fitted, (Xs, _, Xt, _) in zip(fitted_set, shifted_sets, strict=True):
        for X in (Xs, Xt):
            sizes = np.bincount(fitted.predict(X), minlength=5) / len(X)
            assert sizes.min() > 0.05, sizes          # every cluster used, none dominant
        model = fitted.net_.module_
        with torch.no_grad():
            raw = model.embed(torch.as_tensor(Xt, dtype=torch.float32), "target")
        assert raw.std(0).max() > 1e-2                 # the encoder did not shrink to a point


def test_the_literal_loss_is_minimal_at_a_collapsed_embedding():
    """FINDINGS.md: a constant embedding zeroes both terms; standardising forbids it."""
    blocks = CentroidBlocks(3, 4)
    clustering, balance = blocks.losses(torch.full((40, 4), 0.3))
    assert float(clustering) == pytest.approx(0.0, abs=1e-6)
    assert float(balance) == pytest.approx(0.0, abs=1e-6)
    z = torch.randn(40, 4) * 1e-3 + 0.3                # nearly collapsed
    assert float(blocks.losses(z)[0]) < 1e-4
    assert float(blocks.losses(batch_standardize(z))[0]) > 0.1


def test_tdcm_beats_source_kmeans_on_the_shifted_target(fitted_set, shifted_sets):
    ours, baseline, source = [], [], []
    for fitted, (Xs, ys, Xt, yt) in zip(fitted_set, shifted_sets, strict=True):
        kmeans = KMeans(5, n_init=10, random_state=0).fit(Xs)
        baseline.append(cluster_accuracy(yt, kmeans.predict(Xt)))
        ours.append(cluster_accuracy(yt, fitted.predict(Xt)))
        source.append(cluster_accuracy(ys, fitted.predict(Xs, domain="source")))
    assert np.mean(ours) > np.mean(baseline) + 0.05, (ours, baseline)
    assert np.mean(source) > 0.9, source


def test_adaptation_restarts_and_the_paper_path(fitted_set, shifted_sets):
    """``adapt_n_init=1`` is the paper's single forward pass from the orthogonal centroids."""
    fitted = fitted_set[0]
    Xt = fitted._validate_X(shifted_sets[0][2], "target")
    blocks = fitted.net_.module_.blocks
    z = torch.as_tensor(fitted.transform(Xt))
    many = fitted._adapt(Xt, "target")[2]
    np.testing.assert_array_equal(many, fitted._adapt(Xt, "target")[2])   # deterministic
    fitted.set_params(adapt_n_init=1)
    try:
        one = fitted._adapt(Xt, "target")[2]
    finally:
        fitted.set_params(adapt_n_init=4)
    with torch.no_grad():
        paper = blocks.adapt(z).numpy()
        loss = [float(sum(blocks.losses(z, initial=torch.as_tensor(c))))
                for c in (one, many)]
    np.testing.assert_allclose(one, paper, rtol=1e-4, atol=1e-5)
    assert np.isfinite(loss).all()


def test_target_and_neighbour_rules_follow_the_data(blobs):
    """use_target / lambda_neighbors "auto": target rows when given; neighbours for vectors."""
    Xs, ys, Xt, yt = blobs
    est = TDCM(n_clusters=3, **FAST)
    both = est._validate_fit(Xs, None, Xt, None)
    alone = est._validate_fit(Xs, None, None, None)
    assert est._trains_on_target(both) and not est._trains_on_target(alone)
    assert est._neighbor_weight(both) == _AUTO_NEIGHBORS > 0
    images = est._validate_fit(np.tile(Xs[:, :1, None], (1, 6, 6)), None, None, None)
    assert est._neighbor_weight(images) == 0.0
    est.set_params(use_target=False, lambda_neighbors=0.5)
    assert not est._trains_on_target(both) and est._neighbor_weight(images) == 0.5


def test_training_on_target_rows_with_neighbour_pairs(blobs):
    Xs, ys, Xt, yt = blobs
    est = TDCM(n_clusters=3, **FAST).fit(Xs, None, Xt)
    assert set(est.histories_) == {"train"}                 # no separate fine-tuning stage
    assert "train_neighbors" in est.history_[-1]
    assert est.net_.module_.pool == {}                      # the rows are not kept
    pickle.loads(pickle.dumps(est)).predict(Xt)
    paper = TDCM(n_clusters=3, **{**FAST, "use_target": False, "lambda_neighbors": 0}).fit(
        Xs, None, Xt)
    assert "train_neighbors" not in paper.history_[-1]


def test_restarts_rule_and_the_graph_cut_choice(blobs):
    """n_init "auto": 3 restarts for vectors (1 for images), kept by the graph cut or the loss."""
    Xs, ys, Xt, yt = blobs
    fast = {k: v for k, v in FAST.items() if k != "n_init"}
    est = TDCM(n_clusters=3, **fast)
    assert est._n_restarts(est._validate_fit(Xs, None, Xt, None)) == 3
    images = est._validate_fit(np.tile(Xs[:, :1, None], (1, 6, 6)), None, None, None)
    assert est._n_restarts(images) == 1
    est.fit(Xs, None, Xt)
    assert est.n_init_ == 3 and len(est.init_losses_) == 3
    from skhda.metrics import knn_normalized_cut
    from skhda.nn.graph import knn_indices

    kept = knn_normalized_cut(knn_indices(Xt, est.n_neighbors), est.predict(Xt), 3)
    assert kept == pytest.approx(min(est.init_losses_))     # the kept run has the lowest cut
    by_loss = clone(est).set_params(restart_criterion="loss").fit(Xs, None, Xt)
    assert min(by_loss.init_losses_) == pytest.approx(by_loss.history_[-1, "train_loss"])



def test_auto_view_settings_follow_the_input(blobs):
    import skhda

    Xs, ys, Xt, yt = skhda.datasets.load_digits_transfer("shared")
    imgs_s, imgs_t = Xs[::4].reshape(-1, 8, 8) / 16, Xt[::4].reshape(-1, 8, 8) / 16
    # images: the contrastive pretraining and both view terms are on
    est = TDCM(10, epochs=1, batch_size=64, random_state=0, device="cpu")
    est.fit(imgs_s, None, imgs_t)
    views = (est.pretrain_epochs_, est.lambda_contrastive_, est.lambda_consistency_)
    assert views == (5, 10.0, 3.0)
    assert len(est.histories_["pretrain"]) == 5 and est.epochs_ == 1
    assert est.net_.loss_weights["contrastive"] == 10.0
    assert est.net_.loss_weights["consistency"] == 3.0
    assert est.get_params()["pretrain_epochs"] == "auto"   # the parameter is left as given
    # an explicit value wins over "auto"
    est = TDCM(10, pretrain_epochs=0, lambda_consistency=0.0, epochs=1, batch_size=64,
               random_state=0, device="cpu").fit(imgs_s)
    views = (est.pretrain_epochs_, est.lambda_contrastive_, est.lambda_consistency_)
    assert views == (0, 10.0, 0.0)
    assert "pretrain" not in est.histories_ and "consistency" not in est.net_.loss_weights
    # vectors: all off, 50 epochs
    est = TDCM(n_clusters=3, **{**FAST, "epochs": "auto"}).fit(blobs[0])
    assert (est.pretrain_epochs_, est.lambda_contrastive_, est.lambda_consistency_) == (0, 0.0, 0.0)
    assert est.epochs_ == 50 and "pretrain" not in est.histories_


def test_memory_restores_the_pretraining_and_the_runs(tmp_path, request):
    """memory: a repeated fit restores the image pretraining and every run and ends where the
    uncached fit ends; the fit without X_target shares the pretraining; a change of what the
    runs depend on trains them again, and one of what follows them does not."""
    import skhda

    Xs, _, Xt, _ = skhda.datasets.load_digits_transfer("shared")
    Xs, Xt = Xs[::4].reshape(-1, 8, 8) / 16, Xt[::4].reshape(-1, 8, 8) / 16
    params = {"n_clusters": 10, "pretrain_epochs": 1, "epochs": 1, "n_init": 2,
              "batch_size": 64, "random_state": 0, "device": "cpu"}
    uncached = TDCM(**params).fit(Xs, X_target=Xt)
    trained, _ = request.getfixturevalue("trained_stages")   # after the uncached fit

    def fit(target=Xt, **kw):
        trained.clear()
        return TDCM(**{**params, "memory": str(tmp_path), **kw}).fit(Xs, X_target=target)

    fit()
    assert trained == ["pretrain", "train", "train"]
    est = fit()
    assert trained == []
    np.testing.assert_array_equal(est.predict_proba(Xt), uncached.predict_proba(Xt))
    assert est.init_losses_ == uncached.init_losses_
    assert ([e["train_loss"] for e in est.histories_["pretrain"]]
            == [e["train_loss"] for e in uncached.histories_["pretrain"]])
    fit(n_init=3, adapt_n_init=2)    # the first two runs restored, the third trained
    assert trained == ["train"]
    fit(target=None)                 # on the source only: the same pretraining
    assert trained == ["train", "train"]
    fit(beta=5.0)                    # a setting of the runs: trained again
    assert trained == ["train", "train"]
    fit(augment=0.2)                 # a setting of the pretraining: everything again
    assert trained == ["pretrain", "train", "train"]
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(Xt), est.predict(Xt))
    assert clone(est).memory == str(tmp_path)
    with pytest.raises(ValueError, match="memory"):
        TDCM(**{**params, "memory": 3}).fit(Xs)
