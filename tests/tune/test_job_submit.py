"""``ray job submit -- python -m raysearch.tune scpo`` against a local head started by the test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raysearch.ray_env import stop_nodes_in
from raysearch.tune.pipeline import load_pareto_model
from raysearch.tune.study import read_front

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_job_submit_to_local_head(tiny_backbone, tmp_path):
    ray_bin = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    gcs, dash, agent, metrics, rtenv = (_free_port() for _ in range(5))
    temp = Path("/tmp") / f"rs-job-{os.getpid()}"  # short: Ray's socket paths have a length limit
    start = [ray_bin, "start", "--head", f"--port={gcs}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
             "--num-cpus=2", "--disable-usage-stats", f"--temp-dir={temp}",
             f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}",
             f"--runtime-env-agent-port={rtenv}"]  # Ray's default ports may be taken by another cluster
    subprocess.run(start, check=True, env=env, capture_output=True, timeout=180)
    try:
        out = tmp_path / "out"
        cmd = [ray_bin, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--",
               sys.executable, "-m", "raysearch.tune", "scpo", "--smoke-test", "--communities", "Chile", "Mexico",
               "--backbone", tiny_backbone, "--out", str(out), "--num-samples", "2"]
        for _ in range(60):  # the head's job agent needs a few seconds after `ray start`
            job = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            if "No available agent" not in job.stderr + job.stdout:
                break
            time.sleep(2)
        assert job.returncode == 0, (job.stdout + job.stderr)[-4000:]
        assert "Ray: cluster" in job.stdout, job.stdout[-3000:]
        run = out / "scpo"
        for f in ("trials.csv", "pareto.csv", "pareto.json", "pareto.png", "report.md", "baselines.json"):
            assert (run / f).stat().st_size > 0, f
        # the front read back from the Optuna storage is the one the run wrote
        front = read_front(str(run / "study.journal"), "scpo")
        saved = json.loads((run / "pareto.json").read_text())
        assert front.n_trials == 2 and front.points
        assert [p.trial_id for p in front.points] == [p["trial_id"] for p in saved["points"]]
        assert front.hypervolume == pytest.approx(saved["hypervolume"])
        assert set(json.loads((run / "baselines.json").read_text())) == {"global model G", "fine-tuning from G"}
        # the front and the baselines retrained with one more seed (smoke) and read on test, paired
        conf = json.loads((run / "confirm.json").read_text())
        names = {m["name"] for m in conf["models"]}
        assert names == {p.trial_id for p in front.points} | {"global model G", "fine-tuning from G"}
        assert all(len(m["seeds"]) == 2 and "test/mean_acc" in m["flat"][1] for m in conf["models"])
        g = conf["paired_test"]["global model G"]["difference"]["global model G"]["mean"]
        assert (g["value"], g["low"], g["high"]) == (0.0, 0.0, 0.0)
        report = (run / "report.md").read_text()
        assert "## Paired differences on test against fine-tuning from G" in report and "## Noise floor" in report
        rm = load_pareto_model(run, front.points[0].trial_id)  # a Pareto checkpoint in one call
        assert rm.score_many(["Is it important?"], ["yes"], community="Chile").shape == (1,)
        assert "| community |" in (run / "report.md").read_text()
        # retention: each Pareto model once, in pareto/; no trial checkpoint left in the Ray storage, and the
        # reruns' stored copies dropped once copied to their model folders
        assert sorted(p.name for p in (run / "pareto").iterdir()) == sorted(p.trial_id for p in front.points)
        assert not [c for c in (run / "ray" / "scpo" / "checkpoints").glob("*/*")]
        assert not list(run.glob("reruns/*/ray/*/checkpoints/*"))
    finally:
        stop_nodes_in([str(temp)])  # only the head this test started, never `ray stop` (every Ray process)
        shutil.rmtree(temp, ignore_errors=True)
