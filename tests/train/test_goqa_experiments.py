"""The GlobalOpinionQA NP-BTL experiment scripts: the low-rank reference end to end, bad flags as one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from raysearch.errors import run_cli

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_low_rank_reference_scores_the_contested_split(capsys):
    ceiling = _script("goqa_context_ceiling")
    assert ceiling.main(["--smoke-test"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| low-rank |")]
    assert len(rows) == 1
    accs = [float(x) for x in rows[0].strip("| ").split("|")[1:]]
    assert len(accs) == 5 and all(40 < a < 100 for a in accs)
    assert "9 distinct held-out countries" in out  # seed 0's split: the same held-out users as npbtl_goqa.py


def test_experiment_flags_fail_with_one_line(capsys):
    for name, argv, want in (("npbtl_goqa", ["--set", "foo=1"], "unknown NP-BTL option 'foo'"),
                             ("goqa_context_ceiling", ["--rank", "0"], "--rank [0] must be >= 1")):
        with pytest.raises(SystemExit) as e:
            run_cli(_script(name).main, argv)
        assert e.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], lines
