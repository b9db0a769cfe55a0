"""The gallery scripts and the demo command run (so the docs stay true)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    assert "ACC" in capsys.readouterr().out


def test_demo_command_prints_the_comparison_table(capsys):
    from skhda.__main__ import main

    assert main(["--only", "k-means", "spectral"]) == 0
    out = capsys.readouterr().out
    assert "k-means on target" in out and "spectral on target" in out and "NMI" in out
