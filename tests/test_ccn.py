"""CCN family (skhda.ccn) and its pairwise losses (skhda.nn.pairwise)."""

from __future__ import annotations

import math
import pickle
from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.frozen import FrozenEstimator

from skhda import DomainDataset
from skhda._training import DomainBatch
from skhda.ccn import (
    CCN,
    CCNPlus,
    ClassBalancedBatchIterator,
    SimilarityNetwork,
)
from skhda.metrics import cluster_accuracy
from skhda.nn import DomainEncoder, MLPEncoder
from skhda.nn.pairwise import (
    KCL,
    MCL,
    PairwiseSimilarityHead,
    kcl_loss,
    mcl_loss,
    pair_targets,
)

torch.set_num_threads(1)

FAST_G = {"classes_per_batch": 5, "samples_per_class": 8, "embedding_dim": 8,
          "hidden_dims": (32,), "hidden_dim": 32, "epochs": 3, "device": "cpu",
          "random_state": 0}
FAST = {"embedding_dim": 8, "hidden_dims": (32,), "epochs": 2, "device": "cpu",
        "random_state": 0}


# ------------------------------------------------------------------ losses
def test_pair_targets():
    assert pair_targets(torch.tensor([2, 2, 5])).tolist() == [
        [1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_kcl_loss_by_hand():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    kl01 = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)   # KL(p0 || p1)
    kl10 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)   # KL(p1 || p0)
    similar = torch.ones(2, 2)
    assert kcl_loss(p.log(), similar).item() == pytest.approx((kl01 + kl10) / 4, rel=1e-5)
    dissimilar = torch.eye(2)  # self-pairs similar (KL 0), the others dissimilar
    expected = (max(0, 2 - kl01) + max(0, 2 - kl10)) / 4
    assert kcl_loss(p.log(), dissimilar).item() == pytest.approx(expected, rel=1e-5)
    # hinge inactive beyond the margin
    assert kcl_loss(p.log(), dissimilar, margin=0.1).item() == pytest.approx(0.0, abs=1e-7)
    assert KCL(2.0)(p.log(), dissimilar).item() == pytest.approx(expected, rel=1e-5)


def test_kcl_target_side_is_detached():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    # only pair (0, 1) is similar; margin 0 silences the dissimilar pair (1, 0):
    # the loss is KL(p0* || p1) / 4, which depends on row 1's logits only
    kcl_loss(logits, torch.tensor([[1.0, 1.0], [0.0, 1.0]]), margin=0.0).backward()
    assert torch.all(logits.grad[0] == 0) and torch.any(logits.grad[1] != 0)


def test_mcl_loss_by_hand():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    # P = p p^T = [[.5, .5], [.5, .82]]; targets eye: -log(.5) - 2 log(.5) - log(.82), / 4
    expected = (-3 * math.log(0.5) - math.log(0.82)) / 4
    assert mcl_loss(p.log(), torch.eye(2)).item() == pytest.approx(expected, rel=1e-5)
    assert MCL()(p.log(), torch.eye(2)).item() == pytest.approx(expected, rel=1e-5)
    # one-hot, confident and consistent outputs: near-zero loss, finite
    one_hot = torch.tensor([[50.0, 0.0], [0.0, 50.0]])
    assert mcl_loss(one_hot, torch.eye(2)).item() < 1e-5


def test_similarity_head_matrix_matches_pair_enumeration():
    torch.manual_seed(0)
    head = PairwiseSimilarityHead(3, hidden_dim=7)
    head.bn.running_mean.normal_()
    head.eval()
    z = torch.randn(6, 3)
    dense = head(z).softmax(1)[:, 1].reshape(6, 6)
    torch.testing.assert_close(head.similarity_matrix(z, block=4), dense)
    pairs = head.pair_logits(z[[1]], z[[4]]).softmax(1)[0, 1]
    torch.testing.assert_close(pairs, dense[1, 4])


