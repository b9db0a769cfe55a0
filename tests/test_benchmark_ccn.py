"""The CCN benchmark tasks: declarations, seeded backbones, and tiny runs of their protocols."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from skhda.benchmark import TASKS, TransferData, run_task
from skhda.benchmark._core import FitContext
from skhda.benchmark.tasks import ccn
from skhda.ccn import CCN, CCNPlus, SimilarityNetwork
from skhda.nn.encoders import ConvEncoder

NAMES = ("ccn-usps-mnist", "ccn-mnist-usps-proxy", "ccn-usps-mnist-quick", "ccn-omniglot",
         "ccn-omniglot-proxy")


def _images(n_classes, per_class, side, seed):
    """Class c: a bright square at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 0.2, (n_classes * per_class, 1, side, side)).astype(np.float32)
    y = np.repeat(np.arange(n_classes), per_class)
    for i, c in enumerate(y):
        r = 2 + (3 * c) % (side - 6)
        X[i, 0, r:r + 4, r:r + 4] += 0.8
    return X, y


@pytest.mark.parametrize("name", NAMES)
def test_every_row_builds_its_estimator_without_data(name):
    task = TASKS[name]
    assert set(task.files) and task.cpu_time
    for m in task.methods:
        est = m.make(FitContext(0, task.conditions[0], None, {}))
        assert hasattr(est, "get_params"), m.name


def test_rows_carry_the_protocols_parameters_not_the_defaults():
    ctx = FitContext(3, "", None, {})
    ccnpp = TASKS["ccn-usps-mnist"].method("CCN++").make(ctx)
    assert isinstance(ccnpp, CCNPlus) and ccnpp.adversarial and ccnpp.loss == "mcl"
    assert (ccnpp.epochs, ccnpp.lr, ccnpp.batch_size, ccnpp.random_state) == (15, 1e-3, 96, 3)
    G = ccnpp.similarity
    assert isinstance(G, SimilarityNetwork) and (G.augment, G.epochs) == (0.375, 30)
    assert TASKS["ccn-usps-mnist-quick"].method("CCN+").make(ctx).similarity.epochs == 10
    omni = TASKS["ccn-omniglot"].method("CCN (KCL), K = 100").make(ctx)
    assert isinstance(omni, CCN) and (omni.n_clusters, omni.loss, omni.epochs) == (100, "kcl", 80)


def test_backbones_repeat_the_old_scripts_seeded_construction():
    state = torch.random.get_rng_state()
    g_enc, enc = ccn._backbones(5, (1, 16, 16), (32, 64), 8, 16, 2)
    assert torch.equal(torch.random.get_rng_state(), state)      # global state untouched
    torch.manual_seed(5)
    expected = [ConvEncoder((1, 16, 16), 8, (32, 64))]
    expected += [ConvEncoder((1, 16, 16), 16, (32, 64)) for _ in range(3)]
    for got, want in ((g_enc, expected[0]), (enc, expected[-1])):
        for a, b in zip(got.state_dict().values(), want.state_dict().values(), strict=True):
            assert torch.equal(a, b)


def test_omniglot_protocol_runs_on_tiny_images(tmp_path):
    def load(data_dir, condition):
        Xs, ys = _images(4, 6, 28, 0)
        Xt, yt = _images(3, 6, 28, 1)
        return TransferData(Xs, ys, Xt, yt, extra={"alphabet": 2, "order": 0})

    task = dataclasses.replace(TASKS["ccn-omniglot-proxy"], load=load, files=(),
                               conditions=("alphabet 2",))
    rows = [ccn.G_ROW, "k-means, pixels, K known", "spectral, G embedding, K known",
            "CCN (MCL), K known"]
    settings = {"epochs": 1, "similarity__epochs": 1, "similarity__classes_per_batch": 4,
                "batch_size": 9, "device": "cpu"}
    records = run_task(task, seeds=[0], methods=rows, settings=settings,
                       results=tmp_path / "r.jsonl", progress=False)
    by = {r["method"]: r for r in records}
    assert set(by) == set(rows)
    assert set(ccn.PAIR_METRICS) <= set(by[ccn.G_ROW]["metrics"])
    assert by[ccn.G_ROW]["shared_s"] > 0 and by[ccn.G_ROW]["fit_s"] >= by[ccn.G_ROW]["shared_s"]
    for name in rows[1:]:
        m = by[name]["metrics"]
        assert 0 <= m["acc"] <= 1 and m["acc"] == m["ACC alphabet 2"] and m["ndc_error"] >= 0
        assert by[name]["shared_s"] == 0                  # G trained once, by the first row
    assert by["CCN (MCL), K known"]["metrics"]["epoch_s"] > 0
    assert by["k-means, pixels, K known"]["settings"] == {}


def test_quick_protocol_fits_on_a_subset_and_scores_every_target_row(monkeypatch):
    Xs, ys = _images(3, 8, 16, 0)
    Xt, yt = _images(3, 8, 16, 1)
    monkeypatch.setattr(ccn, "QUICK_ROWS", 12)
    seen, original = {}, ccn.fit_and_score

    def spy(method, ctx, settings):
        seen["n"] = (len(ctx.data.X_source), len(ctx.data.X_target), len(ctx.data.y_eval))
        return original(method, ctx, settings)

    monkeypatch.setattr(ccn, "fit_and_score", spy)
    task = TASKS["ccn-usps-mnist-quick"]
    ctx = FitContext(0, "", TransferData(Xs, ys, Xt, yt), {})
    out = ccn._quick(task.method("CCN+"), ctx, {"epochs": 1, "similarity__epochs": 1,
                                                "similarity__classes_per_batch": 3,
                                                "device": "cpu"})
    assert seen["n"] == (12, 12, 24) and 0 <= out["acc"] <= 1 and out["fit_s"] > 0
