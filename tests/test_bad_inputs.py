"""Reliability: the bad-input matrix, any row count, Ctrl-C, non-finite values.

Every public estimator (discovered as in the contract test) x every case:
a bad input must raise a ``ValueError`` / ``TypeError`` whose message names
the argument, before any training; inputs that are merely unusual (pandas,
lists, read-only, float16, int) must fit. What an estimator accepts is read
from its parameters and tags, not from a list of classes, so that new
estimators are covered as they are exported.
"""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, Checkpoint, EarlyStopping

from skhda import CKM, TDCM, Domain, DomainBatchIterator, DomainDataset
from skhda._base import check_callbacks, resolve_device
from skhda._training import batched_apply
from skhda.ccn import SimilarityNetwork
from skhda.metrics import (
    bcubed_f1_score,
    cluster_accuracy,
    n_dominant_clusters,
    pairwise_f1_score,
)
from skhda.nn.pairwise import PairwiseSimilarityHead

from .conftest import fast_params, public_estimators

ESTIMATORS = public_estimators()
IDS = [c.__name__ for c in ESTIMATORS]


# ------------------------------------------------------------------ helpers
def tiny_params(cls, **extra):
    """:func:`fast_params` with one epoch per stage."""
    params = fast_params(cls)
    for name in params:
        if name.endswith("epochs"):
            params[name] = 1
    return {**params, **extra}


def tiny(cls, **extra):
    return cls(**tiny_params(cls, **extra))


def params_of(cls):
    return cls().get_params()


def needs_source_labels(cls):
    return cls().__sklearn_tags__().target_tags.required


def shared_labels(cls):
    return cls().__sklearn_tags__().estimator_type == "classifier"


def needs_target(cls):
    return cls()._capabilities().requires_target