def test_class_balanced_iterator():
    y = torch.arange(90) % 9
    y[y == 8] = 0  # class 8 absent, class 0 twice as large
    ds = DomainDataset(source={"X": torch.randn(90, 2), "y": y}, target={"X": torch.zeros(7, 2)})
    it = ClassBalancedBatchIterator(ds, batch_size=30, classes_per_batch=3,
                                    samples_per_class=10, seed=0)
    for batch, _ in it:
        counts = torch.bincount(batch.source.y, minlength=9)
        assert sorted(counts[counts > 0].tolist()) == [10, 10, 10]
        assert counts[8] == 0
        assert len(batch.target.X) == 7


# ------------------------------------------------------ an unseen-class task
def _task(n_per_class=40, seed=0):
    """Classes differ in 2 informative dims; 18 noise dims (std 3) drown them for k-means.

    Source classes and target classes sit at different places of the same
    informative plane, so what G learns ("close in dims 0-1") transfers.
    """
    rng = np.random.default_rng(seed)

    def make(centres):
        X, y = [], []
        for k, c in enumerate(centres):
            Xi = np.concatenate([c + 0.3 * rng.standard_normal((n_per_class, 2)),
                                 3 * rng.standard_normal((n_per_class, 18))], 1)
            X.append(Xi)
            y += [k] * n_per_class
        return np.concatenate(X).astype(np.float32), np.array(y)

    grid = np.array([[i, j] for i in range(4) for j in range(4)], float) * 3
    Xs, ys = make(grid[::2])      # 8 source classes
    Xt, yt = make(grid[1::2][:5])  # 5 unseen target classes
    return Xs, ys, Xt, yt


# long enough to converge on the small task (about 1.5 s per fit); the task's raw
# neighbourhoods are noise by design (G must do the work), so the target graph is off
FIT = {**FAST, "epochs": 100, "lr": 3e-3, "batch_size": 50, "target_graph": "off"}


@pytest.fixture(scope="module")
def task():
    return _task()


@pytest.fixture(scope="module")
def fitted_g(task):
    Xs, ys, _, _ = task
    return SimilarityNetwork(**{**FAST_G, "epochs": 40}).fit(Xs, ys)


def test_ccn_clusters_unseen_classes_better_than_kmeans(task, fitted_g):
    Xs, ys, Xt, yt = task
    km = cluster_accuracy(yt, KMeans(5, n_init=10, random_state=0).fit_predict(Xt))
    # G transfers to the unseen classes once its BatchNorm statistics are the target's
    scores = fitted_g.pair_scores(Xt, yt, adapt_batchnorm=True)
    assert scores["similar_recall"] > 0.8 and scores["dissimilar_recall"] > 0.9
    for loss in ("mcl", "kcl"):
        est = CCN(5, loss=loss, similarity=fitted_g, **FIT)
        acc = cluster_accuracy(yt, est.fit_predict(Xs, ys, Xt))
        assert acc > km + 0.2 and acc > 0.85, (loss, acc, km)


def test_ccn_with_large_k_finds_about_the_true_count(task, fitted_g):
    Xs, ys, Xt, yt = task
    est = CCN(20, loss="mcl", similarity=FrozenEstimator(fitted_g), **FIT)
    labels = est.fit_predict(Xs, None, Xt)  # a fitted G: no source labels needed
    assert labels.max() < 20
    assert abs(est.n_clusters_found_ - 5) <= 1
    assert cluster_accuracy(yt, labels) > 0.85


# ------------------------------------------------------------- contracts
def test_similarity_network_contract(task):
    Xs, ys, Xt, yt = task
    G = SimilarityNetwork(**FAST_G)
    assert clone(G).get_params() == G.get_params()
    G.fit(Xs, ys)
    assert G.predict_proba(Xt[:7], Xt[7:14]).shape == (7, 2)
    assert set(G.predict(Xt[:7], Xt[7:14]).tolist()) <= {0, 1}
    S = G.similarity_matrix(Xt[:9])
    assert S.shape == (9, 9) and np.all((S >= 0) & (S <= 1))
    np.testing.assert_allclose(G.predict_proba(Xt[2:3], Xt[5:6])[0, 1], S[2, 5], rtol=1e-4)
    assert G.transform(Xt).shape == (len(Xt), 8)
    assert G.similarity_matrix(Xt[:9], adapt_batchnorm=True).shape == (9, 9)
    np.testing.assert_array_equal(G.similarity_matrix(Xt[:9]), S)  # AdaBN did not touch G
    G2 = pickle.loads(pickle.dumps(G))
    np.testing.assert_array_equal(G2.similarity_matrix(Xt[:9]), S)
    again = SimilarityNetwork(**FAST_G).fit(Xs, ys).similarity_matrix(Xt[:9])
    np.testing.assert_array_equal(again, S)
    with pytest.raises(ValueError, match="features"):
        G.similarity_matrix(Xt[:, :5])


