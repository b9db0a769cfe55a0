"""The benchmark command and its task registry (``python -m skhda benchmark``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cluster import KMeans

from skhda.__main__ import main as skhda_main
from skhda.baselines import TargetClustering
from skhda.benchmark import TASKS, Method, Task, TransferData, results_table, run_task
from skhda.benchmark._core import draw_shots, load_results, parse_settings
from skhda.datasets import BENCHMARK_FILES, make_domain_shift_blobs


def _blobs(data_dir, condition):
    Xs, ys, Xt, yt = make_domain_shift_blobs(3, 60, random_state=int(condition[-1]))
    return TransferData(Xs, ys, Xt, yt)


def _task(evaluate=None):
    rows = (Method("k-means", lambda c: TargetClustering(KMeans(3, n_init=2),
                                                         random_state=c.seed),
                   {"d0": {"acc": 0.9}}, deep=False),
            Method("k-means, 1 init", lambda c: TargetClustering(KMeans(3, n_init=1),
                                                                 random_state=c.seed)))
    return Task("toy", "toy blobs", "none", "UDA", (), "1 s", _blobs, rows,
                conditions=("d0", "d1"), group=lambda c: c, seeds=2, evaluate=evaluate)


def _without_fit_time(table):
    return [line.rsplit("|", 3)[0] for line in table.splitlines()]


def test_every_task_is_declared_with_paper_files_and_cpu_time():
    assert {"digits", "ckm-usps-mnist", "tdcm-synthetic"} <= set(TASKS)
    for name, task in TASKS.items():
        assert task.name == name and task.paper and task.setting and task.cpu_time
        assert set(task.files) <= set(BENCHMARK_FILES), name
        assert len({m.name for m in task.methods}) == len(task.methods), name


def test_interrupted_run_resumes_and_gives_the_uninterrupted_table(tmp_path):
    full = run_task(_task(), results=tmp_path / "full.jsonl", progress=False)
    assert len(full) == 2 * 2 * 2                     # methods x conditions x seeds

    calls = []

    def interrupt_after_three(method, ctx, settings):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        from skhda.benchmark import fit_and_score
        return fit_and_score(method, ctx, settings)

    path = tmp_path / "resumed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_task(_task(interrupt_after_three), results=path, progress=False)
    assert len(load_results(path)) == 3
    with open(path, "a") as fh:                       # a line torn by the interruption
        fh.write('{"task": "toy", "meth')
    resumed = run_task(_task(), results=path, progress=False)
    assert len(resumed) == 8
    assert _without_fit_time(results_table(_task(), resumed)) == \
        _without_fit_time(results_table(_task(), full))
    # running again fits nothing
    assert len(run_task(_task(lambda *a: pytest.fail("refitted")), results=path,
                        progress=False)) == 8


def test_table_has_mean_std_the_paper_column_and_rows_per_setting(tmp_path):
    path = tmp_path / "r.jsonl"
    run_task(_task(), results=path, progress=False)
    run_task(_task(), methods=["k-means, 1 init"], settings={"clusterer__n_init": 3},
             results=path, progress=False)
    table = results_table(_task(), load_results(path))
    head, _, *rows = table.splitlines()
    assert "d0 ACC (paper)" in head and "d1 ACC" in head and "d1 ACC (paper)" not in head
    assert [r.split("|")[1].strip() for r in rows] == [
        "k-means", "k-means, 1 init", "k-means, 1 init, clusterer__n_init=3"]
    assert " ± " in rows[0] and "0.900" in rows[0] and "| 2 |" in rows[0]


def test_shots_are_drawn_per_class_and_seed():
    y = np.repeat(np.arange(3), 10)
    a, b = draw_shots(y, 2, 0), draw_shots(y, 2, 1)
    assert np.bincount(a[a >= 0]).tolist() == [2, 2, 2] and not np.array_equal(a, b)


def test_parse_settings():
    assert parse_settings(["epochs=3", "init=kmeans++", "augment=0.5", "x=[1,2]"]) == {
        "epochs": 3, "init": "kmeans++", "augment": 0.5, "x": [1, 2]}
    with pytest.raises(ValueError, match="PARAM=VALUE"):
        parse_settings(["epochs"])


def test_cli_list_names_every_task(capsys):
    assert skhda_main(["benchmark", "--list"]) == 0
    out = capsys.readouterr().out
    for name, task in TASKS.items():
        assert name in out and task.cpu_time in out
    assert "usps.npz" in out


def test_cli_runs_resumes_and_rebuilds_the_table(tmp_path, capsys):
    args = ["benchmark", "digits", "--seeds", "1", "--methods", "k-means on target", "spectral",
            "--out", str(tmp_path), "--no-progress"]
    assert skhda_main(args) == 0
    first = capsys.readouterr().out
    lines = load_results(tmp_path / "digits.jsonl")
    assert [r["method"] for r in lines] == ["k-means on target", "spectral on target"]
    assert skhda_main(args) == 0                      # nothing left to fit
    assert len(load_results(tmp_path / "digits.jsonl")) == 2
    assert skhda_main(["benchmark", "digits", "--from-results",
                       str(tmp_path / "digits.jsonl"), "--out", str(tmp_path / "t")]) == 0
    again = capsys.readouterr().out
    assert _without_fit_time(first)[-4:] == _without_fit_time(again.split("\n\n\n")[-1])[-4:]
    assert "| k-means on target | 0.893" in (tmp_path / "t" / "digits.md").read_text()
    json.loads((tmp_path / "digits.jsonl").read_text().splitlines()[0])


def test_cli_memory_shares_stage_one_and_keeps_the_results(tmp_path):
    """--memory: CKM's stage 1 is restored for DECAdapter; the records equal those without it."""
    args = ["benchmark", "digits", "--seeds", "1", "--set", "pretrain_epochs=2", "--set",
            "epochs=1", "--no-progress", "--methods", "CKM", "DECAdapter"]
    assert skhda_main([*args[:-3], "--out", str(tmp_path / "plain"), *args[-3:]]) == 0
    assert skhda_main([*args[:-3], "--out", str(tmp_path / "cached"),
                       "--memory", str(tmp_path / "cache"), *args[-3:]]) == 0
    plain, cached = (load_results(tmp_path / d / "digits.jsonl") for d in ("plain", "cached"))
    assert [r["method"] for r in cached] == ["CKM", "DECAdapter"]
    assert [r["metrics"] for r in cached] == [r["metrics"] for r in plain]
    assert [r["settings"] for r in cached] == [r["settings"] for r in plain]   # same rows
    assert all(r["memory"] for r in cached) and not any("memory" in r for r in plain)
    assert any((tmp_path / "cache").rglob("output.pkl"))
    assert "(1 of 1 with memory)" in results_table(TASKS["digits"], cached)   # times marked


