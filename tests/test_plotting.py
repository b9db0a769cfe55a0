"""skhda.plotting, headless (Agg): what each plot draws, not only that it runs."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skhda.baselines import SourceOnly, SourceTargetClustering  # noqa: E402
from skhda.plotting import (  # noqa: E402
    plot_benchmark,
    plot_confusion,
    plot_embedding,
    plot_history,
)

from .conftest import make_estimator  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted(digits):
    Xs, ys, Xt, yt = digits
    return make_estimator(SourceTargetClustering, n_clusters=5).fit(Xs, ys, Xt), digits


def test_embedding_by_domain_draws_every_row_of_both_domains(fitted):
    est, (Xs, ys, Xt, yt) = fitted
    ax = plot_embedding(est, Xs, Xt)
    assert [c.get_label() for c in ax.collections] == ["source", "target"]
    assert [len(c.get_offsets()) for c in ax.collections] == [len(Xs), len(Xt)]
    assert ax.get_xlabel() == "PCA 1"
    ax = plot_embedding(est, Xs, Xt, max_points=50, method="tsne")
    assert [len(c.get_offsets()) for c in ax.collections] == [50, 50]


def test_embedding_by_cluster_colours_by_the_predictions(fitted):
    est, (Xs, ys, Xt, yt) = fitted
    ax = plot_embedding(est, X_target=Xt, color_by="cluster")
    (target,) = ax.collections
    colours = target.get_array()
    assert len(colours) == len(Xt)
    assert len(np.unique(colours)) == len(np.unique(est.predict(Xt)))
    with pytest.raises(ValueError, match="color_by"):
        plot_embedding(est, Xs, Xt, color_by="label")
    with pytest.raises(ValueError, match="X_source or X_target"):
        plot_embedding(est)


def test_history_one_axes_per_stage_one_line_per_term(digits_shared):
    Xs, ys, Xt, yt = digits_shared
    est = make_estimator(SourceOnly, epochs=3).fit(Xs, ys, Xt, np.where(yt % 2, yt, -1))
    fig = plot_history(est)
    (ax,) = fig.axes
    assert ax.get_title() == "train"
    labels = sorted(line.get_label() for line in ax.get_lines())
    assert labels == ["ce_source", "ce_target", "total"]
    assert all(len(line.get_xdata()) == 3 for line in ax.get_lines())
    with pytest.raises(Exception, match="not fitted"):
        plot_history(SourceOnly())


def test_confusion_puts_matched_clusters_on_the_diagonal():
    y = [0, 0, 0, 1, 1, 2, 2, 2]
    pred = [5, 5, 7, 9, 9, 7, 7, 3]   # 0 -> 5, 1 -> 9, 2 -> 7; cluster 3 unmatched
    ax = plot_confusion(y, pred, normalize=False)
    M = ax.images[0].get_array()
    assert M.shape == (3, 4)
    assert M[0, 0] == 2 and M[1, 1] == 2 and M[2, 2] == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "9", "7", "3"]
    assert ax.get_title() == "cluster accuracy 0.750"
    np.testing.assert_allclose(plot_confusion(y, pred).images[0].get_array().sum(1), 1.0)


def test_benchmark_bars_error_bars_and_paper_markers():
    ax = plot_benchmark({"a": [0.5, 0.7], "b": [0.9], "c": [0.2, 0.4]}, paper={"b": 0.95},
                        metric="ACC")
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.6, 0.9, 0.3])
    (paper,) = [line for line in ax.get_lines() if line.get_label() == "paper"]
    assert paper.get_xdata().tolist() == [1] and paper.get_ydata().tolist() == [0.95]
    assert ax.get_ylabel() == "ACC"
    with pytest.raises(ValueError, match="empty"):
        plot_benchmark({})
