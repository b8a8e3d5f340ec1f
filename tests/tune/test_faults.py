"""Real faults through the real tune CLI: a diverging trial, a full disk, more GPUs than the machine has.

Each test starts its own local Ray through ``python -m raysearch.tune`` (a subprocess) and leaves
nothing behind: the driver stops the Ray it started, the files live in pytest's temp folders.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from raysearch.tune.study import open_storage

pytestmark = pytest.mark.slow
SECRET = "Hunter2-not-a-real-password"


def _tune(args: list[str], *, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "raysearch.tune", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


DIVERGING_SPACE = """\
experiment: scpo
objectives:
  - {metric: val/mean_acc, mode: max}
  - {metric: val/worst3_acc, mode: max}
reference_point: [0.5, 0.3]
sampler: random
seed: 0   # the random sampler draws 1e30, 0.01, 1e30
num_samples: 3
seed_reruns: 0
resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}
fixed: {epochs: 1, batch_size: 4}   # several steps per trial: two are enough to overflow
params:
  # AdamW decays every weight by lr * weight_decay per step: 1e30 sends the weights to inf in two steps
  weight_decay: {type: categorical, choices: [0.01, 1.0e+30]}
"""


def test_a_diverging_trial_fails_with_its_reason_and_the_search_goes_on(tiny_backbone, tmp_path):
    space = tmp_path / "diverging.yaml"
    space.write_text(DIVERGING_SPACE)
    # an RDB storage whose URL carries a password (SQLite ignores the unknown URI parameter, a server would not)
    url = f"sqlite:///file:{tmp_path / 'study.db'}?uri=true&password={SECRET}"
    r = _tune(["scpo", "--space", str(space), "--smoke-test", "--communities", "Chile", "Mexico",
               "--backbone", tiny_backbone, "--reference", tiny_backbone,  # G given: not what this test is about
               "--out", str(tmp_path), "--name", "nan", "--num-samples", "3",
               "--seed-reruns", "0", "--optuna-storage", url])
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    run = tmp_path / "nan"
    # the password is in no file of the finished run (reports, CSVs, Ray Tune's pickles, logs) and no output line
    leaked = [str(f) for f in run.rglob("*") if f.is_file() and SECRET.encode() in f.read_bytes()]
    assert not leaked and SECRET not in r.stdout + r.stderr, leaked
    study = optuna.load_study(study_name="nan", storage=open_storage(url))
    trials = study.get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 3 and failed and done, [(t.state, t.params) for t in trials]
    assert all(t.params["weight_decay"] == 1e30 for t in failed)  # exactly the diverging configuration fails
    assert all(t.params["weight_decay"] == 0.01 for t in done)
    assert all(t.values is None for t in failed)  # Optuna never stores a NaN (or any value) for them
    assert all(math.isfinite(v) for t in done for v in t.values)
    rows = {row["trial_id"]: row for row in csv.DictReader((run / "trials.csv").open())}
    failed_ids = {t.user_attrs["tune_trial_id"] for t in failed}
    for tid in failed_ids:
        assert rows[tid]["status"] == "failed"
        # the loss turns NaN at step 3 (seen so in this test); the weights are checked too, after every epoch
        assert rows[tid]["failure"].startswith("FloatingPointError: non-finite loss nan at epoch 1"), rows[tid]
    front = json.loads((run / "pareto.json").read_text())
    assert {p["trial_id"] for p in front["points"]}.isdisjoint(failed_ids) and front["points"]
    assert "FAILED (FloatingPointError: non-finite loss nan" in r.stdout  # the progress line says why
    # retention: no failed or dominated trial keeps a checkpoint; the Pareto models are in pareto/ only
    assert not list((run / "ray" / "nan" / "checkpoints").glob("*/*"))
    assert {p.name for p in (run / "pareto").iterdir()} == {p["trial_id"] for p in front["points"]}


def test_more_gpus_than_this_machine_has_is_one_line_before_any_trial(tiny_backbone, tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the test asks for more GPUs than a CPU machine has")
    r = _tune(["scpo", "--smoke-test", "--communities", "Chile", "Mexico", "--backbone", tiny_backbone,
               "--out", str(tmp_path), "--gpus-per-worker", "1"], timeout=300)
    assert r.returncode == 2, (r.stdout + r.stderr)[-3000:]
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith("error: each trial asks for 1 GPU(s) (1 worker(s) x 1), but this machine's Ray has 0 GPU(s)")
    assert "Traceback" not in r.stderr
    assert "global model G" not in r.stdout  # nothing was trained
    assert not (tmp_path / "scpo" / "baselines.json").exists()


def _small_disk(path: Path, size: str) -> None:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"this machine forbids mounting a tmpfs: {r.stderr.strip()}")


def test_a_full_disk_is_one_line_and_leaves_nothing_presented_as_complete(tiny_backbone, tmp_path):
    disk = tmp_path / "disk"
    _small_disk(disk, "3m")  # the data and the first files fit; G's checkpoint (a 4 MB tiny BERT + optimizer) does not
    try:
        r = _tune(["scpo", "--smoke-test", "--communities", "Chile", "Mexico", "--backbone", tiny_backbone,
                   "--out", str(disk), "--name", "full"], timeout=600)
        assert r.returncode == 1, (r.stdout + r.stderr)[-3000:]
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and "No space left on device" in last, r.stderr[-3000:]
        run = disk / "full"
        # nothing half-written is presented as complete: no finished G (its FINGERPRINT is written last), no
        # model folder, no stored checkpoint marked COMPLETE, no report
        assert not (run / "global" / "FINGERPRINT").exists()
        assert not (run / "global" / "model").exists()
        assert not list(run.glob("ray/**/COMPLETE"))
        assert not (run / "report.md").exists() and not (run / "pareto.json").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


EPOCHS = 4  # a few seconds each: Ray Train registers a reported checkpoint on its next poll of the workers
TWO_WORKER_SPACE = """\
experiment: scpo
objectives:
  - {metric: val/mean_acc, mode: max}
  - {metric: val/worst3_acc, mode: max}
