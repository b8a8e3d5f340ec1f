"""The Ray Train wrapper: a 2-worker DDP run on tiny data, and equivalence with the bare loop."""

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
    return PairwiseConfig(objective="bt", backbone=backbone, epochs=1, batch_size=8, eval_batch_size=16, max_length=24,
                       lr=5e-3, freeze_layers=0, n_boot=50, log_every=100, seed=3)


def test_two_worker_run_reports_metrics_and_checkpoint(ray_local, tiny_backbone, tiny_pairs, tmp_path):
    data = TrainData(train=tiny_pairs, eval={"val": tiny_pairs[:8], "test": tiny_pairs})
    res = fit_with_ray(_cfg(tiny_backbone), data, name="two", storage_path=str(tmp_path / "ray"), num_workers=2,
                       out_dir=tmp_path / "out")
    assert set(res.metrics) == {"val", "test"}
    assert 0.0 <= res.flat["test/mean_acc"] <= 1.0
    assert set(res.metrics["test"]["per_community"]) == {"A", "B"}
    assert (Path(res.checkpoint) / "model" / "config.json").exists()
    assert (Path(res.checkpoint) / "trainer_state.pt").exists()


def test_one_worker_ray_run_equals_bare_loop(ray_local, tiny_backbone, tiny_pairs, tmp_path):
    cfg = _cfg(tiny_backbone)
    data = TrainData(train=tiny_pairs, eval={"test": tiny_pairs})
    bare = train_bare(cfg, data, workdir=str(tmp_path / "bare"))
    wrapped = fit_with_ray(cfg, data, name="one", storage_path=str(tmp_path / "ray"), num_workers=1,
                           out_dir=tmp_path / "out")
    a = RewardModel.load(Path(bare.checkpoint) / "model").model.state_dict()
    b = RewardModel.load(Path(wrapped.checkpoint) / "model").model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert wrapped.metrics["test"]["mean"] == pytest.approx(bare.metrics["test"].mean)
