"""Benchmark tasks as data: a task is data + estimators + metrics, declared once.

A :class:`Task` names its paper, setting and data files, loads its data per
*condition* (a target alphabet, an Office-Caltech pair, a synthetic K ...), and
lists :class:`Method` rows that build an estimator from a :class:`FitContext`.
:func:`run_task` fits every (method, condition, seed) not already in the
results file, appending one JSON line per fit (so an interrupted run resumes),
and :func:`results_table` turns the lines into a markdown table of mean ± std
over seeds with the paper's figure beside ours.
"""

from __future__ import annotations

import importlib.util
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, adjusted_rand_score, normalized_mutual_info_score

from ..metrics import cluster_accuracy

__all__ = ["FitContext", "Method", "Task", "TransferData", "fit_and_score", "load_results",
           "results_table", "run_task", "METRIC_NAMES"]

#: how a metric key is printed in a table header.
METRIC_NAMES = {"acc": "ACC", "nmi": "NMI", "ari": "ARI", "ndc_error": "|NDC - K|",
                "pairwise_f": "pairwise F", "source_nmi": "source NMI", "ratio": "ratio",
                "bcubed_f": "BCubed F"}


@dataclass
class TransferData:
    """One condition's data: the four arrays of ``fit`` plus what is scored.

    ``y_target`` holds every target label (for scoring only); ``y_target_fit``
    the labels given to ``fit`` (-1 = unlabelled; None = no target labels);
    ``X_eval`` / ``y_eval`` the rows scored (default: the target rows).
    """

    X_source: Any
    y_source: Any
    X_target: Any
    y_target: Any
    y_target_fit: Any = None
    X_eval: Any = None
    y_eval: Any = None
    extra: dict = field(default_factory=dict)


class FitContext:
    """What a :class:`Method` sees when it builds its estimator for one fit.

    Attributes: ``seed``, ``condition``, ``data`` (the condition's data) and
    :meth:`shared`, a per-run cache for an artefact several fits reuse (a
    similarity network trained once per seed, say); its time is recorded in
    the fit's ``shared_s``.
    """

    def __init__(self, seed, condition, data, cache):
        self.seed, self.condition, self.data = seed, condition, data
        self._cache = cache
        self.shared_s = 0.0

    def shared(self, key, build: Callable[[], Any]):
        """``build()`` once per run and ``key``; later fits get the same object."""
        if key not in self._cache:
            t = time.perf_counter()
            self._cache[key] = build()
            self.shared_s += time.perf_counter() - t
        return self._cache[key]


@dataclass(frozen=True)
class Method:
    """One row of a benchmark table.

    Parameters
    ----------
    name : str
        The row name.
    make : callable
        ``make(context) -> estimator`` (see :class:`FitContext`).
    paper : mapping, default={}
        The paper's figures: ``{metric: value}``, or ``{group: {metric: value}}``
        for a task whose columns are groups of conditions.
    shots : int, default=0
        Labelled target rows per class given to ``fit`` (drawn per seed); the
        rows drawn are not scored.
    scoring : {"cluster", "label"}, default="cluster"
        Hungarian-matched cluster accuracy, or plain accuracy of predicted
        labels ("label" is implied by ``shots``).
    deep : bool, default=True
        Whether ``--set`` / ``--device`` apply (False for classical baselines).
    fit_on : {"transfer", "source"}, default="transfer"
        ``fit(X_source, y_source, X_target, y_target_fit)``, or ``fit(X_source)``
        alone (transferable clustering: the target is only predicted; the
        source is scored too, as ``source_nmi``).
    requires : tuple of str, default=()
        Optional modules the row needs (e.g. ``("umap",)``); without them
        the row is skipped with a message.
    """

    name: str
    make: Callable[[FitContext], Any]
    paper: Mapping = field(default_factory=dict)
    shots: int = 0
    scoring: str = "cluster"
    deep: bool = True
    fit_on: str = "transfer"
    requires: tuple = ()

    def paper_figure(self, group, metric):
        value = self.paper.get(group, self.paper) if group else self.paper
        value = value.get(metric) if isinstance(value, Mapping) else None
        return value if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Task:
    """A benchmark task: data + estimators + metrics, declared once.

    Parameters
    ----------
    name : str
        The command-line name.
    title : str
        One line: what is transferred to what.
    paper : str
        Which paper and table the task reproduces.
    setting : str
        The adaptation setting (UDA, SSDA, cross-task, ...).
    files : tuple of str
        The files of :data:`skhda.datasets.BENCHMARK_FILES` it reads.
    cpu_time : str
        Expected CPU time (2 cores), e.g. ``"6 min per seed"``.
    load : callable
        ``load(data_dir, condition) -> TransferData`` (or anything ``evaluate``
        accepts); called once per condition and run.
    methods : tuple of Method
    metrics : tuple of str, default=("acc", "nmi")
        Keys of the dicts that ``evaluate`` returns, shown as columns.
    seeds : int, default=3
        Seeds of a full run (``--seeds``).
    conditions : tuple of str, default=("",)
        Data conditions each method is fitted on, per seed.
    group : callable, default=None
        ``group(condition) -> str``: conditions pooled into one column group
        (default: all conditions in one).
    evaluate : callable, default=fit_and_score
        ``evaluate(method, context, settings) -> dict`` of metrics and ``fit_s``.
    notes : str, default=""
        Protocol notes printed under the table.
    paper_column : str, default="paper"
        Header of the paper's columns (say which data the paper used when it
        is not this task's).
    """

    name: str
    title: str
    paper: str
    setting: str
    files: tuple
    cpu_time: str
    load: Callable
    methods: tuple
    metrics: tuple = ("acc", "nmi")
    seeds: int = 3
    conditions: tuple = ("",)
    group: Callable | None = None
    evaluate: Callable | None = None
    notes: str = ""
    paper_column: str = "paper"

    def group_of(self, condition):
        return self.group(condition) if self.group else ""

    def method(self, name):
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)