def test_similarity_network_images():
    rng = np.random.default_rng(0)
    X = rng.random((40, 8, 8)).astype(np.float32)
    y = np.arange(40) % 4
    G = SimilarityNetwork(classes_per_batch=4, samples_per_class=4, embedding_dim=4,
                          hidden_dim=8, epochs=1, device="cpu", random_state=0,
                          augment=1.0).fit(X, y)
    assert G.similarity_matrix(X.reshape(40, 64)[:5]).shape == (5, 5)
    assert G.augment_ == G.net_.module_.augment.strength == 1.0


def test_similarity_network_jitters_images_by_default():
    """augment="auto": G trains on jittered images (0.5), never on vectors (0)."""
    from skhda.ccn import _AUTO_IMAGE_AUGMENT

    rng = np.random.default_rng(0)
    X = rng.random((40, 8, 8)).astype(np.float32)
    y = np.arange(40) % 4
    fast = {"classes_per_batch": 4, "samples_per_class": 4, "embedding_dim": 4,
            "hidden_dim": 8, "epochs": 1, "device": "cpu", "random_state": 0}
    for G, expected in ((SimilarityNetwork(**fast).fit(X, y), _AUTO_IMAGE_AUGMENT),
                        (SimilarityNetwork(input_shape=(8, 8), **fast).fit(X.reshape(40, 64), y),
                         _AUTO_IMAGE_AUGMENT),
                        (SimilarityNetwork(**fast).fit(X.reshape(40, 64), y), 0.0)):
        assert G.augment == "auto"
        assert G.augment_ == G.net_.module_.augment.strength == expected
    assert _AUTO_IMAGE_AUGMENT == 0.5
    with pytest.raises(ValueError, match="augment"):
        SimilarityNetwork(augment="strong", **fast).fit(X, y)


def test_ccn_contrastive_term_on_images(tiny_images):
    X, y = tiny_images
    G = SimilarityNetwork(classes_per_batch=4, samples_per_class=4, embedding_dim=4,
                          hidden_dim=8, epochs=1, device="cpu", random_state=0).fit(X, y)
    est = CCN(4, loss="mcl", similarity=G, lambda_contrastive=2.0, embedding_dim=8,
              epochs=2, batch_size=20, device="cpu", random_state=0).fit(X, y, X)
    assert "train_contrastive" in est.history_[-1]
    assert est.net_.loss_weights == {"contrastive": 2.0}
    assert est.predict(X).shape == (60,)
    plain = CCN(4, loss="mcl", similarity=G, lambda_contrastive=0.0, embedding_dim=8, epochs=1,
                batch_size=20, device="cpu", random_state=0).fit(X, y, X)
    assert "train_contrastive" not in plain.history_[-1]