def y_target_for(cls, n):
    """None, or a few labelled target rows when the estimator needs target labels."""
    if not getattr(cls()._capabilities(), "requires_target_labels", False):
        return None
    i = np.arange(n)
    return np.where(i % 3 == 0, (i // 3) % 3, -1)


def stages_of(cls):
    est = cls()
    return tuple(getattr(est, "_stages", None) or (getattr(est, "_main_stage", "train"),))


@pytest.fixture(scope="module")
def task():
    """120 x 6 source rows in 3 classes, 90 x 6 target rows (3 classes)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(3, 6))
    ys = np.arange(120) % 3
    yt = np.arange(90) % 3
    Xs = centers[ys] + rng.normal(size=(120, 6))
    Xt = centers[yt] + 0.5 + rng.normal(size=(90, 6))
    return Xs, ys, Xt, yt


def fit_cases(cls, Xs, ys, Xt, yt):
    """``(id, argument named, fit args, estimator params)`` of every bad fit input."""
    nan = Xs.copy()
    nan[0, 0] = np.nan
    inf = Xt.copy()
    inf[1, 1] = np.inf
    y_bad = np.full(len(Xt), -1)
    y_bad[0] = -5
    mixed = np.array([-1] * len(Xt), dtype=object)
    mixed[0], mixed[1] = "a", 7
    cases = [
        ("nan-source", "X_source", (nan, ys, Xt), {}),
        ("inf-target", "X_target", (Xs, ys, inf), {}),
        ("beyond-float32-source", "X_source", (Xs * 1e39, ys, Xt), {}),
        ("beyond-float32-target", "X_target", (Xs, ys, Xt * 1e39), {}),
        ("object-X", "X_source", (np.full(Xs.shape, "a", dtype=object), ys, Xt), {}),
        ("sparse-X", "X_source", (sp.csr_matrix(Xs), ys, Xt), {}),
        ("1d-X", "X_source", (Xs[:, 0], ys, Xt), {}),
        ("5d-X", "X_source", (Xs[:, :, None, None, None], ys, Xt), {}),
        ("empty-source", "X_source", (Xs[:0], ys[:0], Xt), {}),
        ("empty-target", "X_target", (Xs, ys, Xt[:0]), {}),
        ("y-source-length", "y_source", (Xs, ys[:-1], Xt), {}),
        ("y-source-continuous", "y_source", (Xs, ys + 0.5, Xt), {}),
        ("y-target-negative", "y_target", (Xs, ys, Xt, y_bad), {}),
        ("y-target-length", "y_target", (Xs, ys, Xt, np.zeros(len(Xt) + 1, dtype=int)), {}),
        ("y-target-mixed-types", "y_target", (Xs, ys, Xt, mixed), {}),
        ("y-target-without-X-target", "X_target" if needs_target(cls) else "y_target",
         (Xs, ys, None, yt), {}),
        ("domain-labels-twice", "y_target", (Xs, ys, Domain(Xt, y=yt), yt), {}),
        ("domain-nested", "X_target", (Xs, ys, Domain(Domain(Xt))), {}),
    ]
    if needs_source_labels(cls):
        cases += [
            ("one-class", "y_source", (Xs, np.zeros_like(ys), Xt), {}),
            ("no-y-source", "y_source", (Xs, None, Xt), {}),
        ]
    if needs_target(cls):
        cases.append(("no-target", "X_target", (Xs, ys, None), {}))
    if shared_labels(cls):
        foreign = np.full(len(Xt), -1)
        foreign[0] = 99
        cases.append(("y-target-foreign-class", "y_target", (Xs, ys, Xt, foreign), {}))
        strings = np.full(len(Xt), -1, dtype=object)
        strings[0] = "a"
        cases.append(("y-target-type-differs", "y_target", (Xs, ys, Xt, strings), {}))
    y_ok = y_target_for(cls, len(Xt))
    ok = (Xs, ys, Xt) if y_ok is None else (Xs, ys, Xt, y_ok)   # valid data
    params = params_of(cls)
    if "n_clusters" in params:
        cases.append(("fewer-rows-than-clusters", "X_target", (Xs, ys, Xt[:3]),
                      {"n_clusters": 5}))
    if "device" in params:
        cases += [
            ("device-meta", "device", ok, {"device": "meta"}),
            ("device-unknown", "device", ok, {"device": "gpu0"}),
            ("device-type", "device", ok, {"device": 3}),
        ]
        if not torch.cuda.is_available():
            cases += [("device-cuda", "device", ok, {"device": "cuda"}),
                      ("device-torch-cuda", "device", ok,
                       {"device": torch.device("cuda")})]
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            cases.append(("device-mps", "device", ok, {"device": "mps"}))
    if "callbacks" in params:
        cases += [
            ("callback-object", "callbacks", ok, {"callbacks": [object()]}),
            ("callback-valid-loss", "callbacks", ok,
             {"callbacks": [EarlyStopping()]}),
            ("callback-not-a-list", "callbacks", ok, {"callbacks": EarlyStopping()}),
            ("callback-stage-list", "callbacks", ok,
             {"callbacks": {stages_of(cls)[0]: EarlyStopping(monitor="train_loss")}}),
        ]
        if getattr(cls(), "_stages", None):
            cases.append(("callback-unknown-stage", "callbacks", ok,
                          {"callbacks": {"no-such-stage": []}}))
    for name, bad in [("epochs", -1), ("lr", -1.0), ("batch_size", 0), ("embedding_dim", 0)]:
        if name in params:
            cases.append((f"bad-{name}", name, ok, {name: bad}))
    if "random_state" in params:
        cases.append(("bad-random_state", "random_state", ok, {"random_state": "foo"}))
    return cases


def _fit_case_params():
    rng = np.random.default_rng(0)
    shapes = rng.normal(size=(120, 6)), np.arange(120) % 3, rng.normal(size=(90, 6))
    out = []
    for cls in ESTIMATORS:
        for case_id, name, _, _ in fit_cases(cls, *shapes, np.arange(90) % 3):
            marks = []
            if name == "random_state" and "random_state" not in getattr(
                    cls, "_parameter_constraints", {}):
                marks.append(pytest.mark.xfail(
                    reason="random_state is validated by the _parameter_constraints tables "
                           "(issue 11)", strict=False))
            out.append(pytest.param(cls, case_id, id=f"{cls.__name__}-{case_id}", marks=marks))
    return out


class _NoTraining(Callback):
    def on_train_begin(self, net, **kwargs):   # pragma: no cover - must not be reached
        raise AssertionError("training started before the bad input was rejected")


# ------------------------------------------------------------ the matrix
@pytest.mark.parametrize("cls, case_id", _fit_case_params())
def test_bad_fit_input_names_the_argument(cls, case_id, task):
    Xs, ys, Xt, yt = task
    (_, name, args, params), = [c for c in fit_cases(cls, Xs, ys, Xt, yt) if c[0] == case_id]
    before = [a.copy() for a in args if isinstance(a, np.ndarray)]
    est = tiny(cls, **params)
    with pytest.raises((ValueError, TypeError)) as info:
        est.fit(*args)
    assert name in str(info.value), str(info.value)
    assert not hasattr(est, "n_features_in_")   # left unfitted
    for a, b in zip([a for a in args if isinstance(a, np.ndarray)], before, strict=True):
        np.testing.assert_array_equal(a, b)      # the caller's arrays are untouched


@pytest.fixture(scope="module")
def fitted(task):
    Xs, ys, Xt, _ = task
    cache = {}

    def get(cls):
        if cls not in cache:
            cache[cls] = tiny(cls).fit(Xs, ys, Xt, y_target_for(cls, len(Xt)))
        return cache[cls]

    return get


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_bad_predict_input_names_the_argument(cls, task, fitted):
    Xs, ys, Xt, yt = task
    with pytest.raises(NotFittedError, match=cls.__name__):
        tiny(cls).predict(Xt)
    est = fitted(cls)
    nan = Xt.copy()
    nan[0, 0] = np.nan
    cases = [("X", Xt[:, :5]), ("X", nan), ("X", Xt * 1e39), ("X", Xt[:, 0]),
             ("X", sp.csr_matrix(Xt)), ("X", Xt[:0])]
    for name, X in cases:
        with pytest.raises((ValueError, TypeError)) as info:
            est.predict(X)
        assert name in str(info.value), str(info.value)
    with pytest.raises(ValueError, match="domain"):
        est.predict(Xt, domain="elsewhere")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_unusual_but_valid_inputs_fit(cls, task):
    Xs, ys, Xt, yt = task
    ro_s, ro_t = Xs.copy(), Xt.copy()
    ro_s.setflags(write=False)
    ro_t.setflags(write=False)
    variants = {
        "pandas": (pd.DataFrame(Xs), pd.Series(ys), pd.DataFrame(Xt)),
        "lists": (Xs.tolist(), ys.tolist(), Xt.tolist()),
        "read-only": (ro_s, ys, ro_t),
        "float16": (Xs.astype(np.float16), ys, Xt.astype(np.float16)),
        "int": (np.rint(Xs).astype(np.int64), ys, np.rint(Xt).astype(np.int64)),
    }
    for label, args in variants.items():
        est = tiny(cls).fit(*args, y_target_for(cls, len(Xt)))
        assert est.predict(args[2]).shape == (len(Xt),), label


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_string_labels_with_unlabelled_marker(cls, task):
    Xs, ys, Xt, yt = task
    names = np.array(["a", "b", "c"], dtype=object)
    y_src = names[ys] if shared_labels(cls) else ys
    for marker in (-1, "-1"):
        y_t = np.full(len(Xt), marker, dtype=object)
        y_t[::10] = names[yt[::10]]
        before = y_t.copy()
        labels = tiny(cls).fit(Xs, y_src, Xt, y_t).predict(Xt)
        assert labels.shape == (len(Xt),)
        np.testing.assert_array_equal(y_t, before)
    # a numpy string array turns -1 into "-1": the same marker
    y_t = np.where(np.arange(len(Xt)) % 10 == 0, names[yt].astype(str), "-1")
    assert tiny(cls).fit(Xs, y_src, Xt, y_t).predict(Xt).shape == (len(Xt),)


@pytest.mark.parametrize("cls", [c for c in ESTIMATORS if "epochs" in params_of(c)],
                         ids=[c.__name__ for c in ESTIMATORS if "epochs" in params_of(c)])
def test_non_finite_loss_stops_with_a_clear_error(cls, task):
    """Inputs at 1e30 (finite in float32): a clear error, or a fit whose outputs are finite."""
    Xs, ys, Xt, yt = task
    est = tiny(cls)
    try:
        est.fit(Xs * 1e30, ys, Xt * 1e30, y_target_for(cls, len(Xt)))
    except FloatingPointError as exc:
        msg = str(exc)
        assert cls.__name__ in msg and "stage" in msg and "epoch" in msg, msg
        assert "lr" in msg and "scal" in msg, msg
        assert not hasattr(est, "n_features_in_")
        return
    for method in ("predict_proba", "transform"):
        if hasattr(est, method):
            try:
                out = getattr(est, method)(Xt * 1e30)
            except ValueError as exc:   # refused, naming X
                assert "X" in str(exc)
            else:
                assert np.isfinite(out).all(), method


# ------------------------------------------------------------ row counts
def _sweep_params():
    out = []
    for cls in ESTIMATORS:
        params = params_of(cls)
        if "batch_size" not in params:
            continue
        for r in (0, 1, 2):
            out.append(pytest.param(cls, r, id=f"{cls.__name__}-r{r}"))
    return out


@pytest.mark.parametrize("cls, r", _sweep_params())
def test_any_row_count_trains_at_default_batch_sizes(cls, r):
    """``batch_size * m + r`` rows in each domain (m = 1), default batch sizes, 1 epoch."""
    params = params_of(cls)
    bs_t = params["batch_size"]
    bs_s = params.get("source_batch_size", bs_t)
    n_t = bs_t + r
    n_s = bs_s * max(1, round(n_t / bs_s)) + r
    rng = np.random.default_rng(r)
    Xs, Xt = rng.normal(size=(n_s, 6)), rng.normal(size=(n_t, 6))
    ys = np.arange(n_s) % 3
    kw = {k: v for k, v in tiny_params(cls).items() if k != "batch_size"}
    est = cls(**kw).fit(Xs, ys, Xt, y_target_for(cls, n_t))
    assert est.predict(Xt).shape == (n_t,)


@pytest.mark.parametrize("cls", [c for c in ESTIMATORS if "n_clusters" in params_of(c)],
                         ids=[c.__name__ for c in ESTIMATORS if "n_clusters" in params_of(c)])
def test_as_many_target_rows_as_clusters(cls, task):
    Xs, ys, Xt, yt = task
    for n in (3, 4):
        est = tiny(cls, n_clusters=3).fit(Xs, ys, Xt[:n], y_target_for(cls, n))
        assert est.predict(Xt[:n]).shape == (n,)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_one_or_two_target_rows_train(cls, task):
    Xs, ys, Xt, yt = task
    extra = {"n_clusters": 1} if "n_clusters" in params_of(cls) else {}
    if "clusterer" in params_of(cls) and not extra:
        extra["clusterer"] = KMeans(n_clusters=1, n_init=1)
    for n in (1, 2):
        est = tiny(cls, **extra).fit(Xs, ys, Xt[:n], y_target_for(cls, n))
        assert est.predict(Xt[:n]).shape == (n,)


def test_iterator_never_yields_a_one_row_batch():
    for size in (2, 3, 7):
        for n in [1, 2, 3, *[size * m + r for m in (1, 2, 3) for r in (0, 1, 2)]]:
            ds = DomainDataset(source={"X": torch.arange(n)}, target={"X": torch.arange(5)})
            it = DomainBatchIterator(ds, batch_size=size, seed=0)
            batches = [b for b, _ in it]
            assert len(batches) == len(it)
            rows = torch.cat([b.source.X for b in batches]).tolist()
            assert all(len(b.source.X) > 1 and len(b.target.X) > 1 for b in batches), (n, size)
            if n > 1 and len(it) == -(-n // size) - (n % size == 1 and n > size):
                assert sorted(rows) == list(range(n))   # each row once per epoch
            lengths = [len(b.source.X) for b in batches]
            again = [len(b.source.X) for b, _ in DomainBatchIterator(ds, batch_size=size,
                                                                       seed=1)]
            assert lengths == again                      # sizes do not depend on the seed
    ds = DomainDataset(source={"X": torch.arange(7)})
    assert [len(b.source.X) for b, _ in DomainBatchIterator(ds, batch_size=3)] == [3, 4]


# ----------------------------------------------------------------- Ctrl-C
class _SigintAt(Callback):
    """Deliver a real SIGINT to this process at the first training step."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            signal.raise_signal(signal.SIGINT)


def _stage_cases():
    out = []
    for cls in ESTIMATORS:
        if "callbacks" not in params_of(cls):
            continue
        for stage in stages_of(cls):
            out.append(pytest.param(cls, stage, id=f"{cls.__name__}-{stage}"))
    return out


@pytest.mark.parametrize("cls, stage", _stage_cases())
def test_interrupt_in_any_stage_stops_the_fit_and_leaves_it_unfitted(cls, stage, task):
    Xs, ys, Xt, yt = task
    est = tiny(cls, callbacks={stage: [_SigintAt()]} if getattr(cls(), "_stages", None)
               else [_SigintAt()])
    try:
        est.fit(Xs, ys, Xt, y_target_for(cls, len(Xt)))
    except KeyboardInterrupt:
        pass
    else:   # the stage is off at these parameters (e.g. an optional pretraining)
        assert stage not in est.histories_, "the interrupt was swallowed"
        pytest.skip(f"stage {stage!r} does not run at these parameters")
    with pytest.raises(NotFittedError, match=cls.__name__):
        check_is_fitted(est)
    with pytest.raises(NotFittedError, match=cls.__name__):
        est.predict(Xt)


def test_real_sigint_from_a_timer_stops_a_long_fit(task):
    Xs, ys, Xt, yt = task
    est = CKM(n_clusters=3, pretrain_epochs=100_000, epochs=100_000, embedding_dim=4,
              hidden_dims=(16,), device="cpu", random_state=0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(Xs, ys, Xt)
    finally:
        timer.cancel()
    with pytest.raises(NotFittedError, match="CKM"):
        est.predict(Xt)


def test_sigint_in_tdcm_is_a_keyboard_interrupt(task):
    Xs, ys, Xt, yt = task
    est = tiny(TDCM, callbacks={"train": [_SigintAt()]})
    with pytest.raises(KeyboardInterrupt):
        est.fit(Xs, ys, Xt)
    assert not hasattr(est, "histories_")


def test_early_stopping_still_ends_only_its_stage(task, tmp_path):
    """A callback raising KeyboardInterrupt (skorch's early stop) ends its stage, not the fit."""
    Xs, ys, Xt, yt = task
    est = CKM(n_clusters=3, pretrain_epochs=50, epochs=2, lr=1e-12, embedding_dim=4,
              hidden_dims=(16,), device="cpu", random_state=0,
              callbacks={"pretrain": [EarlyStopping(monitor="train_loss", patience=1)],
                         "joint": [Checkpoint(monitor="train_loss_best",
                                              dirname=str(tmp_path))]})
    est.fit(Xs, ys, Xt)
    assert len(est.histories_["pretrain"]) < 50 and len(est.histories_["joint"]) == 2
    assert (tmp_path / "params.pt").exists()


# ------------------------------------------------------ SimilarityNetwork
def test_similarity_network_failed_or_interrupted_fit_leaves_it_unfitted(task):
    Xs, ys, Xt, yt = task
    G = SimilarityNetwork(classes_per_batch=3, epochs=1, hidden_dim=8, embedding_dim=4,
                          hidden_dims=(8,), device="cpu", random_state=0).fit(Xs, ys)
    G.set_params(callbacks=[_SigintAt()])
    with pytest.raises(KeyboardInterrupt):
        G.fit(Xs, ys)
    for attr in ("device_", "histories_", "net_"):
        assert not hasattr(G, attr)
    with pytest.raises(NotFittedError, match="SimilarityNetwork"):
        check_is_fitted(G)
    G.set_params(callbacks=None, device="meta")
    with pytest.raises(ValueError, match="device"):
        G.fit(Xs, ys)
    with pytest.raises(NotFittedError):
        G.transform(Xt)
    with pytest.raises(TypeError, match="callbacks"):
        G.set_params(device="cpu", callbacks=[object()]).fit(Xs, ys)
    with pytest.raises(ValueError, match="X"):
        G.set_params(callbacks=None).fit(Xs * 1e39, ys)


def test_similarity_network_bad_input_names_the_argument(task):
    Xs, ys, Xt, yt = task
    nan = Xs.copy()
    nan[0, 0] = np.nan
    cases = [("X", (nan, ys)), ("X", (Xs * 1e39, ys)), ("X", (Xs[:, 0], ys)),
             ("X", (sp.csr_matrix(Xs), ys)), ("X", (np.full(Xs.shape, "a", dtype=object), ys)),
             ("y", (Xs, ys[:-1])), ("y", (Xs, np.zeros_like(ys))), ("y", (Xs, ys + 0.5))]
    for name, args in cases:
        G = SimilarityNetwork(epochs=1, device="cpu")
        with pytest.raises((ValueError, TypeError)) as info:
            G.fit(*args)
        assert name in str(info.value), str(info.value)
        assert not hasattr(G, "device_")
    G = SimilarityNetwork(classes_per_batch=3, epochs=1, device="cpu", random_state=0)
    G.fit(Xs, ys)
    for X in (Xt[:, :5], Xt * 1e39):
        with pytest.raises(ValueError, match="X"):
            G.similarity_matrix(X)


def test_similarity_matrix_blocks_from_a_memory_budget():
    torch.manual_seed(0)
    head = PairwiseSimilarityHead(3, hidden_dim=7)
    head.bn.running_mean.normal_()
    head.bn.running_var.uniform_(0.5, 2.0)
    z = torch.randn(30, 3)
    head.eval()
    dense = head(z).softmax(1)[:, 1].reshape(30, 30)
    for max_bytes in (1, 30 * 7 * 4 * 4, 2**26):   # 1 row, 4 rows, all rows per block
        torch.testing.assert_close(head.similarity_matrix(z, max_bytes=max_bytes), dense)
    head.train()   # train mode: BatchNorm statistics of each block, not folded
    with torch.no_grad():
        S = head.similarity_matrix(z, block=30)
        ref = head(z).softmax(1)[:, 1].reshape(30, 30)
    torch.testing.assert_close(S, ref)


def test_batched_apply_refuses_non_finite_outputs_even_behind_an_argmax():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 3)

        def labels(self, x):
            return self.encoder(x).argmax(1)

    m = M()
    X = np.ones((4, 2), dtype=np.float32)
    assert batched_apply(m.labels, X, "cpu", module=m).shape == (4,)
    X[2] = np.float32(3e38)   # finite, but overflows in the layer
    with torch.no_grad():
        m.encoder.weight.fill_(10.0)
    with pytest.raises(ValueError, match="X: the network's Linear gives NaN or infinite"):
        batched_apply(m.labels, X, "cpu", module=m)
    with pytest.raises(ValueError, match="X: the network gives NaN or infinite values for 1 of 4"):
        batched_apply(m.encoder, X, "cpu")
    assert m.training                                 # mode restored, hooks removed
    assert not m.encoder._forward_hooks


# ------------------------------------------------------- device, callbacks
def test_resolve_device_checks_every_form():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(torch.device("cpu")) == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    bad = ["meta", "gpu", "cuda:99", torch.device("meta")]
    if not torch.cuda.is_available():
        bad += ["cuda", "cuda:0", torch.device("cuda")]
    if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        bad.append("mps")
    for device in bad:
        with pytest.raises(ValueError, match="device"):
            resolve_device(device)
    for device in (3, ["cpu"]):
        with pytest.raises(TypeError, match="device"):
            resolve_device(device)


def test_check_callbacks():
    good = EarlyStopping(monitor="train_loss")
    check_callbacks(None)
    check_callbacks([good, ("named", Checkpoint(monitor="train_loss_best"))])
    check_callbacks({"pretrain": [good]}, ("pretrain", "joint"))
    with pytest.raises(TypeError, match="callbacks"):
        check_callbacks([object()])
    with pytest.raises(TypeError, match=r"callbacks\['joint'\]"):
        check_callbacks({"joint": [good, 3]}, ("pretrain", "joint"))
    with pytest.raises(ValueError, match="callbacks.*stages"):
        check_callbacks({"finetune": [good]}, ("pretrain", "joint"))
    with pytest.raises(ValueError, match="callbacks.*validation"):
        check_callbacks([EarlyStopping()])


# ----------------------------------------------------------------- metrics
@pytest.mark.parametrize("metric", [cluster_accuracy, pairwise_f1_score, bcubed_f1_score])
def test_metrics_reject_mixed_label_types(metric):
    for bad in ([1, "1"], np.array([1, "a"], dtype=object), pd.Series([0, "b"])):
        with pytest.raises(ValueError, match="y_true mixes label types"):
            metric(bad, [0, 1])
        with pytest.raises(ValueError, match="y_pred mixes label types"):
            metric([0, 1], bad)
    assert metric(["a", "b"], np.array(["x", "y"], dtype=object)) == 1.0
    with pytest.raises(ValueError, match="labels mixes label types"):
        n_dominant_clusters([1, "1"], 2)