def configure(estimator, settings):
    """Apply ``--set`` parameters that the estimator (or a nested one) has.

    ``memory`` (``--memory``) is set only on an estimator that has it
    itself, never on a nested one (a pipeline's ``memory`` is another cache).
    """
    if not settings:
        return estimator
    params = estimator.get_params(deep=True)
    wanted = {k: v for k, v in settings.items() if k in params and k != "memory"}
    if "memory" in settings and "memory" in estimator.get_params(deep=False):
        wanted["memory"] = settings["memory"]
    return estimator.set_params(**wanted) if wanted else estimator


def _has_memory(method, ctx):
    """Whether the row's estimator has a ``memory`` of its own (what ``--memory`` sets)."""
    try:
        est = method.make(ctx)
    except Exception:      # a row built from artefacts of the fit: no memory of its own
        return False
    return hasattr(est, "get_params") and "memory" in est.get_params(deep=False)


def draw_shots(y, shots, seed):
    """``y`` with ``shots`` labels per class kept (drawn with ``seed``), -1 elsewhere."""
    rng = np.random.default_rng(seed)
    y_fit = np.full_like(y, -1)
    for c in np.unique(y):
        y_fit[rng.choice(np.flatnonzero(y == c), shots, replace=False)] = c
    return y_fit


def score(y_true, pred, scoring="cluster"):
    """Target ACC (Hungarian or plain), NMI and ARI of predictions."""
    acc = accuracy_score(y_true, pred) if scoring == "label" else cluster_accuracy(y_true, pred)
    return {"acc": float(acc), "nmi": float(normalized_mutual_info_score(y_true, pred)),
            "ari": float(adjusted_rand_score(y_true, pred))}


def fit_and_score(method, ctx, settings):
    """The default protocol: fit on source + target, predict and score the target.

    With ``method.shots``, that many target labels per class are given to
    ``fit`` and the labelled rows are left out of the scores.
    """
    d = ctx.data
    est = method.make(ctx)
    if method.deep:
        est = configure(est, settings)
    y_fit, X_eval, y_eval = d.y_target_fit, d.X_eval, d.y_eval
    if X_eval is None:
        X_eval, y_eval = d.X_target, d.y_target
    scored = slice(None)
    if method.shots:
        y_fit = draw_shots(d.y_target, method.shots, ctx.seed)
        scored = y_fit == -1
    t = time.perf_counter()
    if method.fit_on == "source":
        est.fit(d.X_source)
    else:
        est.fit(d.X_source, d.y_source, d.X_target, y_fit)
    fit_s = time.perf_counter() - t
    pred = np.asarray(est.predict(X_eval))
    scoring = "label" if method.shots else method.scoring
    y_eval = np.asarray(y_eval)
    out = {**score(y_eval[scored], pred[scored], scoring), "fit_s": fit_s}
    if method.fit_on == "source":
        out["source_nmi"] = float(normalized_mutual_info_score(
            d.y_source, est.predict(d.X_source)))
    return out