def test_ccn_contrastive_auto_follows_the_input(tiny_images):
    """``lambda_contrastive="auto"``: the term on target images, off on vectors; a number wins."""
    X, y = tiny_images
    G = SimilarityNetwork(classes_per_batch=4, samples_per_class=4, embedding_dim=4,
                          hidden_dim=8, epochs=1, device="cpu", random_state=0).fit(X, y)
    common = {"loss": "mcl", "similarity": G, "embedding_dim": 8, "epochs": 1,
              "batch_size": 20, "device": "cpu", "random_state": 0}
    assert CCN(4).lambda_contrastive == "auto"
    images = CCN(4, **common).fit(X, y, X)
    assert images.lambda_contrastive_ == 1.0
    assert images.net_.loss_weights == {"contrastive": 1.0}
    assert "train_contrastive" in images.history_[-1]
    off = CCN(4, lambda_contrastive=0.0, **common).fit(X, y, X)
    assert off.lambda_contrastive_ == 0.0 and "train_contrastive" not in off.history_[-1]
    flat = X.reshape(len(X), -1)
    Gv = SimilarityNetwork(classes_per_batch=4, samples_per_class=4, embedding_dim=4,
                           hidden_dims=(8,), hidden_dim=8, epochs=1, device="cpu",
                           random_state=0).fit(flat, y)
    vectors = CCN(4, **{**common, "similarity": Gv}).fit(flat, y, flat)
    assert vectors.lambda_contrastive_ == 0.0
    assert "train_contrastive" not in vectors.history_[-1]
    with pytest.raises(ValueError, match="lambda_contrastive"):
        CCN(4, **{**common, "lambda_contrastive": "always"}).fit(X, y, X)


def test_ccnplus_contrastive_term_on_images(tiny_images):
    X, y = tiny_images
    common = {"embedding_dim": 8, "epochs": 2, "batch_size": 20, "source_batch_size": 20,
              "device": "cpu", "random_state": 0}
    est = CCNPlus(lambda_cluster=0, adversarial=True, lambda_contrastive=2.0,
                  **common).fit(X, y, X + np.float32(0.1))
    assert {"train_ce", "train_adversarial", "train_contrastive"} <= set(est.history_[-1])
    assert est.net_.loss_weights["contrastive"] == 2.0
    assert set(est.predict(X)) <= set(y)
    plain = CCNPlus(lambda_cluster=0, **common).fit(X, y, X)
    assert "train_contrastive" not in plain.history_[-1]
    for params in ({"lambda_contrastive": -1.0}, {"augment": -0.5}):
        with pytest.raises(ValueError, match=next(iter(params))):
            CCNPlus(**{**common, **params}).fit(X, y, X)
    with pytest.raises(ValueError, match="lambda_contrastive"):   # vectors: no views
        CCNPlus(lambda_contrastive=1.0, **common).fit(X.reshape(60, 64), y, X.reshape(60, 64))


def test_similarity_network_bad_input(task):
    Xs, ys, _, _ = task
    G = SimilarityNetwork(**FAST_G)
    with pytest.raises(ValueError, match="1 class"):
        G.fit(Xs, np.zeros(len(Xs)))
    with pytest.raises(ValueError, match="y"):
        G.fit(Xs, ys[:-1])
    bad = Xs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        G.fit(bad, ys)
    with pytest.raises(Exception, match="not fitted"):
        G.similarity_matrix(Xs)


def test_ccn_contract(task):
    Xs, ys, Xt, yt = task
    params = {**FAST, "similarity": SimilarityNetwork(**FAST_G)}
    est = CCN(5, loss="mcl", **params)
    assert clone(est).get_params()["loss"] == "mcl"
    labels = est.fit_predict(Xs, ys, Xt)
    assert labels.shape == (len(Xt),) and labels.max() < 5
    assert est.predict_proba(Xt).shape == (len(Xt), 5)
    assert est.transform(Xt).shape == (len(Xt), 8)
    assert est.predict(Xs, domain="source").shape == (len(Xs),)
    assert 1 <= est.n_clusters_found_ <= 5
    assert "train_loss" in est.history_[-1]
    np.testing.assert_array_equal(CCN(5, loss="mcl", **params).fit_predict(Xs, ys, Xt), labels)
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est2.predict(Xt), labels)
    clone(est).fit(Xs, ys, Xt)  # the clone refits its (unfitted) similarity network


def test_ccn_data_dependent_params(task):
    """Checks that involve the data (the parameter tables cover the rest)."""
    Xs, ys, Xt, _ = task
    with pytest.raises(ValueError, match="lambda_contrastive"):   # vectors: no views to draw
        CCN(5, **{**FAST, "lambda_contrastive": 1.0}).fit(Xs, ys, Xt)