def test_cli_missing_file_names_it_and_fits_nothing(tmp_path, capsys):
    code = skhda_main(["benchmark", "ckm-usps-mnist", "--data-dir", str(tmp_path),
                       "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "usps.npz" in err and str(tmp_path) in err
    assert "Nothing is downloaded" in err and not (tmp_path / "o" / "ckm-usps-mnist.jsonl").exists()


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown task"),
    (["digits", "--methods", "no-such-row"], "matches no row"),
    (["digits", "--set", "no_such_param=1"], "no_such_param"),
    (["digits", "--set", "epochs"], "PARAM=VALUE"),
])
def test_cli_bad_arguments_are_named(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        skhda_main(["benchmark", *args, "--out", str(tmp_path)])
    assert message in capsys.readouterr().err


def test_cli_plot_draws_one_bar_per_row_and_the_paper_markers(tmp_path):
    pytest.importorskip("matplotlib")
    from skhda.benchmark._core import results_for_plot

    path = tmp_path / "r.jsonl"
    records = run_task(_task(), results=path, progress=False)
    values, paper = results_for_plot(_task(), records)
    assert list(values) == ["k-means", "k-means, 1 init"] and paper == {"k-means": 0.9}
    assert all(len(v) == 2 for v in values.values())        # group d0: two seeds
    from skhda.benchmark._cli import save_plot

    save_plot(_task(), records, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_reproducing_page_lists_every_task_with_its_command(tmp_path):
    from pathlib import Path

    from skhda.benchmark._cli import write_page

    write_page(tmp_path / "page.md", tmp_path)
    page = (tmp_path / "page.md").read_text()
    for name in TASKS:
        assert f"## `{name}`" in page and f"python -m skhda benchmark {name}" in page
    committed = Path(__file__).resolve().parents[1] / "doc" / "reproducing.md"
    assert all(f"## `{name}`" in committed.read_text() for name in TASKS), \
        "doc/reproducing.md is stale: python -m skhda benchmark --page doc/reproducing.md"
