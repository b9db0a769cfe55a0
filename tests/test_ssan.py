"""SSAN (skhda.ssan) and its alignment pieces (skhda.nn.alignment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.svm import LinearSVC

from skhda import SSAN
from skhda.nn.alignment import (
    class_sums,
    prototype_pseudo_labels,
    semantic_alignment_loss,
    soft_label_loss,
    source_soft_labels,
)
from skhda.nn.encoders import Projector

torch.set_num_threads(1)


def clone_fit(est, *args):
    return clone(est).fit(*args)

FAST = {"embedding_dim": 32, "hidden_dims": (32,), "epochs": 2, "steps_per_epoch": 20,
        "device": "cpu", "random_state": 0}


# ------------------------------------------------------------- the pieces
def test_class_sums_ignore_unlabelled_rows():
    z = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 10.0], [5.0, 0.0]])
    sums, counts = class_sums(z, torch.tensor([1, 1, -1, 0]), 3)
    assert sums.tolist() == [[5.0, 0.0], [4.0, 6.0], [0.0, 0.0]]
    assert counts.tolist() == [1.0, 2.0, 0.0]


def test_source_soft_labels_by_hand():
    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0], [0.0, 10.0]])
    q, counts = source_soft_labels(logits, torch.tensor([0, 0, 1]), 2, temperature=5.0)
    e = np.exp(1.0)                                  # softmax([1, 0]) = [e, 1] / (e + 1)
    row0 = (np.array([e / (e + 1), 1 / (e + 1)]) + np.array([0.5, 0.5])) / 2
    np.testing.assert_allclose(q[0].numpy(), row0, rtol=1e-6)
    e2 = np.exp(2.0)
    np.testing.assert_allclose(q[1].numpy(), [1 / (1 + e2), e2 / (1 + e2)], rtol=1e-6)
    assert counts.tolist() == [2.0, 1.0]


def test_soft_label_loss_by_hand():
    q = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    logits = torch.tensor([[0.0, 0.0], [np.log(3.0), 0.0]])   # p = [.5, .5] and [.75, .25]
    expected = -(0.8 * np.log(0.5) + 0.2 * np.log(0.5)
                 + 0.3 * np.log(0.75) + 0.7 * np.log(0.25)) / 2
    loss = soft_label_loss(logits, torch.tensor([0, 1]), q)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_prototype_pseudo_labels_agreement_and_missing_prototype():
    zl = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    yl = torch.tensor([0, 1, 1])                              # class 2 has no prototype
    zu = torch.tensor([[1.0, 0.2], [0.1, 1.0], [1.0, 1.1], [-1.0, -1.0]])
    logits = torch.tensor([[3.0, 0.0, 0.0],     # nearest 0, classifier 0 -> 0
                           [3.0, 0.0, 0.0],     # nearest 1, classifier 0 -> -1
                           [0.0, 1.0, 0.0],     # nearest 1 (cosine), classifier 1 -> 1
                           [0.0, 0.0, 5.0]])    # classifier 2: no prototype 2 -> -1
    labels = prototype_pseudo_labels(zu, logits, zl, yl, 3)
    assert labels.tolist() == [0, -1, 1, -1]


def test_semantic_alignment_loss_by_hand():
    zs = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
    ys = torch.tensor([0, 0, 1])
    zt = torch.tensor([[4.0, 0.0], [9.0, 9.0], [1.0, 3.0]])
    yt = torch.tensor([0, -1, 2])                 # class 1 has no target row, class 2 no source
    # class 0: mu_s = (1, 0), mu_t = (4, 0), mu_st = (2, 0): 9 + 1 + 4
    assert semantic_alignment_loss(zs, ys, zt, yt, 3).item() == pytest.approx(14.0)
    zs.requires_grad_(True)
    semantic_alignment_loss(zs, ys, zt, yt, 3).backward()
    assert torch.count_nonzero(zs.grad[2]) == 0   # an unmatched class adds nothing


def test_projector_is_normalised_and_restricts_exactly():
    torch.manual_seed(0)
    proj = Projector(20, 8, hidden_dims=(6,))
    assert isinstance(proj[1], torch.nn.LeakyReLU) and isinstance(proj[-1], torch.nn.LeakyReLU)
    X = torch.randn(5, 20, dtype=torch.float64).float()
    np.testing.assert_allclose(proj(X).norm(dim=1).detach().numpy(), 1.0, rtol=1e-6)
    _, _, vt = np.linalg.svd(X.numpy(), full_matrices=False)
    basis = torch.as_tensor(vt.T)                                # (20, 5)
    before = proj(X).detach()
    proj.restrict_inputs(basis)
    assert proj[0].weight.shape == (6, 5) and proj.in_features == 5
    np.testing.assert_allclose(proj(X @ basis).detach().numpy(), before.numpy(), atol=1e-5)


# ---------------------------------------------------------- the estimator
def _two_views(shots, seed):
    """Digits: source rows with 64 pixels, target rows as 4x4-pooled 16 features."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    s, t = order[:900], order[900:]
    Xs, ys = X[s], y[s]
    Xt = X[t].reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    yt = y[t]
    labelled = np.zeros(len(t), dtype=bool)
    for k in range(10):
        labelled[rng.choice(np.flatnonzero(yt == k), shots, replace=False)] = True
    return Xs, ys, Xt, np.where(labelled, yt, -1), yt, labelled