def test_ccn_bad_input(task, fitted_g):
    Xs, ys, Xt, _ = task
    with pytest.raises(ValueError, match="y_source"):
        CCN(5, **FAST).fit(Xs, None, Xt)  # G must be learned
    with pytest.raises(ValueError, match="X_target"):
        CCN(5, **FAST).fit(Xs, ys, None)
    with pytest.raises(ValueError, match="features"):
        CCN(5, **FAST).fit(Xs, ys, Xt[:, :10].copy())
    G10 = SimilarityNetwork(**FAST_G).fit(Xs[:, :10], ys)
    with pytest.raises(ValueError, match="similarity"):
        CCN(5, similarity=G10, **FAST).fit(Xs, ys, Xt)


def test_ccnplus_heterogeneous_features(task):
    Xs, ys, Xt, yt = task
    Xt16 = (Xs + np.float32(0.3))[:, ::2].copy()       # other features: every second one
    few = np.where(np.arange(len(ys)) % 4 == 0, ys, -1)
    est = CCNPlus(adversarial=True, loss="mcl", similarity=SimilarityNetwork(**FAST_G),
                  **FAST).fit(Xs, ys, Xt16, few)
    enc = est.net_.module_.encoder
    d_t = Xt16.shape[1]
    assert not enc.shared and enc["target"][0].in_features == d_t
    assert est.similarity_.n_features_in_ == d_t         # G learned on the labelled target
    assert {"train_ce", "train_ce_target", "train_cluster",
            "train_adversarial"} <= set(est.history_[-1])
    assert est.predict(Xt16).shape == (len(Xs),)
    assert est.predict(Xs, domain="source").shape == (len(Xs),)
    with pytest.raises(ValueError, match="y_target"):
        CCNPlus(**FAST).fit(Xs, ys, Xt16)                  # no target labels


def test_ccnplus_batchnorm_passes():
    """Without the clustering term (DANN) each domain goes through the network on its own:
    in training, a source row's output (and the source loss) does not depend on the target
    rows of the batch (BatchNorm statistics per domain), while the discriminator sees both.
    With it (CCN+, CCN++) one pass over both domains' rows, so the source loss does."""
    from skhda.ccn import _TransferModel

    class AllSimilar(torch.nn.Module):   # stands in for G's pair labels
        def forward(self, g):
            return torch.ones(len(g), len(g))

    torch.manual_seed(0)
    source = SimpleNamespace(X=torch.randn(5, 6), y=torch.tensor([0, 1, 2, 0, 1]))
    for clustering in (False, True):
        enc = DomainEncoder(MLPEncoder(6, 8, (16,), batch_norm=True))
        supervision = AllSimilar() if clustering else None
        model = _TransferModel(enc, 8, 3, MCL(), supervision, adversarial=True).train()

        def step(n, shift, model=model):
            target = SimpleNamespace(X=torch.randn(n, 6) * shift + shift, g=torch.zeros(n, 1))
            return model(DomainBatch({"source": source, "target": target}))

        a, b = step(7, 5.0), step(9, 3.0)
        bn = model.classifier[0]
        assert model.discriminator.feature_loss == "confusion"
        assert not torch.allclose(a["adversarial"], b["adversarial"])
        if clustering:
            assert not torch.allclose(a["ce"], b["ce"])
            assert bn.num_batches_tracked.item() == 2    # one pass per step
        else:
            torch.testing.assert_close(a["ce"], b["ce"])
            assert bn.num_batches_tracked.item() == 4    # a pass per domain and step


def test_ccnplus_predicts_each_domain_with_its_own_statistics(task):
    """After training, CCN+ re-estimates BatchNorm statistics on each domain's rows
    (DomainStatistics) and loads a domain's set before predicting it."""
    Xs, ys, Xt, yt = task
    Xt_shift = 2.0 * Xs + np.float32(1.0)            # same classes, other scale
    params = {**FAST, "similarity": SimilarityNetwork(**FAST_G)}
    est = CCNPlus(loss="mcl", **params).fit(Xs, ys, Xt_shift)
    stats = est.net_.module_.statistics
    assert bool(stats.estimated.all())
    assert not torch.allclose(stats.source_mean_0, stats.target_mean_0)
    p_t = est.predict_proba(Xt_shift)
    p_s = est.predict_proba(Xt_shift, domain="source")    # the same rows, source statistics
    assert not np.allclose(p_t, p_s)
    np.testing.assert_allclose(est.predict_proba(Xt_shift), p_t)   # switching back repeats


