"""``python -m raysearch.train``: bad input gives one line on stderr, exit code 2, and writes nothing."""

import json
import os
import subprocess
import sys

import pytest

from raysearch.errors import run_cli
from raysearch.train.__main__ import main


def _fails(argv, capsys, match, out):
    with pytest.raises(SystemExit) as e:
        run_cli(main, [*argv, "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and match in err, err
    assert not out.exists(), "a failed start must write nothing"
    return err


@pytest.fixture()
def goqa_file(tmp_path):
    recs = [
        {"country": "Chile", "question": "q1?", "options": ["a", "b"], "distribution": [0.8, 0.2]},
        {"country": "Flatland", "question": "q1?", "options": ["a", "b"], "distribution": [0.5, 0.5]},
    ]
    p = tmp_path / "goqa.json"
    p.write_text(json.dumps(recs))
    return p


def test_missing_data_file(tmp_path, capsys):
    _fails(["scpo", "--data", str(tmp_path / "nope.json")], capsys, "does not exist", tmp_path / "out")


def test_malformed_data_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"country": ')
    _fails(["scpo", "--data", str(bad)], capsys, "not valid JSON", tmp_path / "out")


def test_community_with_no_data(goqa_file, tmp_path, capsys):
    _fails(["scpo", "--data", str(goqa_file), "--communities", "Flatland"], capsys, "no preference pairs",
           tmp_path / "out")


def test_unknown_community_lists_close_matches_only(tmp_path, capsys):
    err = _fails(["scpo", "--communities", "Chile", "Neu Zealand"], capsys, "unknown community 'Neu Zealand'",
                 tmp_path / "out")
    assert "'New Zealand'" in err and "Mexico" not in err and len(err) < 300  # a few close matches, not all 129 names


def test_backbone_path_missing(tmp_path, capsys):
    _fails(["scpo", "--backbone", str(tmp_path / "no-model")], capsys, "does not exist", tmp_path / "out")


@pytest.mark.parametrize("flag,value", [("--tau", "0"), ("--tau", "1.5"), ("--beta", "0"), ("--beta", "-2")])
def test_tau_beta_ranges(flag, value, tmp_path, capsys):
    _fails(["scpo", flag, value], capsys, flag.strip("-"), tmp_path / "out")


def test_unknown_flag_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(main, ["scpo", "--epoch", "3", "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_entry_point_exit_code(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "raysearch.train", "scpo", "--tau", "2", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "tau=2.0" in p.stderr


@pytest.mark.parametrize("method", ["scpo", "dprm", "npbtl"])
def test_cpus_per_worker_must_be_positive(method, tmp_path, capsys):
    _fails([method, "--cpus-per-worker", "0"], capsys, "--cpus-per-worker 0 must be >= 1", tmp_path / "out")
