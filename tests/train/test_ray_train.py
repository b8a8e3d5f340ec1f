"""The Ray wrapper: a 2-worker DDP run on tiny data, a one-worker run (a Ray task) equal to the bare
loop, and a one-worker run whose process is SIGKILLed mid-run resuming from its last checkpoint."""

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import train_bare
from raysearch.models.scoring import RewardModel
from raysearch.train.ray_train import fit_with_ray

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from raysearch.ray_env import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


def _cfg(backbone: str) -> PairwiseConfig:
    # fp32: bf16 autocast would amplify any difference in summation order past the tolerance below
    return PairwiseConfig(objective="bt", backbone=backbone, epochs=1, batch_size=8, eval_batch_size=16, max_length=24,
                       lr=5e-3, freeze_layers=0, n_boot=50, log_every=100, seed=3, precision="fp32")


def test_two_worker_run_reports_metrics_and_checkpoint(ray_local, tiny_backbone, tiny_pairs, tmp_path):
    data = TrainData(train=tiny_pairs, eval={"val": tiny_pairs[:8], "test": tiny_pairs})
    res = fit_with_ray(_cfg(tiny_backbone), data, name="two", storage_path=str(tmp_path / "ray"), num_workers=2,
                       out_dir=tmp_path / "out")
    assert set(res.metrics) == {"val", "test"}
    assert 0.0 <= res.flat["test/mean_acc"] <= 1.0
    assert set(res.metrics["test"]["per_community"]) == {"A", "B"}
    assert (Path(res.checkpoint) / "model" / "config.json").exists()
    assert (Path(res.checkpoint) / "trainer_state.pt").exists()
    # Ray Train's copy dropped once out_dir has it (its checkpoint_manager_snapshot.json stays)
    assert not [p for p in (tmp_path / "ray" / "two").glob("checkpoint_*") if p.is_dir()]


def test_one_worker_ray_run_equals_bare_loop(ray_local, tiny_backbone, tiny_pairs, tmp_path):
    cfg = _cfg(tiny_backbone)
    data = TrainData(train=tiny_pairs, eval={"test": tiny_pairs})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the Ray worker of one CPU: the same summation order
    try:
        bare = train_bare(cfg, data, workdir=str(tmp_path / "bare"))
    finally:
        torch.set_num_threads(threads)
    wrapped = fit_with_ray(cfg, data, name="one", storage_path=str(tmp_path / "ray"), num_workers=1,
                           out_dir=tmp_path / "out")
    a = RewardModel.load(Path(bare.checkpoint) / "model").model.state_dict()
    b = RewardModel.load(Path(wrapped.checkpoint) / "model").model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert wrapped.metrics["test"]["mean"] == pytest.approx(bare.metrics["test"].mean)


def _kill_task_after_first_checkpoint(store: Path, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the process of the run's Ray task once its epoch-1 checkpoint is complete."""
    import psutil

    while not stop.is_set() and not (store / "epoch-1" / "COMPLETE").exists():
        time.sleep(0.01)
    for proc in psutil.process_iter(["cmdline"]):
        if any("_run_task" in part for part in proc.info["cmdline"] or []):
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)


def test_one_worker_run_killed_mid_run_resumes_from_its_last_checkpoint(ray_local, tiny_backbone, tiny_pairs, tmp_path):
    cfg = replace(_cfg(tiny_backbone), epochs=6)
    data = TrainData(train=tiny_pairs, eval={"val": tiny_pairs[:8]})
    clean = fit_with_ray(cfg, data, name="clean", storage_path=str(tmp_path / "ray"), num_workers=1,
                         out_dir=tmp_path / "clean")
    assert clean.resumed_at_epoch == 0
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_task_after_first_checkpoint,
                              args=(tmp_path / "ray" / "killed" / "checkpoints", killed, stop))
    killer.start()
    try:
        res = fit_with_ray(cfg, data, name="killed", storage_path=str(tmp_path / "ray"), num_workers=1, max_failures=1,
                           out_dir=tmp_path / "out")
    finally:
        stop.set()
        killer.join()
    assert killed, "the task was never killed"
    assert 1 <= res.resumed_at_epoch < cfg.epochs  # the retry resumed from a checkpoint, not from scratch
    a = RewardModel.load(Path(clean.checkpoint) / "model").model.state_dict()
    b = RewardModel.load(Path(res.checkpoint) / "model").model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)  # same threads, same seed: the same run
    timing = ("train/pairs_per_s", "ray/nodes")
    assert {k: v for k, v in res.flat.items() if k not in timing} == {k: v for k, v in clean.flat.items() if k not in timing}
    for run in (clean, res):  # an earlier epoch better on validation than the last is kept as out_dir/best
        import json

        last = json.loads((Path(run.checkpoint) / "meta.json").read_text())
        if (Path(run.checkpoint) / "best").exists():
            best = json.loads((Path(run.checkpoint) / "best" / "meta.json").read_text())
            assert best["epoch"] < last["epoch"] and best["flat"]["val/mean_acc"] > last["flat"]["val/mean_acc"]
    # the finished run's model is out_dir; its stored copy (only the latest was kept while it ran) is gone
    assert (tmp_path / "out" / "model").is_dir() and not (tmp_path / "ray" / "killed" / "checkpoints").exists()