def test_ccnplus_contract(task):
    Xs, ys, Xt, yt = task
    # shared labels: target = source classes, moved a little
    Xt_shift = Xs + np.float32(0.3)
    params = {**FAST, "similarity": SimilarityNetwork(**FAST_G)}
    for adversarial in (False, True):
        est = CCNPlus(adversarial=adversarial, loss="mcl", **params).fit(Xs, ys, Xt_shift)
        assert est.predict(Xt_shift).shape == (len(Xs),)
        assert set(est.predict(Xt_shift)) <= set(ys)
        assert est.predict_proba(Xt_shift).shape == (len(Xs), 8)
        terms = {"ce", "cluster"} | ({"adversarial"} if adversarial else set())
        assert {f"train_{t}" for t in terms} <= set(est.history_[-1])
    a = CCNPlus(adversarial=True, **params).fit(Xs, ys, Xt_shift).predict(Xt_shift)
    b = CCNPlus(adversarial=True, **params).fit(Xs, ys, Xt_shift).predict(Xt_shift)
    np.testing.assert_array_equal(a, b)
    dann = CCNPlus(adversarial=True, lambda_cluster=0, **FAST).fit(Xs, ys, Xt_shift)
    assert not hasattr(dann, "similarity_")
    est2 = pickle.loads(pickle.dumps(dann))
    np.testing.assert_array_equal(est2.predict(Xt_shift), dann.predict(Xt_shift))
    with pytest.raises(ValueError, match="adversarial"):
        CCNPlus(adversarial="yes", **FAST).fit(Xs, ys, Xt_shift)
    with pytest.raises(ValueError, match="source_batch_size"):
        CCNPlus(source_batch_size=0, **FAST).fit(Xs, ys, Xt_shift)
    with pytest.raises(ValueError, match="y_target"):
        bad = np.full(len(Xs), -1)
        bad[0] = 99
        CCNPlus(**FAST).fit(Xs, ys, Xt_shift, bad)


# ------------------------------------------------- the target graph (vectors)
def test_shared_neighbours_override_g_where_confident():
    from skhda.ccn import _PairSupervision, shared_neighbours

    class AllSimilar(torch.nn.Module):   # a G head that calls every pair similar
        def similarity_matrix(self, g):
            return torch.ones(len(g), len(g))

    # rows 0-1 share 3 of 4 list entries, rows 0-2 two, rows 0-3 one
    knn = torch.tensor([[0, 1, 2, 3], [1, 0, 2, 9], [2, 0, 7, 8], [3, 4, 5, 6]])
    assert shared_neighbours(knn)[0].tolist() == [1.0, 0.75, 0.5, 0.25]
    knn[3] = torch.tensor([10, 11, 12, 13])   # now rows 0-3 share none
    sup = _PairSupervision(AllSimilar(), knn=knn, snn_positive=0.6)
    labels = sup(torch.zeros(4, 2), torch.arange(4))
    assert labels[0].tolist() == [1.0, 1.0, 1.0, 0.0]   # 0-2: G's label; 0-3: none shared
    assert sup(torch.zeros(4, 2)).tolist() == torch.ones(4, 4).tolist()   # no index: G alone
    sup.release_graph()
    assert sup.knn is None