# ---------------------------------------------------------------- results files
def record_key(r):
    return (r["method"], r.get("condition", ""), r["seed"],
            json.dumps(r.get("settings", {}), sort_keys=True))


def load_results(paths, task=None):
    """The JSON lines of result files (a torn last line from an interrupted run is skipped)."""
    out = []
    for path in [paths] if isinstance(paths, str | Path) else paths:
        path = Path(path)
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if task is None or r.get("task") == task:
                out.append(r)
    return out


def run_task(task, data_dir=None, seeds=None, methods=None, settings=None, results=None,
             progress=True, memory=None):
    """Fit every (method, condition, seed) of ``task`` not yet in ``results``.

    Parameters
    ----------
    task : Task
    data_dir : str, path-like or None
        Where the task's files are (None: ``$SKHDA_DATA_DIR``).
    seeds : sequence of int, default=None
        Default ``range(task.seeds)``.
    methods : sequence of str, default=None
        Row names (default: every row).
    settings : dict, default=None
        Parameters set on every deep estimator that has them.
    results : path-like, default=None
        JSON-lines file: fits found there are skipped, new fits appended.
    progress : bool, default=True
        A tqdm progress bar over the fits.
    memory : str or None, default=None
        The ``memory`` of every deep estimator that has the parameter (e.g.
        the CKM family, whose rows of one seed then train stage 1 once).
        Results are those of the fits without it; it is not one of the
        records' settings (their ``memory`` field says it was used, and
        their ``fit_s`` then excludes what was restored).

    Returns
    -------
    records : list of dict
        Every record of the task in ``results`` after the run (or of this run).
    """
    from .. import __version__
    from ..datasets import benchmark_file

    settings = dict(settings or {})
    seeds = list(range(task.seeds) if seeds is None else seeds)
    rows = [task.method(m) for m in methods] if methods else list(task.methods)
    for name in task.files:         # every file checked before any fit
        benchmark_file(name, data_dir)
    done = {record_key(r) for r in load_results(results, task.name)} if results else set()
    missing = {m.name: [r for r in m.requires if importlib.util.find_spec(r) is None]
               for m in rows}
    for name, mods in missing.items():
        if mods:
            warnings.warn(f"{task.name}: row {name!r} skipped, it needs {', '.join(mods)} "
                          "(pip install 'skhda[bench]').", stacklevel=2)
    rows = [m for m in rows if not missing[m.name]]
    todo = [(m, c, s) for s in seeds for c in task.conditions for m in rows
            if record_key({"method": m.name, "condition": c, "seed": s,
                           "settings": settings if m.deep else {}}) not in done]
    evaluate = task.evaluate or fit_and_score
    if results and Path(results).is_file() and Path(results).stat().st_size:
        with open(results, "rb+") as fh:         # end a line torn by an interruption
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    data, cache, new, has_memory = {}, {}, [], {}
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc=task.name, unit="fit")
    try:
        for m, c, s in todo:
            if bar is not None:
                bar.set_postfix_str(f"{m.name} {c} seed {s}".replace("  ", " "), refresh=True)
            if c not in data:
                data[c] = task.load(data_dir, c)
            ctx = FitContext(s, c, data[c], cache)
            if m.name not in has_memory:   # once per row: the estimator's parameters
                has_memory[m.name] = bool(memory) and m.deep and _has_memory(m, ctx)
            cached = has_memory[m.name]
            scores = evaluate(m, ctx, {**settings, "memory": memory} if cached else settings)
            rec = {"task": task.name, "method": m.name, "condition": c, "seed": s,
                   "settings": settings if m.deep else {},
                   **({"memory": True} if cached else {}),
                   "device": _device_used(m, settings),
                   "metrics": {k: v for k, v in scores.items() if k != "fit_s"},
                   "fit_s": round(float(scores.get("fit_s", 0.0)) + ctx.shared_s, 3),
                   "shared_s": round(ctx.shared_s, 3), "skhda": __version__,
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            new.append(rec)
            if results:
                path = Path(results)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return load_results(results, task.name) if results else new


def _cell(values):
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.3f} ± {a.std():.3f}" if len(a) > 1 else f"{a.mean():.3f}"


