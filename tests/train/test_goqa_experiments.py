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
    for name, argv, want in (("npbtl_goqa", ["--set", "foo=1"], "unknown NpbtlConfig option 'foo'"),
                             ("goqa_context_ceiling", ["--rank", "0"], "--rank [0] must be >= 1")):
        with pytest.raises(SystemExit) as e:
            run_cli(_script(name).main, argv)
        assert e.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], lines


@pytest.mark.slow  # about 35 s on 2 busy cores: embeds the contested split with a tiny backbone and trains 4 models
def test_npbtl_goqa_prints_validation_then_test_once_and_a_zero_leakage_probe(capsys, tiny_backbone, tmp_path):
    script = _script("npbtl_goqa")
    argv = ["--pairs", "contested", "--out", str(tmp_path), "--set", f"backbone={tiny_backbone}", "max_length=16",
            "steps=3", "epochs=1", "eval_repeats=1", "n_boot=20", "hidden=16", "heads=2", "latent_dim=2"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    head = out.split("VALIDATION accuracy")[0].lower()
    assert not [line for line in head.splitlines() if "accuracy" in line and "test" in line]  # training prints val only
    assert out.count("HELD-OUT TEST accuracy") == 1 and out.index("selected on validation") < out.index("HELD-OUT TEST")
    assert "nothing was chosen on test" in out
    probes = [line for line in out.splitlines() if line.startswith("leakage probe")]
    assert len(probes) == 4 and all("tasks scored here: decides 0 of" in line for line in probes)
    assert "pair-disjoint tasks on the same users: decides 0 of" not in probes[-1]  # the older protocol leaks
    assert (tmp_path / "results.json").exists()