def test_ccn_restarts_kept_by_the_graph_cut(task):
    """n_init "auto": 3 clustering nets for vectors, the lowest cut of the target's graph kept."""
    from skhda._training import graph_cut_rank
    from skhda.nn.graph import knn_indices

    Xs, ys, Xt, _ = task
    G = SimilarityNetwork(**{**FAST_G, "epochs": 1})
    est = CCN(5, similarity=G, **{**FAST, "epochs": 2}).fit(Xs, ys, Xt)
    assert est.n_init_ == 3 and len(est.init_scores_) == 3
    kept = graph_cut_rank(knn_indices(Xt, 10), 5, lambda labels: labels,
                          reduce="mean")(est.labels_)
    assert kept == pytest.approx(min(est.init_scores_))
    assert len(est.history_) == 2 and est.histories_["cluster"] is est.history_
    one = CCN(5, similarity=G, n_init=1, **{**FAST, "epochs": 2}).fit(Xs, ys, Xt)
    assert one.n_init_ == 1 and one.init_scores_ == [0.0]
    # without the target graph the neighbourhoods are not trusted: one net
    off = CCN(5, similarity=G, target_graph="off", **{**FAST, "epochs": 1}).fit(Xs, ys, Xt)
    assert off.n_init_ == 1


def test_ccn_target_graph_rule(task):
    """The ``target_graph="auto"`` rule: the target's own graph for vectors; images: see below."""
    Xs, ys, Xt, _ = task
    G = SimilarityNetwork(**{**FAST_G, "epochs": 1})
    est = CCN(5, similarity=G, **{**FAST, "epochs": 1}).fit(Xs, ys, Xt)
    assert est.target_graph_ == "tsne"     # vectors, at most TSNE_MAX_ROWS target rows
    assert est.n_neighbors_ == round(8 / 3 * math.sqrt(len(Xt)))
    with patch("skhda.ccn.TSNE_MAX_ROWS", len(Xt) - 1):   # larger vector targets: raw rows
        est = CCN(5, similarity=G, **{**FAST, "epochs": 1}).fit(Xs, ys, Xt)
    assert est.target_graph_ == "snn"
    assert est.n_neighbors_ == round(4 / 3 * math.sqrt(len(Xt)))
    raw = est.set_params(target_graph="snn")._target_knn(est._validate_fit(Xs, ys, Xt, None))
    est.set_params(target_graph="tsne")
    mapped = est._target_knn(est._validate_fit(Xs, ys, Xt, None))
    assert mapped.shape == (len(Xt), round(8 / 3 * math.sqrt(len(Xt))) + 1)   # twice as many
    assert (raw[:, 0] == mapped[:, 0]).all()                       # itself first
    assert not torch.equal(raw, mapped[:, :raw.shape[1]])
    assert est.net_.module_.supervision.knn is None   # released after training
    est = CCN(5, similarity=G, n_neighbors=7, **{**FAST, "epochs": 1}).fit(Xs, ys, Xt)
    assert est.n_neighbors_ == 7
    est = CCN(5, similarity=G, target_graph="off", **{**FAST, "epochs": 1}).fit(Xs, ys, Xt)
    assert (est.target_graph_, est.n_neighbors_) == ("off", None)
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 8, 8)).astype(np.float32)
    y = np.arange(40) % 4
    G = SimilarityNetwork(classes_per_batch=4, embedding_dim=8, hidden_dim=16, epochs=1)
    est = CCN(4, similarity=G, embedding_dim=8, epochs=1, random_state=0).fit(images, y, images)
    # noise images: the two pixel clusterings disagree, G alone
    assert (est.target_graph_, est.n_neighbors_, est.n_init_) == ("off", None, 1)
    assert est.target_agreement_ < 0.65
    assert CCN(5, similarity=G, **{**FAST, "epochs": 1}).fit(Xs, ys, Xt).target_agreement_ is None
    with pytest.raises(ValueError, match="target_graph"):
        CCN(5, target_graph="knn", **FAST).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="n_neighbors"):
        CCN(5, n_neighbors=0, **FAST).fit(Xs, ys, Xt)