def row_name(r):
    extra = "".join(f", {k}={v}" for k, v in sorted(r.get("settings", {}).items())
                    if k != "device")
    return r["method"] + extra


def _device(record):
    return record.get("device") or record.get("settings", {}).get("device") or "cpu"


def _device_used(method, settings):
    if not method.deep:
        return "cpu"
    device = settings.get("device", "auto")
    if device == "auto":
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return device


def results_table(task, records):
    """A markdown table of ``records``: mean ± std over seeds (and pooled conditions).

    One row per method and settings, in the task's order; per column group
    and metric our figure and, where the paper has one, the paper's; the
    seeds, the mean fit time (seconds, including shared artefacts; "k of n
    with memory" when k fits ran with ``memory``, which restores what an
    earlier fit trained) and the device.
    """
    order = {m.name: i for i, m in enumerate(task.methods)}
    records = [r for r in records if r["method"] in order]
    groups = list(dict.fromkeys(task.group_of(c) for c in task.conditions))
    by_row = {}          # one row per method, settings and device
    for r in sorted(records, key=lambda r: (order[r["method"]], row_name(r))):
        by_row.setdefault((row_name(r), _device(r)), []).append(r)
    cols, head = [], []
    for g in groups:
        for metric in task.metrics:
            label = METRIC_NAMES.get(metric, metric).replace("|", r"\|")   # a cell, not a column
            label = f"{g} {label}" if g else label
            cols.append((g, metric, False))
            head.append(label)
            if any(m.paper_figure(g, metric) is not None for m in task.methods):
                cols.append((g, metric, True))
                head.append(f"{label} ({task.paper_column})")
    lines = ["| method | " + " | ".join(head) + " | seeds | fit time (s) | device |",
             "|---|" + "---|" * (len(head) + 3)]
    for (name, device), rs in by_row.items():
        method = task.method(rs[0]["method"])
        cells = []
        for g, metric, paper in cols:
            if paper:
                v = method.paper_figure(g, metric)
                cells.append("" if v is None else f"{v:.3f}")
                continue
            vals = [r["metrics"][metric] for r in rs
                    if task.group_of(r.get("condition", "")) == g
                    and r["metrics"].get(metric) is not None]
            cells.append(_cell(vals) if vals else "")
        seeds = sorted({r["seed"] for r in rs})
        fit = np.mean([r["fit_s"] for r in rs])
        restored = sum(bool(r.get("memory")) for r in rs)   # fitted with --memory
        fit_cell = f"{fit:.1f}" + (f" ({restored} of {len(rs)} with memory)" if restored else "")
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {len(seeds)} | {fit_cell} | {device} |")
    return "\n".join(lines)


def results_for_plot(task, records, metric=None, group=None):
    """``({row: [value per fit]}, {row: paper figure})`` of one metric and column group.

    The input of :func:`skhda.plotting.plot_benchmark`; defaults: the task's
    first metric and first group.
    """
    metric = metric or task.metrics[0]
    group = task.group_of(task.conditions[0]) if group is None else group
    order = {m.name: i for i, m in enumerate(task.methods)}
    values, paper = {}, {}
    for r in sorted(records, key=lambda r: (order.get(r["method"], len(order)), row_name(r))):
        v = r["metrics"].get(metric)
        if r["method"] not in order or v is None or task.group_of(r["condition"]) != group:
            continue
        name = row_name(r) + ("" if _device(r) == "cpu" else f" ({_device(r)})")
        values.setdefault(name, []).append(v)
        figure = task.method(r["method"]).paper_figure(group, metric)
        if figure is not None:
            paper[name] = figure
    return values, paper


def describe(task, records=()):
    """The heading and protocol lines of a task's table."""
    seeds = sorted({r["seed"] for r in records})
    parts = [f"### {task.title}", "",
             f"{task.paper}. Setting: {task.setting}. "
             + (f"Seeds run: {', '.join(map(str, seeds))}. " if seeds else "")
             + f"Expected CPU time: {task.cpu_time}."]
    if task.notes:
        parts += ["", task.notes]
    return "\n".join(parts)


def parse_settings(items: Sequence[str]):
    """``["epochs=3", "init=kmeans++"]`` -> ``{"epochs": 3, "init": "kmeans++"}`` (JSON values)."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected PARAM=VALUE, got {item!r}.")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value        # a plain string, e.g. init=kmeans++
    return out
