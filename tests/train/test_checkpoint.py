"""Trainer states load with ``weights_only=True``: RNG states as plain values, old or broken files as one line."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from raysearch.errors import UserInputError
from raysearch.train.checkpoint import STATE_FILE, load_trainer_state, rng_state, save_checkpoint, set_rng_state


def _draws() -> tuple:
    return random.random(), random.gauss(0, 1), np.random.randn(3).tolist(), torch.rand(2).tolist()


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    random.gauss(0, 1)  # a cached Gaussian in Python's state
    np.random.randn()  # and in NumPy's
    torch.save({"rng": [rng_state()]}, tmp_path / "state.pt")
    expected = _draws()
    set_rng_state(torch.load(tmp_path / "state.pt", weights_only=True)["rng"][0])
    assert _draws() == expected


class _Session:
    """What ``save_checkpoint`` reads from a session: a model, AdamW, a scheduler, ``save`` and ``meta``."""

    def __init__(self) -> None:
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=0.1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0 / (1 + step))
        self.model(torch.ones(2, 3)).sum().backward()
        self.optimizer.step()
        self.scheduler.step()

    def save(self, folder: Path) -> dict:
        return {"model": self.model.state_dict(), "selection": {"keep": torch.ones(4, dtype=torch.bool)}}

    def meta(self) -> dict:
        return {}


class _Cfg:
    def to_dict(self) -> dict:
        return {"objective": "toy"}


def _checkpoint(tmp_path: Path) -> Path:
    out = tmp_path / "epoch-1"
    save_checkpoint(out, session=_Session(), cfg=_Cfg(), epoch=1, rng=[rng_state(), rng_state()], metrics={},
                    flat={"val/mse": 0.5})
    return out


def test_a_trainer_state_loads_with_weights_only(tmp_path):
    ckpt = _checkpoint(tmp_path)
    state = torch.load(ckpt / STATE_FILE, weights_only=True)
    assert state["epoch"] == 1 and len(state["rng"]) == 2 and state["optimizer"]["state"]
    assert load_trainer_state(ckpt)["scheduler"]["last_epoch"] == 1


def test_an_old_checkpoint_is_one_line_saying_what_to_do(tmp_path):
    old = tmp_path / "epoch-1"
    old.mkdir()
    # what trainer_state.pt held before: the raw Python and NumPy RNG states (NumPy's holds an ndarray)
    torch.save({"epoch": 1, "rng": [{"python": random.getstate(), "numpy": np.random.get_state(),
                                     "torch": torch.get_rng_state(), "cuda": None}]}, old / STATE_FILE)
    with pytest.raises(UserInputError) as err:
        load_trainer_state(old)
    msg = str(err.value)
    assert "\n" not in msg and str(old / STATE_FILE) in msg
    assert "without --resume" in msg and "delete the folder" in msg and len(msg) < 400


def test_a_truncated_trainer_state_names_the_file(tmp_path):
    ckpt = _checkpoint(tmp_path)
    path = ckpt / STATE_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserInputError) as err:
        load_trainer_state(ckpt)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "truncated or corrupt" in msg and "without --resume" in msg


def _tiny_cfg(backbone: str):
    from raysearch.methods.pairwise.config import PairwiseConfig

    return PairwiseConfig(objective="bt", backbone=backbone, epochs=3, batch_size=8, eval_batch_size=16, max_length=24,
                          lr=5e-3, freeze_layers=0, n_boot=20, log_every=100, seed=3, precision="fp32")


@pytest.mark.parametrize("broken", ["model/model.safetensors", STATE_FILE])
def test_a_truncated_latest_checkpoint_is_named_and_resume_falls_back_to_the_one_before(
        tiny_backbone, tiny_pairs, tmp_path, capsys, broken):
    from raysearch.methods.pairwise.data import TrainData
    from raysearch.methods.registry import get
    from raysearch.train.ray_train import CheckpointStore, run_stored
    from raysearch.train.runner import run

    method, cfg = get("bt"), _tiny_cfg(tiny_backbone)
    data = TrainData(train=tiny_pairs, eval={"val": tiny_pairs[:8]})
    clean, clean_path, _ = run_stored(method, cfg, data, threads=1, store_root=str(tmp_path / "clean"))

    class Killed(Exception):
        pass

    store = CheckpointStore(str(tmp_path / "faulty"))

    def dies_after_epoch_2(metrics, ckpt):  # a run killed right after its second checkpoint was stored
        if ckpt:
            store.save(ckpt)
        if metrics["epoch"] == 2:
            raise Killed

    torch.set_num_threads(1)
    with pytest.raises(Killed):
        run(method, cfg, data, reporter=dies_after_epoch_2, workdir=str(tmp_path / "work"))
    assert sorted(p.name for p in (tmp_path / "faulty").iterdir()) == ["epoch-1", "epoch-2"]  # the last 2 kept
    f = tmp_path / "faulty" / "epoch-2" / broken
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    capsys.readouterr()

    res, path, at = run_stored(method, cfg, data, threads=1, store_root=str(tmp_path / "faulty"))
    out = capsys.readouterr().out
    assert at == 1  # resumed from epoch 1, not from the truncated epoch 2, not from scratch
    assert f"{broken.rsplit('/', 1)[-1]}' is truncated or corrupt" in out and "trying the checkpoint before it" in out
    from safetensors.torch import load_file

    a = load_file(str(Path(clean_path) / "model" / "model.safetensors"))
    b = load_file(str(Path(path) / "model" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)  # the run it would have been
    assert sorted(p.name for p in (tmp_path / "faulty").iterdir()) == ["epoch-3"]  # finished: only the last stays


@pytest.mark.parametrize("mode,best", [("max", "epoch-2"), ("min", "epoch-4")])
def test_a_store_with_a_monitor_keeps_the_latest_and_the_best(tmp_path, mode, best):
    import json

    from raysearch.train.ray_train import CheckpointStore

    store = CheckpointStore(str(tmp_path / "store"), monitor=("val/mean_acc", mode))
    for epoch, acc in enumerate([0.55, 0.71, 0.60, 0.52, 0.58, 0.56], start=1):
        local = tmp_path / "work" / f"epoch-{epoch}"
        local.mkdir(parents=True)
        (local / "meta.json").write_text(json.dumps({"epoch": epoch, "flat": {"val/mean_acc": acc}}))
        store.save(str(local))
        kept = sorted(p.name for p in (tmp_path / "store").iterdir())
        assert kept[-1] == f"epoch-{epoch}" and len(kept) <= 3  # the last 2 while running, and the best
    assert Path(store.best()).name == best
    store.prune(keep=1)  # finished
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted({best, "epoch-6"})
    assert CheckpointStore(str(tmp_path / "store")).best() is None  # no monitor: no best, the last is the run's
