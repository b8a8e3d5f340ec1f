"""``--callback tensorboard|mlflow|wandb`` (raysearch.tracking) and the search's progress line."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from raysearch.errors import run_cli
from raysearch.tracking import TrackingTarget, check_names, log_history, make_callbacks, read_scalars
from raysearch.tune.__main__ import main as tune_main
from raysearch.tune.pipeline import eta_seconds, progress_line


def _fails(main, argv, capsys, match):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


def test_unknown_callback_is_one_line(tmp_path, capsys):
    err = _fails(tune_main, ["scpo", "--out", str(tmp_path), "--callback", "tensorbored"], capsys, "tensorbored")
    assert "tensorboard, mlflow, wandb" in err
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_names_repeat_and_split():
    assert check_names(["tensorboard", "tensorboard"]) == ["tensorboard"]
    assert check_names(["Tensorboard,"]) == ["tensorboard"]
    assert check_names(None) == []


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is not None, reason="mlflow is installed here")
def test_missing_mlflow_names_the_extra(tmp_path, capsys):
    err = _fails(tune_main, ["scpo", "--out", str(tmp_path), "--callback", "tensorboard", "mlflow"], capsys,
                 "raysearch-align[tracking]")
    assert "--callback mlflow" in err and "mlflow" in err


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_missing_wandb_in_train_cli(tmp_path, capsys):
    from raysearch.train.__main__ import main as train_main

    _fails(train_main, ["bt", "--out", str(tmp_path), "--callback", "wandb"], capsys, "raysearch-align[tracking]")


def test_callbacks_are_rays(tmp_path):
    from ray.tune.logger import TBXLoggerCallback

    (cb,) = make_callbacks(["tensorboard"], tmp_path, "run")
    assert isinstance(cb, TBXLoggerCallback)


def test_mlflow_callback_is_local(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (cb,) = make_callbacks(["mlflow"], tmp_path, "run")
    assert isinstance(cb, MLflowLoggerCallback) and cb.tracking_uri == (tmp_path / "mlruns").resolve().as_uri()


def test_mlflow_uri_from_the_environment_is_never_held(tmp_path, monkeypatch):
    from raysearch.tracking import mlflow_uri, mlflow_where

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_uri(tmp_path) == (tmp_path / "mlruns").resolve().as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://me:s3cret@mlflow.example.com")
    assert mlflow_uri(tmp_path) is None  # MLflow reads the variable itself; nothing pickled holds it
    assert "s3cret" not in mlflow_where(tmp_path) and "mlflow.example.com" in mlflow_where(tmp_path)


def test_wandb_callback_is_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from ray.air.integrations.wandb import WandbLoggerCallback

    monkeypatch.delenv("WANDB_MODE", raising=False)
    (cb,) = make_callbacks(["wandb"], tmp_path, "run")
    assert isinstance(cb, WandbLoggerCallback) and cb.kwargs["mode"] == "offline"


def test_single_run_history_to_tensorboard(tmp_path):
    history = [{"epoch": 1, "val/mean_acc": 0.5, "ray/nodes": "abc"}, {"epoch": 2, "val/mean_acc": 0.625}]
    where = log_history("bt", history, target=TrackingTarget(["tensorboard"], tmp_path, "bt"))
    assert where == [f"TensorBoard: {tmp_path / 'tensorboard' / 'bt'}"]
    assert read_scalars(tmp_path / "tensorboard" / "bt") == {"epoch": [(1, 1.0), (2, 2.0)], "val/mean_acc": [(1, 0.5), (2, 0.625)]}


def test_progress_line():
    line = progress_line(done=3, total=8, trial_id="a1b2c3", what="done",
                         values={"val/mean_acc": 0.61234, "val/worst3_acc": 0.4}, running=2, finished=2, failed=1,
                         front_size=2, hypervolume=0.03125, elapsed_s=246, eta_s=eta_seconds([60, 120, 90], 5, 2))
    assert line == ("[raysearch.tune] trial 3/8 a1b2c3 done: val/mean_acc 0.612, val/worst3_acc 0.400 | running 2, "
                    "finished 2, failed 1 | front 2, HV 0.0312 | 4.1 min, ETA 3.8 min")
    assert "\n" not in line
    first = progress_line(done=1, total=2, trial_id="x", what="FAILED (ValueError: bad)", values={}, running=0,
                          finished=0, failed=1, front_size=0, hypervolume=0.0, elapsed_s=30, eta_s=None)
    assert first.endswith("FAILED (ValueError: bad): no metrics | running 0, finished 0, failed 1 | front 0, HV 0.0000 "
                          "| 0.5 min")
    assert eta_seconds([], 3, 1) is None
    assert "ETA 2.0 h" in progress_line(done=1, total=2, trial_id="x", what="done", values={}, running=0, finished=1,
                                        failed=0, front_size=None, hypervolume=None, elapsed_s=1, eta_s=7200)


@pytest.mark.slow
def test_train_cli_writes_tensorboard(tiny_backbone, tmp_path):
    """``python -m raysearch.train bt --callback tensorboard``: each stage's reports (G, then BT) in
    OUT/tensorboard/<stage>/, the last value of each objective the one stored with the model."""
    from raysearch.train.checkpoint import read_meta

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "raysearch.train", "bt", "--smoke-test", "--communities", "Chile", "Mexico",
                        "--backbone", tiny_backbone, "--workers", "1", "--out", str(out), "--callback", "tensorboard"],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    for stage in ("global", "bt"):
        scalars = read_scalars(out / "tensorboard" / stage)
        flat = read_meta(out / stage)["flat"]
        for metric in ("val/mean_acc", "test/mean_acc"):
            assert scalars[metric][-1][1] == pytest.approx(float(flat[metric]), abs=1e-6), (stage, metric, scalars[metric])
        assert f"reports logged to TensorBoard: {out / 'tensorboard' / stage}" in r.stdout
