"""The SSAN, XDC, training-overhead and memory benchmark tasks: declarations and evaluates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from skhda.benchmark import TASKS, FitContext, TransferData, run_task
from skhda.benchmark.tasks import memory, overhead, ssan, xdc
from skhda.datasets import BENCHMARK_FILES, load_digits_transfer, make_domain_shift_blobs

MINE = [t.name for module in (ssan, xdc, overhead, memory) for t in module.TASKS]


@pytest.mark.parametrize("name", MINE)
def test_task_is_registered_with_known_files_and_rows_that_build(name):
    task = TASKS[name]
    assert set(task.files) <= set(BENCHMARK_FILES)
    for method in task.methods:
        est = method.make(FitContext(0, task.conditions[0], None, {}))
        assert isinstance(est.get_params(), dict), method.name


def test_ssan_paper_figures_per_pair():
    task = TASKS["ssan-office-caltech"]
    assert task.conditions == ssan.PAIRS and len(ssan.PAIRS) == 7
    assert task.method("SSAN").paper_figure("W->D", "acc") == 0.9764
    assert task.method("SVMt").paper_figure("W->W:decaf6->surf", "acc") == 0.5528
    assert task.method("NNt").paper_figure("W->D", "acc") is None


def _toy_office(data_dir, condition):
    """Heterogeneous digits: 64 pixels (source) -> 16 pooled features (target), 2 'splits'."""
    Xs, ys, Xt, yt = load_digits_transfer()
    Xs, ys = Xs[ys < 5][:150], ys[ys < 5][:150]
    Xt, yt = Xs.reshape(-1, 4, 2, 4, 2).mean((2, 4)).reshape(len(Xs), 16), ys
    labelled = []
    for split in range(2):
        rows = np.random.default_rng(split).permutation(len(yt))
        mask = np.zeros(len(yt), bool)
        for c in range(5):
            mask[rows[yt[rows] == c][:3]] = True
        labelled.append(mask)
    return TransferData(Xs, ys, Xt, yt, extra={"labelled": labelled})


def test_ssan_evaluate_scores_the_unlabelled_rows_of_each_split():
    task = dataclasses.replace(TASKS["ssan-office-caltech"], load=_toy_office, files=(),
                               conditions=("toy",))
    records = run_task(task, seeds=[0, 1], methods=["SVMt", "NNt", "SSAN"],
                       settings={"epochs": 1, "steps_per_epoch": 5}, progress=False)
    assert len(records) == 6
    for r in records:
        assert 0 <= r["metrics"]["acc"] <= 1 and r["metrics"]["cpu_s"] >= 0
    svm = [r["metrics"]["acc"] for r in records if r["method"] == "SVMt"]
    assert svm[0] != svm[1]                          # two splits, two labelled sets
    assert records[0]["metrics"]["acc"] > 0.5        # SVMt on 15 labelled rows beats chance


def _toy_clusters(data_dir, condition):
    Xs, ys, Xt, yt = make_domain_shift_blobs(3, 60, random_state=0)
    return xdc._data(Xs, ys, Xt, yt + 3)


def test_xdc_rows_of_one_fit_share_it_and_report_clusters():
    task = dataclasses.replace(TASKS["xdc-usps-mnist"], load=_toy_clusters, files=())
    rows = ["k-means (raw pixels, true K)", "XDC (lambda 0.1), merge (ours)",
            "XDC (lambda 0.1), components (paper)", "XDC (lambda 0.1) linkage cut to the true K",
            "k-means (XDC features, true K)"]
    records = {r["method"]: r for r in run_task(
        task, seeds=[0], methods=rows, settings={"epochs": 1, "gcn_epochs": 1, "k1": 5,
                                                 "k2": 3, "u": 3}, progress=False)}
    merge, comps = records[rows[1]], records[rows[2]]
    assert merge["shared_s"] > 0 and comps["shared_s"] == 0       # one XDC fit
    assert "predict_s" in comps["metrics"] and "predict_s" not in merge["metrics"]
    assert records[rows[3]]["metrics"]["clusters"] == 3            # cut to the true K
    assert records[rows[0]]["metrics"]["pairwise_f"] > 0.5
    for r in records.values():
        assert {"pairwise_f", "bcubed_f", "nmi", "clusters"} <= set(r["metrics"])


def test_xdc_scale_draws_its_row_counts_in_sequence():
    d = TransferData(np.zeros((10, 2)), np.zeros(10), np.arange(100)[:, None],
                     np.zeros(100), extra={"n_target": 40, "draw_before": (20, 30)})
    rng = np.random.default_rng(3)
    rng.choice(100, 20, replace=False), rng.choice(100, 30, replace=False)
    assert np.array_equal(xdc._target_rows(d, 3), rng.choice(100, 40, replace=False))


def test_training_overhead_task_times_both_configurations():
    records = run_task(TASKS["training-overhead"], seeds=[0], progress=False,
                       settings={"n_rows": 512, "repeats": 1, "epochs": 1})
    assert [r["method"] for r in records] == ["single", "two-domain"]
    for r in records:
        m = r["metrics"]
        assert m["hand_s"] > 0 and m["core_s"] > 0 and m["ratio"] == m["core_s"] / m["hand_s"]
    assert "plain_ratio" in records[0]["metrics"] and "plain_ratio" not in records[1]["metrics"]


def test_memory_task_measures_fit_and_predict_in_a_subprocess():
    task = dataclasses.replace(TASKS["memory"], conditions=("200",))
    (r,) = run_task(task, methods=["deep baselines: SourceTargetClustering()"], progress=False)
    m = r["metrics"]
    assert m["fit_peak_mb"] >= 0 and m["predict_peak_mb"] >= 0 and m["fit_seconds"] > 0
    assert r["fit_s"] == round(m["fit_seconds"], 3)
