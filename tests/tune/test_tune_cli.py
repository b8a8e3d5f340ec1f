"""``python -m raysearch.tune``: an end-to-end smoke search, kill-and-resume, bad flags and spaces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from raysearch.errors import run_cli
from raysearch.tune.__main__ import main
from raysearch.tune.study import INTERRUPTED, open_storage

COMMON = ["--communities", "Chile", "Mexico", "--smoke-test"]


def _run(args: list[str], *, timeout: int = 600, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           **(env_extra or {})}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "raysearch.tune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)


def _complete(journal: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    if not journal.exists():
        return []
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(str(journal)))
    except KeyError:
        return []
    return [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]


@pytest.mark.slow
def test_kill_driver_and_resume(tiny_backbone, tmp_path):
    args = ["scpo", *COMMON, "--backbone", tiny_backbone, "--out", str(tmp_path), "--num-samples", "3",
            "--name", "kill", "--seed-reruns", "0",  # reruns are covered by the job-submit test
            "--keep-checkpoints", "all"]  # every trial's checkpoint stays, to check none was trained again
    journal = tmp_path / "kill" / "study.journal"
    p = _run(args)
    deadline = time.time() + 600
    while time.time() < deadline and len(_complete(journal, "kill")) < 1:
        time.sleep(2)
        assert p.poll() is None, p.stdout.read()[-3000:] if p.stdout else ""
    os.killpg(p.pid, signal.SIGKILL)  # the driver and everything it started
    p.wait()
    killed_at = time.time()
    done_before = {t.user_attrs["tune_trial_id"] for t in _complete(journal, "kill")}
    assert 1 <= len(done_before) < 3
    time.sleep(3)
    r = _run([*args, "--resume"])
    out, _ = r.communicate(timeout=900)
    assert r.returncode == 0, out[-3000:]
    study = optuna.load_study(study_name="kill", storage=open_storage(str(journal)))
    assert study.metric_names == ["val/mean_acc", "val/worst3_acc"]  # what optuna-dashboard shows on the axes
    trials = study.get_trials()
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    counted = [t for t in trials if t.user_attrs.get("failure") != INTERRUPTED]  # lost asks are not trials
    ids = [t.user_attrs["tune_trial_id"] for t in counted]
    assert len(counted) == 3, [(t.number, t.state, t.user_attrs) for t in trials]  # the budget, no more
    assert len(set(ids)) == 3 and done_before <= set(ids)
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL) for t in counted)
    # the trials finished before the kill were not trained again: every checkpoint they have was saved
    # before the kill (a one-worker trial keeps its own under ray/<run>/checkpoints/<trial>/; a Ray Train
    # trial's are Ray's, and a replayed one re-reports its final checkpoint, a copy with the same save time)
    ray_dir = tmp_path / "kill" / "ray"
    for tid in done_before:
        metas = [*ray_dir.glob(f"kill/checkpoints/{tid}/epoch-*/meta.json"), *ray_dir.glob(f"train-{tid}/checkpoint_*/meta.json")]
        saved = [json.loads(m.read_text())["saved_at"] for m in metas]
        assert saved and max(saved) < killed_at, (tid, metas, saved, killed_at)


def _fails(argv, capsys, match):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


def test_bad_flags(tmp_path, capsys):
    _fails(["scpo", "--out", str(tmp_path), "--num-samples", "0"], capsys, "num_samples")
    with pytest.raises(SystemExit) as e:
        run_cli(main, ["scpo", "--num-sample", "3"])
    assert e.value.code == 2
    assert "unrecognized arguments: --num-sample" in capsys.readouterr().err
    _fails(["scpo", "--out", str(tmp_path), "--resume"], capsys, "no run 'scpo'")
    _fails(["nope", "--out", str(tmp_path)], capsys, "nope")
    _fails(["scpo", "--out", str(tmp_path), "--workers", "0"], capsys, "resources.workers: Input should be greater than or equal to 1")


def test_bad_space_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: scpo\nobjectives: [{metric: val/mean_acc, mode: max}, {metric: val/worst_acc, mode: max}]\n"
                   "reference_point: [0.5, 0.3]\nparams: {tau: {type: float, low: 0.9, high: 0.2}}\n")
    err = _fails(["scpo", "--space", str(bad), "--out", str(tmp_path)], capsys, "bad.yaml")
    assert "tau" in err
    typo = tmp_path / "typo.yaml"
    typo.write_text(bad.read_text().replace("low: 0.9, high: 0.2", "low: 0.2, high: 0.9") + "num_sample: 3\n")
    _fails(["scpo", "--space", str(typo), "--out", str(tmp_path)], capsys, "num_sample")
    assert not (tmp_path / "scpo").exists()
