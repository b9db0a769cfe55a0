"""Plots of what an estimator learned (matplotlib, an optional extra).

Install with ``pip install "skhda[plots]"``; without matplotlib each function
raises an ``ImportError`` that says so. Every function draws on the ``ax`` (or
figure) it is given, or on a new one, and returns it, so plots compose in a
notebook:

- :func:`plot_embedding`: both domains' embeddings in 2-D (PCA, or t-SNE),
  coloured by domain or by predicted cluster;
- :func:`plot_history`: the loss terms of every training stage (``histories_``);
- :func:`plot_confusion`: the confusion matrix after Hungarian matching of
  clusters to classes;
- :func:`plot_benchmark`: benchmark figures (mean +- std over seeds) beside
  the paper's.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils.validation import check_is_fitted

from .metrics import _check_pair, _matching

__all__ = ["plot_benchmark", "plot_confusion", "plot_embedding", "plot_history"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError(
            "skhda.plotting needs matplotlib, an optional dependency: "
            'pip install "skhda[plots]" (or pip install matplotlib).'
        ) from exc
    return plt


def _axes(ax):
    return _pyplot().subplots()[1] if ax is None else ax


def _subsample(n, max_points, rng):
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(rng.choice(n, int(max_points), replace=False))


def plot_embedding(estimator, X_source=None, X_target=None, *, color_by="domain",
                   method="pca", max_points=2000, random_state=0, ax=None):
    """Both domains' learned embeddings in 2-D.

    The rows are embedded by ``estimator.transform`` (each domain by its own
    encoder), then projected together by PCA (default) or t-SNE.

    Parameters
    ----------
    estimator : fitted skhda estimator
        Anything with ``transform(X, domain=...)``.
    X_source, X_target : array-like, optional
        Rows of each domain to show (at least one).
    color_by : {"domain", "cluster"}, default="domain"
        ``"domain"``: one colour per domain; ``"cluster"``: each row coloured
        by ``estimator.predict`` (source rows as circles, target rows as
        crosses).
    method : {"pca", "tsne"}, default="pca"
    max_points : int or None, default=2000
        At most this many rows per domain (a random subset).
    random_state : int, default=0
        Seeds the subset and t-SNE.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        One scatter collection per domain (``color_by="domain"``) or per
        domain with its clusters as colours.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skhda.baselines import SourceTargetClustering
    >>> from skhda.datasets import load_digits_transfer
    >>> from skhda.plotting import plot_embedding
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = SourceTargetClustering(n_clusters=5, epochs=1, random_state=0).fit(Xs, ys, Xt)
    >>> ax = plot_embedding(est, Xs, Xt)
    >>> [c.get_label() for c in ax.collections]
    ['source', 'target']
    """
    if color_by not in ("domain", "cluster"):
        raise ValueError(f"color_by must be 'domain' or 'cluster', got {color_by!r}.")
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    rng = np.random.default_rng(random_state)
    parts = []
    for domain, X in (("source", X_source), ("target", X_target)):
        if X is None:
            continue
        X = np.asarray(X)
        rows = _subsample(len(X), max_points, rng)
        Z = np.asarray(estimator.transform(X[rows], domain=domain), dtype=np.float64)
        labels = estimator.predict(X[rows], domain=domain) if color_by == "cluster" else None
        parts.append((domain, Z.reshape(len(Z), -1), labels))
    if not parts:
        raise ValueError("plot_embedding needs X_source or X_target.")
    Z = np.concatenate([p[1] for p in parts])
    if method == "pca":
        P = PCA(2, random_state=random_state).fit_transform(Z)
    else:
        P = TSNE(2, perplexity=min(30.0, max(2.0, (len(Z) - 1) / 3)),
                 random_state=random_state).fit_transform(Z)
    ax = _axes(ax)
    start = 0
    for domain, Zd, labels in parts:
        Pd = P[start:start + len(Zd)]
        start += len(Zd)
        marker = "o" if domain == "source" else "x"
        if labels is None:
            ax.scatter(Pd[:, 0], Pd[:, 1], s=8, marker=marker, alpha=0.6, label=domain)
        else:
            codes = np.unique(labels, return_inverse=True)[1]
            ax.scatter(Pd[:, 0], Pd[:, 1], s=8, marker=marker, c=codes, cmap="tab20",
                       alpha=0.7, label=domain)
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.set_title(f"{type(estimator).__name__} embedding, by {color_by}")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_history(estimator, fig=None):
    """The training loss and each loss term, per epoch, for every training stage.

    Parameters
    ----------
    estimator : fitted skhda deep estimator
        Reads ``histories_`` (one skorch history per stage).
    fig : matplotlib Figure, optional

    Returns
    -------
    fig : matplotlib Figure
        One Axes per stage that trained, titled by the stage, one line per
        logged term (``train_loss`` and ``train_<term>``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skhda import CKM
    >>> from skhda.datasets import load_digits_transfer
    >>> from skhda.plotting import plot_history
    >>> Xs, ys, Xt, yt = load_digits_transfer()
    >>> est = CKM(5, pretrain_epochs=2, epochs=2, random_state=0).fit(Xs / 16, ys, Xt / 16)
    >>> [ax.get_title() for ax in plot_history(est).axes]
    ['pretrain', 'joint']
    """
    check_is_fitted(estimator, "histories_")
    stages = {name: h for name, h in estimator.histories_.items() if h is not None and len(h)}
    if not stages:
        raise ValueError(f"{type(estimator).__name__} recorded no training epoch.")
    plt = _pyplot()
    if fig is None:
        fig = plt.figure(figsize=(4.5 * len(stages), 3.5))
    axes = fig.subplots(1, len(stages), squeeze=False)[0]
    for ax, (stage, history) in zip(axes, stages.items(), strict=True):
        keys = sorted({k for row in history for k in row
                       if k.startswith("train_") and k != "train_batch_count"
                       and isinstance(row[k], (int, float)) and not isinstance(row[k], bool)})
        epochs = [row["epoch"] for row in history]
        for key in keys:
            values = [row.get(key, np.nan) for row in history]
            ax.plot(epochs, values, marker="." if len(epochs) < 30 else None,
                    label=key[len("train_"):] if key != "train_loss" else "total")
        ax.set_title(stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_confusion(y_true, y_pred, *, normalize=True, ax=None):
    """The confusion matrix of clusters against classes, after Hungarian matching.

    Clusters are reordered so that each class's matched cluster is on the
    diagonal (the matching of :func:`skhda.metrics.cluster_accuracy`);
    unmatched clusters come last.

    Parameters
    ----------
    y_true : array-like of shape (n,)
    y_pred : array-like of shape (n,)
    normalize : bool, default=True
        Rows (classes) sum to 1.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        An image of shape ``(n_classes, n_clusters)``; the tick labels name
        the classes and the clusters.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skhda.plotting import plot_confusion
    >>> ax = plot_confusion([0, 0, 1, 1], [1, 1, 0, 0])
    >>> ax.images[0].get_array().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    cont = contingency_matrix(y_true, y_pred).astype(np.float64)
    rows, cols = _matching(cont)
    order = list(cols[np.argsort(rows)]) + [j for j in range(len(clusters)) if j not in cols]
    matrix = cont[:, order]
    if normalize:
        matrix = matrix / matrix.sum(1, keepdims=True)
    ax = _axes(ax)
    ax.imshow(matrix, cmap="Blues", vmin=0, aspect="auto")
    ax.set_xticks(range(len(order)), [str(clusters[j]) for j in order])
    ax.set_yticks(range(len(classes)), [str(c) for c in classes])
    ax.set_xlabel("cluster (matched)")
    ax.set_ylabel("class")
    acc = cont[rows, cols].sum() / len(y_true)
    ax.set_title(f"cluster accuracy {acc:.3f}")
    return ax


def plot_benchmark(results, paper=None, *, metric="score", ax=None):
    """Benchmark figures, mean +- std over seeds, with the paper's figure beside.

    Parameters
    ----------
    results : dict of str to sequence of float
        ``{row: [score of each seed]}``, e.g. ``{"CKM-UDA": [0.97, 0.98]}``.
    paper : dict of str to float, optional
        The paper's figure for some rows (drawn as a marker on the bar).
    metric : str, default="score"
        The axis label.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        One bar per row (``ax.patches``), error bars of one std, and one
        marker per paper figure (the line labelled ``"paper"``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skhda.plotting import plot_benchmark
    >>> ax = plot_benchmark({"k-means": [0.59, 0.61], "CKM-UDA": [0.97, 0.98]},
    ...                     paper={"CKM-UDA": 0.99})
    >>> len(ax.patches), [t.get_text() for t in ax.get_xticklabels()]
    (2, ['k-means', 'CKM-UDA'])
    """
    if not results:
        raise ValueError("results is empty.")
    names = list(results)
    values = [np.asarray(results[n], dtype=np.float64) for n in names]
    means = [v.mean() for v in values]
    stds = [v.std() if len(v) > 1 else 0.0 for v in values]
    ax = _axes(ax)
    x = np.arange(len(names))
    ax.bar(x, means, yerr=stds, capsize=3, color="tab:blue", alpha=0.8, label="skhda")
    paper = paper or {}
    marked = [(i, paper[n]) for i, n in enumerate(names) if n in paper]
    if marked:
        ax.plot([i for i, _ in marked], [v for _, v in marked], "D", color="tab:red",
                label="paper")
    ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0, ha="right"
                  if len(names) > 4 else "center")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    return ax