@pytest.fixture(scope="module")
def two_views():
    """Three labelled target rows per class (the paper's protocol)."""
    return _two_views(3, 0)


def test_ssan_beats_svm_on_the_labelled_shots():
    # one labelled target row per class: SVMt 0.42, SSAN 0.56 (0.63 / 0.66 / 0.66 with
    # seeds 1-3 against 0.57 / 0.56 / 0.60)
    Xs, ys, Xt, y_few, yt, labelled = _two_views(1, 0)
    svm = LinearSVC(C=1.0).fit(Xt[labelled], yt[labelled])
    svm_acc = svm.score(Xt[~labelled], yt[~labelled])
    est = SSAN(embedding_dim=64, hidden_dims=(64,), epochs=5, steps_per_epoch=100,
               device="cpu", random_state=0).fit(Xs, ys, Xt, y_few)
    acc = est.score(Xt[~labelled], yt[~labelled])
    assert acc > svm_acc + 0.08, (acc, svm_acc)
    assert est.score(Xs, ys, domain="source") > 0.95
    assert {"train_ce", "train_ce_target", "train_soft", "train_esa",
            "train_adversarial"} <= set(est.history_[-1])
    assert len(est.history_) == 5 and est.history_[-1]["train_batch_count"] == 100
    # the pseudo-labels: labelled rows keep theirs, most selected ones are right
    assert np.array_equal(est.pseudo_labels_[labelled], yt[labelled])
    sel = (est.pseudo_labels_ != -1) & ~labelled
    assert sel.mean() > 0.5 and (est.pseudo_labels_[sel] == yt[sel]).mean() > acc - 0.05


def test_ablation_switches_drop_their_terms(two_views):
    Xs, ys, Xt, y_few, yt, labelled = two_views
    est = SSAN(alpha=0.0, beta=0.0, gamma=0.0, **FAST).fit(Xs, ys, Xt, y_few)
    assert set(k for k in est.history_[-1] if k.startswith("train_")) >= {"train_ce"}
    assert not {"train_soft", "train_esa", "train_adversarial"} & set(est.history_[-1])
    assert est.net_.module_.discriminator is None
    for mode in ("classifier", "none"):
        est = SSAN(pseudo_labels=mode, **FAST).fit(Xs, ys, Xt, y_few)
        assert "train_esa" in est.history_[-1]
    assert np.array_equal(est.pseudo_labels_ != -1, labelled)   # "none": labelled rows only


def test_row_space_is_exact_on_the_training_rows(two_views):
    Xs, ys, Xt, y_few, yt, labelled = two_views
    # 40 target rows of 64 features (another view: the pixels reversed): a 40-d row space
    Xt64 = Xs[:40, ::-1].copy()
    y40 = np.where(np.arange(40) < 20, ys[:40], -1)
    short = {**FAST, "epochs": 1, "steps_per_epoch": 10}
    a = SSAN(row_space=True, **short).fit(Xs, ys, Xt64, y40)
    b = SSAN(row_space=False, **short).fit(Xs, ys, Xt64, y40)
    assert a.net_.module_.inputs["target"].basis.shape == (64, 40)
    assert b.net_.module_.inputs["target"].basis is None
    # equal up to float round-off (amplified by SGD steps)
    np.testing.assert_allclose(a.predict_proba(Xt64), b.predict_proba(Xt64), atol=1e-3)
    np.testing.assert_allclose(a.transform(Xs, "source"), b.transform(Xs, "source"), atol=1e-3)


