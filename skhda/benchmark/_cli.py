"""``python -m skhda benchmark``: list the tasks, run one, or rebuild its table."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._core import describe, load_results, parse_settings, results_table, run_task
from .tasks import TASKS

EPILOG = """\
examples:
  python -m skhda benchmark --list
  python -m skhda benchmark digits --seeds 1
  python -m skhda benchmark ckm-usps-mnist --data-dir ../shared/data --seeds 2 --set epochs=3
  python -m skhda benchmark ckm-usps-mnist --from-results skhda-benchmarks/ckm-usps-mnist.jsonl

A run appends one JSON line per fit to OUT/TASK.jsonl; run the same command
again after an interruption and it resumes with the fits not yet recorded.
The table (mean +- std over seeds, the paper's figure beside ours) is printed
and written to OUT/TASK.md.
"""


def list_tasks(out=None):
    """Print every task: name, paper, setting, files and expected CPU time (default: stdout)."""
    out = out or sys.stdout     # looked up per call: a default bound at import misses redirection
    width = max(map(len, TASKS))
    for t in TASKS.values():
        files = ", ".join(t.files) or "none (embedded data)"
        print(f"{t.name:{width}s}  {t.title}\n{'':{width}s}  paper: {t.paper}; setting: "
              f"{t.setting}\n{'':{width}s}  data: {files}; seeds: {t.seeds}; "
              f"CPU: {t.cpu_time}\n", file=out)


PAGE_HEAD = """# Reproducing the papers

Every table of the benchmark pages comes from one command,
`python -m skhda benchmark TASK`, over the task registry of
`skhda.benchmark.tasks`. Put the data files in one folder and point
`--data-dir` (or `$SKHDA_DATA_DIR`) at it; nothing is downloaded, and a
missing file is named with what it holds and how to build it. Each run
appends one JSON line per fit to `skhda-benchmarks/TASK.jsonl`, so an
interrupted run resumes where it stopped; `--from-results FILE` rebuilds a
table without fitting. `--set PARAM=VALUE` changes a parameter of every deep
row (the row names then carry it), `--device cuda` runs on a GPU,
`--memory DIR` lets the CKM family's rows of one seed share their stage 1
(the same results in 0.45x the time on `ckm-usps-mnist`).

The tables below are rebuilt from the result files committed in
`benchmarks/results/` (`python -m skhda benchmark --page doc/reproducing.md`);
a task without a table there has not been run through the registry yet (its
figures are on its benchmark page). Fit times are seconds per fit on the
device shown, often under load; the benchmark pages say where each ran.
"""


def write_page(path, results_dir):
    """The "reproducing the papers" page: every task, its command, its latest table."""
    parts = [PAGE_HEAD]
    for t in TASKS.values():
        files = ", ".join(f"`{f}`" for f in t.files) or "none (embedded or generated data)"
        parts += [f"## `{t.name}`", "", f"{t.title}.", "",
                  f"- Paper: {t.paper}.", f"- Setting: {t.setting}.", f"- Data: {files}.",
                  f"- Seeds: {t.seeds}; expected CPU time: {t.cpu_time}.", "",
                  f"```\npython -m skhda benchmark {t.name}"
                  + (" --data-dir DIR" if t.files else "") + "\n```", ""]
        records = load_results(Path(results_dir) / f"{t.name}.jsonl", t.name)
        if records:
            parts += [results_table(t, records), ""]
            if t.notes:
                parts += [t.notes, ""]
    Path(path).write_text("\n".join(parts))


def _select(task, wanted, parser):
    """Row names from ``--methods``: exact names, else case-insensitive substrings."""
    names = [m.name for m in task.methods]
    out = []
    for w in wanted:
        hits = [w] if w in names else [n for n in names if w.lower() in n.lower()]
        if not hits:
            parser.error(f"--methods: {w!r} matches no row of {task.name}; rows: "
                         + "; ".join(names))
        out += [h for h in hits if h not in out]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skhda benchmark", description="Reproduce a paper's table.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", nargs="?", help="task name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0..N-1 (default: the task's protocol)")
    parser.add_argument("--device", default=None, help="device of every deep estimator")
    parser.add_argument("--data-dir", default=None,
                        help="folder of the data files (default: $SKHDA_DATA_DIR)")
    parser.add_argument("--out", default="skhda-benchmarks",
                        help="folder of the results and table files (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="a parameter of every deep estimator that has it (repeatable)")
    parser.add_argument("--methods", nargs="+", default=None, metavar="ROW",
                        help="rows to fit: names or parts of names")
    parser.add_argument("--from-results", nargs="+", default=None, metavar="FILE",
                        help="rebuild the table from these result files without fitting")
    parser.add_argument("--memory", default=None, metavar="DIR",
                        help="cache folder of the deep estimators with a memory parameter "
                             "(the CKM family: the rows of one seed train stage 1 once; "
                             "same results, less time)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="also save a chart of the first metric, ours vs the paper "
                             "(needs matplotlib: pip install 'skhda[plots]')")
    parser.add_argument("--page", default=None, metavar="FILE",
                        help="write the reproducing-the-papers page (every task with its "
                             "command and the table of --results-dir) and exit")
    parser.add_argument("--results-dir", default="benchmarks/results",
                        help="result files of --page (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.list:
        list_tasks()
        return 0
    if args.page:
        write_page(args.page, args.results_dir)
        return 0
    if args.task is None:
        parser.error("name a task (see --list)")
    if args.task not in TASKS:
        parser.error(f"unknown task {args.task!r}; known: {', '.join(TASKS)}")
    task = TASKS[args.task]
    out = Path(args.out)
    if args.from_results:
        records = load_results(args.from_results, task.name)
        if not records:
            parser.error(f"--from-results: no record of task {task.name} in "
                         + ", ".join(args.from_results))
    else:
        try:
            settings = parse_settings(args.set)
        except ValueError as exc:
            parser.error(str(exc))
        if args.device:
            settings["device"] = args.device
        methods = _select(task, args.methods, parser) if args.methods else None
        _check_settings_apply(task, methods, settings, parser)
        if args.threads:
            import torch
            torch.set_num_threads(args.threads)
        data_dir = args.data_dir or os.environ.get("SKHDA_DATA_DIR")
        try:
            records = run_task(task, data_dir, None if args.seeds is None else range(args.seeds),
                               methods, settings, out / f"{task.name}.jsonl",
                               progress=not args.no_progress, memory=args.memory)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            done = len(load_results(out / f"{task.name}.jsonl", task.name))
            print(f"\ninterrupted: {done} fits of {task.name} are in {out / task.name}.jsonl; "
                  "run the same command again to resume.", file=sys.stderr)
            return 130
    text = describe(task, records) + "\n\n" + results_table(task, records) + "\n"
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{task.name}.md").write_text(text)
    if args.plot:
        save_plot(task, records, args.plot)
    return 0


def save_plot(task, records, path):
    """A bar chart of the task's first metric with the paper's figures (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from ..plotting import plot_benchmark
    from ._core import METRIC_NAMES, results_for_plot

    values, paper = results_for_plot(task, records)
    ax = plot_benchmark(values, paper, metric=METRIC_NAMES.get(task.metrics[0],
                                                                task.metrics[0]))
    ax.set_title(task.title, fontsize=9)
    ax.figure.set_size_inches(max(6, 0.6 * len(values)), 4.5)
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=100)


def _check_settings_apply(task, methods, settings, parser):
    """Every ``--set`` key must be a parameter of some deep row's estimator."""
    if not settings:
        return
    from ._core import FitContext

    rows = [task.method(m) for m in methods] if methods else list(task.methods)
    params = set()
    for m in rows:
        if not m.deep:
            continue
        try:
            est = m.make(FitContext(0, task.conditions[0], None, {}))
        except Exception:      # a row that needs its data to be built: accept its settings
            return
        params |= set(est.get_params(deep=True))
    unknown = sorted(set(settings) - params)
    if unknown:
        parser.error(f"--set: {', '.join(unknown)} is a parameter of no estimator of "
                     f"{task.name}'s rows")