reference_point: [0.5, 0.3]
sampler: random
seed: 0
num_samples: 2
max_concurrent: 1
seed_reruns: 0
resources: {workers: 2, cpus_per_worker: 1, gpus_per_worker: 0}   # each trial a Ray Train run of 2 DDP workers
fixed: {epochs: 4, max_train_pairs: 96, max_global_pairs: 32, max_length: 32, batch_size: 32, n_boot: 20, precision: fp32}
params:
  tau: {type: categorical, choices: [0.7]}   # both trials the same configuration: the second is the unkilled run
"""


def _kill_a_train_worker_after_its_first_checkpoint(ray_dir: Path, killed: list[int], stop) -> None:
    """SIGKILL one Ray Train worker process of the first trial once Ray Train has registered a checkpoint of it
    (listed in the run's ``checkpoint_manager_snapshot.json``; one only written is not yet Ray's to restore)."""
    import signal
    import time

    import psutil

    while not stop.is_set():
        for snap in ray_dir.glob("train-*/checkpoint_manager_snapshot.json"):
            try:
                registered = json.loads(snap.read_text()).get("checkpoint_results") or []
            except ValueError:  # being written
                continue
            if registered and registered[-1]["metrics"]["epoch"] < EPOCHS:
                for proc in psutil.process_iter(["cmdline"]):
                    if "RayTrainWorker" in " ".join(proc.info["cmdline"] or []):
                        os.kill(proc.pid, signal.SIGKILL)
                        killed.append(proc.pid)
                        return
        time.sleep(0.05)


def test_a_killed_ray_train_worker_resumes_its_trial_which_ends_like_an_unkilled_one(tiny_backbone, tmp_path):
    import threading

    import torch

    space = tmp_path / "two.yaml"
    space.write_text(TWO_WORKER_SPACE)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_train_worker_after_its_first_checkpoint,
                              args=(tmp_path / "kill" / "ray", killed, stop))
    killer.start()
    try:
        # G is given (--reference): training it is not what this test is about, and would be one more Ray Train run
        r = _tune(["scpo", "--space", str(space), "--communities", "Chile", "Mexico", "--backbone", tiny_backbone,
                   "--reference", tiny_backbone, "--out", str(tmp_path), "--name", "kill", "--keep-checkpoints", "all"])
    finally:
        stop.set()
        killer.join()
    (tmp_path / "tune.log").write_text(r.stdout + r.stderr)  # for a failure's post-mortem
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert killed, "no Ray Train worker was killed"
    out = r.stdout + r.stderr
    resumed = [ln for ln in out.splitlines() if "[raysearch.train] resumed from" in ln]
    assert len(resumed) == 1 and f"/{EPOCHS}" in resumed[0], out[-4000:]  # a local copy of Ray's checkpoint
    assert " at epoch 0/" not in resumed[0]  # from a checkpoint, not from the start
    rows = list(csv.DictReader((tmp_path / "kill" / "trials.csv").open()))
    assert len(rows) == 2 and all(row["status"] in ("pareto", "dominated") for row in rows), rows
    a, b = rows
    same = [k for k in a if k.startswith(("val/", "extra.val/"))]
    assert same and all(a[k] == b[k] for k in same), [(k, a[k], b[k]) for k in same if a[k] != b[k]]
    # the killed-and-resumed trial ends bit-identical in its weights to the unkilled one (same seed and config)
    from safetensors.torch import load_file

    wa, wb = (load_file(str(tmp_path / "kill" / "pareto" / row["trial_id"] / "model" / "model.safetensors")) for row in rows)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    g = load_file(str(Path(tiny_backbone) / "model.safetensors"))  # G (the backbone, given): the trials' init
    encoder = {k: k.removeprefix("bert.") for k in wa if k.removeprefix("bert.") in g}
    assert encoder and any(not torch.equal(wa[k], g[n]) for k, n in encoder.items())  # training moved them from G
