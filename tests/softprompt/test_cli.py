"""The CLI: bad input is one line + exit code 2; a tiny end-to-end run writes a report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from raysearch.errors import run_cli
from raysearch.softprompt.__main__ import main
from raysearch.softprompt.survey import bundled_survey_path


def _fails(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_unknown_country_lists_close_matches(capsys) -> None:
    err = _fails(capsys, ["--country", "Indai", "--workers", "0"])
    assert "'India'" in err


def test_country_without_scores(capsys, tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("ctr;country;pdi;idv;mas;uai;ltowvs;ivr\nAAA;Atlantis;#NULL!;;;;;\n")
    err = _fails(capsys, ["--country", "Atlantis", "--targets", str(path)])
    assert "no Hofstede score" in err


def test_model_path_that_does_not_exist(capsys, tmp_path: Path) -> None:
    err = _fails(capsys, ["--country", "China", "--model", str(tmp_path / "m")])
    assert "does not exist" in err
    err = _fails(capsys, ["--country", "China", "--model", "nobody/no-such-model"])
    assert "offline Hugging Face cache" in err


def test_survey_with_a_missing_item(capsys, tmp_path: Path) -> None:
    data = yaml.safe_load(bundled_survey_path().read_text())
    data["items"] = [i for i in data["items"] if i["number"] != 13]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    err = _fails(capsys, ["--country", "China", "--survey", str(path)])
    assert "item 13" in err


def test_bad_numbers(capsys) -> None:
    assert "--popsize" in _fails(capsys, ["--country", "China", "--popsize", "1"])
    assert "--rescore-draws 1 must be at least 2" in _fails(capsys, ["--country", "China", "--rescore-draws", "1"])


def test_unknown_flag_is_rejected() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "raysearch.softprompt", "--country", "China", "--budgett", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "unrecognized arguments: --budgett" in out.stderr


def test_end_to_end_tiny_run_and_resume_guard(capsys, tiny_lm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = "--country U.S.A. --workers 0 --budget 8 --popsize 4 --subspace-dim 4 --n-tokens 2 --goqa 3".split()
    argv += ["--model", str(tiny_lm_dir), "--out", str(out)]
    assert run_cli(main, argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["dimension"] for r in report["table"]] == ["PDI", "IDV", "MAS", "UAI", "LTO", "IVR"]
    assert report["evaluations"] == 8 and len(report["history"]) == 8
    assert report["l1"]["optimized"] <= min(report["history"]) + 1e-3
    for name in ("report.md", "convergence.png", "dimensions.png", "adapter/adapter_config.json", "checkpoint.pkl"):
        assert (out / name).exists(), name
    assert set(report["goqa"]["mean_js_distance"]) == {"naive", "persona", "optimized"}
    assert report["goqa"]["questions"] == 3
    js = report["goqa"]["js_per_question"]
    assert all(len(v) == 3 for v in js.values())
    d = report["goqa"]["paired_difference"]["optimized - persona"]  # question by question, as the means say
    assert d["value"] == pytest.approx(np.mean(js["optimized"]) - np.mean(js["persona"]))
    assert d["low"] <= d["value"] <= d["high"]
    assert "| **L1** |" in capsys.readouterr().out
    assert "already holds a run" in _fails(capsys, argv)  # no silent overwrite
    assert run_cli(main, argv + ["--resume"]) == 0  # finished run: resume just reports again


def test_country_resolves_case_insensitively_and_by_alias(monkeypatch) -> None:
    import raysearch.softprompt.runner

    seen = {}
    monkeypatch.setattr(raysearch.softprompt.runner, "run_softprompt",
                        lambda cfg: seen.setdefault("cfg", cfg) and {"optimized_beats_both": False})
    assert run_cli(main, ["--country", "usa", "--workers", "0"]) == 0
    assert seen["cfg"].country == "U.S.A." and seen["cfg"].out_dir.name == "u-s-a-seed0"
    assert "the United States" in seen["cfg"].persona_text()


def test_unknown_country_is_a_short_line_with_the_close_match(capsys) -> None:
    err = _fails(capsys, ["--country", "Neu Zealand", "--workers", "0"])
    assert "'New Zealand'" in err and len(err) < 300