def test_raw_counts_work_with_the_default_normalisation(two_views):
    Xs, ys, Xt, y_few, yt, labelled = two_views
    # scaled counts: without row normalisation the raw scale would saturate the projector
    est = SSAN(**FAST).fit(Xs * 1000, ys, Xt * 1000, y_few)
    ref = SSAN(**FAST).fit(Xs, ys, Xt, y_few)
    np.testing.assert_allclose(est.predict_proba(Xt * 1000), ref.predict_proba(Xt), atol=1e-4)
    root = SSAN(input_norm="sqrt-l2", **FAST)   # scale-free too
    np.testing.assert_allclose(root.fit(Xs * 1000, ys, Xt * 1000, y_few).predict_proba(Xt),
                               clone_fit(root, Xs, ys, Xt, y_few).predict_proba(Xt), atol=1e-4)
    raw = SSAN(input_norm=None, **FAST).fit(Xs, ys, Xt, y_few)
    assert not np.allclose(raw.predict_proba(Xt), ref.predict_proba(Xt), atol=1e-3)


def test_target_labels_rules(two_views):
    Xs, ys, Xt, y_few, yt, labelled = two_views
    with pytest.raises(ValueError, match="labelled target row.*y_target"):
        SSAN(**FAST).fit(Xs, ys, Xt)                     # different features, no labels
    foreign = y_few.copy()
    foreign[np.flatnonzero(labelled)[0]] = 42
    with pytest.raises(ValueError, match=r"y_target has labels \[42\]"):
        SSAN(**FAST).fit(Xs, ys, Xt, foreign)
    # same features and no target labels: one projector, no labelled-target terms
    est = SSAN(**{**FAST, "epochs": 3, "steps_per_epoch": 100}).fit(Xs[:450], ys[:450],
                                                                   Xs[450:])
    assert "train_ce_target" not in est.history_[-1] and "train_esa" in est.history_[-1]
    assert est.net_.module_.projector.shared
    assert est.score(Xs[450:], ys[450:]) > 0.8


def test_string_labels_minibatches_and_source_predictions(two_views):
    Xs, ys, Xt, y_few, yt, labelled = two_views
    names = np.array(list("abcdefghij"))
    # string labels, with a target labelled in full (y_target marks unlabelled rows with -1,
    # which only integer labels can hold)
    est = SSAN(batch_size=64, **FAST).fit(Xs, names[ys], Xt[labelled], names[yt[labelled]])
    assert est.predict(Xt).dtype.kind == "U" and set(est.predict(Xt)) <= set(names)
    assert est.predict(Xs, domain="source").shape == (len(Xs),)
    assert est.predict_proba(Xt).shape == (len(Xt), 10)
    assert list(est.pseudo_labels_) == list(names[yt[labelled]])
    assert est.history_[-1]["train_batch_count"] == 20          # mini-batch steps
    mini = SSAN(batch_size=64, **FAST).fit(Xs, ys, Xt, y_few)  # 3 parts, mini-batches
    assert mini.score(Xt[~labelled], yt[~labelled]) > 0.3


def test_user_encoders_are_normalised_and_copied(two_views):
    from skhda.nn import MLPEncoder

    Xs, ys, Xt, y_few, yt, labelled = two_views
    enc = {"source": MLPEncoder(64, 32, hidden_dims=(16,)),
           "target": MLPEncoder(16, 32, hidden_dims=(16,))}
    est = SSAN(encoder=enc, **FAST).fit(Xs, ys, Xt, y_few)
    Z = est.transform(Xt)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    assert est.net_.module_.projector.encoder["target"] is not enc["target"]
    assert est.net_.module_.inputs["target"].basis is None      # no row-space basis
    with pytest.raises(ValueError, match="embedding_dim"):
        SSAN(encoder=enc, **{**FAST, "embedding_dim": 8}).fit(Xs, ys, Xt, y_few)


@pytest.mark.parametrize("param, value", [
    ("alpha", 1.5), ("beta", -1.0), ("temperature", 0.0), ("pseudo_labels", "nearest"),
    ("input_norm", "l1"), ("steps_per_epoch", 0), ("momentum", 1.0), ("row_space", "yes")])
def test_bad_parameters_raise_naming_them(two_views, param, value):
    Xs, ys, Xt, y_few, yt, labelled = two_views
    with pytest.raises((ValueError, TypeError), match=param):
        SSAN(**{**FAST, param: value}).fit(Xs, ys, Xt, y_few)