def test_memory_trains_g_once_and_restores_the_target_map(task, tmp_path, request):
    """memory: CCN and CCN+ of one seed share G (trained once, restored after), the vector
    target's t-SNE map is restored too, and every fit ends where the uncached fit ends."""
    Xs, ys, Xt, _ = task
    params = {**FAST, "target_graph": "tsne", "n_init": 1}
    uncached = CCN(5, **params).fit(Xs, ys, Xt)
    trained, maps = request.getfixturevalue("trained_stages")   # after the uncached fit

    def fit(cls=CCN, **kw):
        trained.clear()
        maps.clear()
        first = {"n_clusters": 5, **params} if cls is CCN else FAST
        return cls(**{**first, "memory": str(tmp_path), **kw}).fit(Xs, ys, Xt)

    fit()
    assert trained == ["similarity", "cluster"] and len(maps) == 1
    est = fit()
    assert trained == ["cluster"] and maps == []
    np.testing.assert_array_equal(est.predict_proba(Xt), uncached.predict_proba(Xt))
    assert est.similarity_.memory == str(tmp_path)
    fit(n_clusters=7)                       # the clustering network's parameter: G restored
    assert trained == ["cluster"] and maps == []
    fit(CCNPlus)                            # CCN+ of the same seed learns the same G
    assert trained == ["train"]
    fit(random_state=1)                     # another seed: another G and map
    assert trained == ["similarity", "cluster"] and len(maps) == 1
    entries = sorted(tmp_path.rglob("output.pkl"))
    fit(random_state=None)                  # a fresh seed never repeats: nothing stored
    assert trained == ["similarity", "cluster"]
    assert sorted(tmp_path.rglob("output.pkl")) == entries
    G = SimilarityNetwork(**FAST_G, memory=str(tmp_path / "g"))
    first = G.fit(Xs, ys).similarity_matrix(Xt[:9])
    trained.clear()
    np.testing.assert_array_equal(clone(G).fit(Xs, ys).similarity_matrix(Xt[:9]), first)
    assert trained == []
    with pytest.raises(ValueError, match="memory"):
        CCN(5, **{**params, "memory": 3}).fit(Xs, ys, Xt)
    with pytest.raises(ValueError, match="memory"):
        SimilarityNetwork(memory=3).fit(Xs, ys)


def test_ccn_image_targets_take_the_tsne_graph_where_pixel_clusterings_agree(digits):
    """Digit images with the true K: k-means on the t-SNE map and the 10-NN spectral clustering
    agree, so ``target_graph="auto"`` takes the t-SNE graph (one run: images keep n_init 1),
    and CCN ends clearly above G alone; with too many target rows for t-SNE, G stays alone."""
    Xs, ys, Xt, yt = digits
    Xs, Xt = Xs.reshape(-1, 8, 8), Xt.reshape(-1, 8, 8)
    G = SimilarityNetwork(**{**FAST_G, "epochs": 5}).fit(Xs, ys)
    params = {**FAST, "epochs": 60, "lr": 3e-3, "batch_size": 50, "lambda_contrastive": 0.0,
              "similarity": G}
    est = CCN(5, **params).fit(Xs, ys, Xt)
    assert est.target_graph_ == "tsne" and est.target_agreement_ >= 0.9 and est.n_init_ == 1
    alone = CCN(5, target_graph="off", **params).fit(Xs, ys, Xt)
    acc, acc_alone = cluster_accuracy(yt, est.labels_), cluster_accuracy(yt, alone.labels_)
    assert acc > 0.7 and acc > acc_alone + 0.1, (acc, acc_alone)   # 0.75 against 0.58
    with patch("skhda.ccn.TSNE_MAX_IMAGE_ROWS", len(Xt) - 1):
        est = CCN(5, **{**params, "epochs": 1}).fit(Xs, ys, Xt)
    assert (est.target_graph_, est.target_agreement_) == ("off", None)
    est = CCN(5, **{**params, "epochs": 1, "target_graph": "tsne"}).fit(Xs, ys, Xt)
    assert est.n_init_ == 3 and est.target_agreement_ is None   # asked for: the usual restarts
    # bad input fails before the rule's t-SNE map and spectral clustering run
    with patch("skhda.ccn.tsne_map", side_effect=AssertionError("t-SNE ran")):
        with pytest.raises(ValueError, match="y_source"):
            CCN(5, **{**params, "similarity": None}).fit(Xs, None, Xt)
    # identical target images: one t-SNE point (no crash), G alone
    est = CCN(4, **{**params, "epochs": 1}).fit(Xs, ys, np.ones_like(Xt[:40]))
    assert est.target_graph_ == "off" and est.labels_.shape == (40,)
