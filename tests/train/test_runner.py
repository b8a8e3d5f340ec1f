"""A fifth method is a folder plus one registry line: a toy method defined here trains through the
real runner (determinism, exact resume) and the real Ray Train wrapper (2 DDP workers).

No ``from __future__ import annotations`` here: Ray workers receive this module's classes by value,
and the config's field types must be objects there, not names of this (unimportable) module."""

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import torch

from raysearch.methods import registry
from raysearch.methods.base import Method
from raysearch.train import distributed
from raysearch.train.checkpoint import STATE_FILE, read_meta
from raysearch.train.config import BaseConfig, option
from raysearch.train.runner import Session, run


# ----------------------------------------------------------------------------- the toy method
@dataclass
class ToyConfig(BaseConfig):
    objective: Literal["toy"] = option("toy", "always toy", cli=False)
    width: int = option(8, "hidden units of the toy regressor", ge=1)
    lr: float | None = option(0.05, "SGD learning rate", gt=0)


@dataclass
class ToyData:
    x: dict[str, torch.Tensor]  # split -> [N, 2]
    y: dict[str, torch.Tensor]  # split -> [N]


@dataclass
class Mse:
    value: float

    def to_dict(self) -> dict[str, float]:
        return {"mse": self.value}


class ToySession(Session):
    unit = "points"

    def __init__(self, cfg: ToyConfig, data: ToyData) -> None:
        self.cfg, self.data = cfg, data
        self.rank, self.size = distributed.world()
        torch.manual_seed(cfg.seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(2, cfg.width), torch.nn.Tanh(), torch.nn.Linear(cfg.width, 1))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.learning_rate)
        self.steps_per_epoch = math.ceil(len(data.y["train"]) / cfg.batch_size)

    def batches(self, epoch: int):
        g = torch.Generator().manual_seed(self.cfg.seed * 1000 + epoch)
        perm = torch.randperm(len(self.data.y["train"]), generator=g)
        for s in range(self.steps_per_epoch):
            yield perm[s * self.cfg.batch_size : (s + 1) * self.cfg.batch_size][self.rank :: self.size]

    def loss(self, model: torch.nn.Module, batch: torch.Tensor, step: int) -> tuple[torch.Tensor, int]:
        pred = model(self.data.x["train"][batch]).squeeze(-1)
        return torch.nn.functional.mse_loss(pred, self.data.y["train"][batch]), len(batch)

    def evaluate(self, split: str) -> tuple[dict[str, Any], dict[str, float]]:
        with torch.no_grad():
            mse = float(torch.nn.functional.mse_loss(self.model(self.data.x[split]).squeeze(-1), self.data.y[split]))
        return {split: Mse(mse)}, {f"{split}/mse": mse}

    def save(self, folder: Path) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])


@dataclass(frozen=True)
class Toy:
    name: str = "toy"
    help: str = "a toy regressor (test only)"
    config_cls: type[ToyConfig] = ToyConfig
    data_keys: tuple[str, ...] = ()
    per_community_prefix: str = "val/"
    smoke_fixed: dict[str, Any] = field(default_factory=dict)
    monitor: tuple[str, str] = ("val/mse", "min")

    def prepare(self, source, communities, cfg, *, seed, **data_opts):
        return toy_data(seed), []

    def start(self, cfg, data, *, device, resume_from, state):
        return ToySession(cfg, data)

    def metrics_from_dict(self, d):
        return {k: Mse(v["mse"]) for k, v in d.items()}

    def prepare_trials(self, space, data, base, paths, *, reference=None):
        return base.to_dict(), data, {}

    def confirm_trials(self, front, space, data, base, paths, *, trial_base, trial_data, reference=None):
        return None

    def load_model(self, path):
        raise NotImplementedError

    def add_cli(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run_cli(self, args: argparse.Namespace) -> int:
        return 0


def toy_data(seed: int) -> ToyData:
    g = torch.Generator().manual_seed(seed)
    x = {s: torch.randn(n, 2, generator=g) for s, n in (("train", 64), ("val", 32), ("test", 32))}
    return ToyData(x, {s: torch.sin(v[:, 0]) + 0.5 * v[:, 1] for s, v in x.items()})


TOY = Toy()
CFG = dict(objective="toy", epochs=3, batch_size=8, n_boot=1, log_every=100, seed=2)


@pytest.fixture()
def toy_registered(monkeypatch):
    """The one registry line of a fifth method."""
    monkeypatch.setitem(registry.METHODS, "toy", TOY)


# ----------------------------------------------------------------------------- tests
def test_toy_is_a_method_and_the_registry_line_is_all_it_takes(toy_registered):
    from raysearch.train.__main__ import build_parser

    assert isinstance(TOY, Method)
    assert registry.get("toy") is TOY
    assert type(registry.config_from_dict({"objective": "toy", "width": 3})) is ToyConfig
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "toy" in sub.choices


def test_runner_trains_reproducibly_and_resumes_exactly(tmp_path):
    data = toy_data(0)
    untrained = ToySession(ToyConfig(**CFG), data).evaluate("val")[1]["val/mse"]
    a = run(TOY, ToyConfig(**CFG), data, workdir=str(tmp_path / "a"))
    b = run(TOY, ToyConfig(**CFG), data, workdir=str(tmp_path / "b"))
    assert a.flat["val/mse"] < 0.5 * untrained  # it learns
    assert set(a.metrics) == {"val", "test"} and a.flat["train/last_loss"] == b.flat["train/last_loss"]
    assert {k: v for k, v in a.flat.items() if "per_s" not in k} == {k: v for k, v in b.flat.items() if "per_s" not in k}
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["epoch-1", "epoch-2", "epoch-3"]
    assert read_meta(a.checkpoint)["config"]["width"] == 8 and (Path(a.checkpoint) / STATE_FILE).is_file()
    # stop after epoch 1, resume from its checkpoint: the same end state as the straight run
    reports: list[dict[str, float]] = []
    c = run(TOY, ToyConfig(**CFG), data, resume_from=str(tmp_path / "a" / "epoch-1"), workdir=str(tmp_path / "c"),
            reporter=lambda flat, ckpt: reports.append(flat))
    assert [r["epoch"] for r in reports] == [2.0, 3.0]
    assert c.flat["val/mse"] == a.flat["val/mse"] and c.flat["test/mse"] == a.flat["test/mse"]
    # a finished checkpoint hands its result on without training again
    d = run(TOY, ToyConfig(**CFG), data, resume_from=a.checkpoint, workdir=str(tmp_path / "d"))
    assert d.flat == a.flat and not (tmp_path / "d").exists()


def test_eval_every_reports_validation_within_epochs_without_changing_training(tmp_path):
    data = toy_data(0)
    plain: list[tuple[dict[str, float], str | None]] = []
    often: list[tuple[dict[str, float], str | None]] = []
    a = run(TOY, ToyConfig(**CFG), data, workdir=str(tmp_path / "a"), reporter=lambda f, c: plain.append((f, c)))
    b = run(TOY, ToyConfig(**CFG, eval_every=3), data, workdir=str(tmp_path / "b"),
            reporter=lambda f, c: often.append((f, c)))
    steps = 8  # 64 points, batch 8: 24 steps in 3 epochs
    assert [f["fidelity"] for f, _ in plain] == [8.0, 16.0, 24.0]
    assert [f["fidelity"] for f, _ in often] == [3.0, 6.0, 8.0, 9.0, 12.0, 15.0, 16.0, 18.0, 21.0, 24.0]
    assert all(f["fidelity_max"] == 3 * steps for f, _ in plain + often)
    # within an epoch: validation only, no checkpoint; at the epoch's end: the same report as without eval_every
    interim = [(f, c) for f, c in often if f["fidelity"] % steps]
    assert all(c is None and set(f) == {"epoch", "fidelity", "fidelity_max", "val/mse"} for f, c in interim)
    assert interim[0][0]["epoch"] == 3 / steps and interim[0][0]["val/mse"] != plain[0][0]["val/mse"]
    ends = [(f, c) for f, c in often if not f["fidelity"] % steps]
    assert all(c is not None for _, c in ends)
    drop = ("train/points_per_s",)
    assert [{k: v for k, v in f.items() if k not in drop} for f, _ in ends] == \
           [{k: v for k, v in f.items() if k not in drop} for f, _ in plain]  # training is unchanged
    assert b.flat["val/mse"] == a.flat["val/mse"] and b.flat["test/mse"] == a.flat["test/mse"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["epoch-1", "epoch-2", "epoch-3"]


def test_bad_toy_config_is_one_line():
    from raysearch.errors import UserInputError

    with pytest.raises(UserInputError, match="width=0 is invalid; it must be >= 1"):
        run(TOY, ToyConfig(**{**CFG, "width": 0}), toy_data(0))


@pytest.mark.slow
def test_toy_trains_through_the_ray_train_wrapper(toy_registered, tmp_path):
    import ray
    import ray.cloudpickle

    from raysearch.ray_env import init_ray
    from raysearch.train.ray_train import fit_with_ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import a test module
    init_ray(num_cpus=2)
    try:
        data = toy_data(0)
        bare = run(TOY, ToyConfig(**CFG), data, workdir=str(tmp_path / "bare"))
        one = fit_with_ray(ToyConfig(**CFG), data, name="toy1", storage_path=str(tmp_path / "ray"), num_workers=1,
                           out_dir=tmp_path / "one")
        two = fit_with_ray(ToyConfig(**CFG), data, name="toy2", storage_path=str(tmp_path / "ray"), num_workers=2,
                           out_dir=tmp_path / "two")
    finally:
        ray.shutdown()
    assert one.flat["val/mse"] == pytest.approx(bare.flat["val/mse"], rel=1e-6)  # Ray adds nothing to the maths
    assert one.metrics["test"] == {"mse": pytest.approx(bare.flat["test/mse"], rel=1e-6)}
    assert two.flat["val/mse"] < 0.5 * ToySession(ToyConfig(**CFG), data).evaluate("val")[1]["val/mse"]
    assert (tmp_path / "two" / STATE_FILE).is_file() and read_meta(tmp_path / "two")["epoch"] == 3


class DropoutToySession(ToySession):
    """The toy with dropout, whose evaluation switches the model to eval mode and leaves it there."""

    def __init__(self, cfg: ToyConfig, data: ToyData) -> None:
        super().__init__(cfg, data)
        self.model = torch.nn.Sequential(self.model[0], torch.nn.Dropout(0.3), *self.model[1:])
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.learning_rate)

    def evaluate(self, split: str) -> tuple[dict[str, Any], dict[str, float]]:
        self.model.eval()
        return super().evaluate(split)


@dataclass(frozen=True)
class DropoutToy(Toy):
    def start(self, cfg, data, *, device, resume_from, state):
        return DropoutToySession(cfg, data)


def test_evaluation_within_an_epoch_hands_the_model_back_in_training_mode(tmp_path):
    data = toy_data(0)
    a = run(DropoutToy(), ToyConfig(**CFG), data, workdir=str(tmp_path / "a"))
    b = run(DropoutToy(), ToyConfig(**CFG, eval_every=3), data, workdir=str(tmp_path / "b"), reporter=lambda f, c: None)
    assert b.flat["train/last_loss"] == a.flat["train/last_loss"] and b.flat["val/mse"] == a.flat["val/mse"]


def test_evaluation_within_an_epoch_leaves_a_fine_tuning_run_unchanged(tiny_backbone, tiny_pairs, tmp_path):
    """Dropout is on in training: a mid-epoch evaluation must hand the model back in training mode."""
    from raysearch.methods.pairwise.config import PairwiseConfig
    from raysearch.methods.pairwise.data import TrainData
    from raysearch.methods.pairwise.step import train_bare

    cfg = dict(objective="bt", backbone=tiny_backbone, epochs=1, batch_size=8, eval_batch_size=16, max_length=24,
               lr=5e-3, freeze_layers=0, n_boot=20, log_every=100, seed=1)
    data = TrainData(train=tiny_pairs, eval={"val": tiny_pairs[:8], "test": tiny_pairs})
    reports: list[float] = []
    a = train_bare(PairwiseConfig(**cfg), data, workdir=str(tmp_path / "a"))
    b = train_bare(PairwiseConfig(**cfg, eval_every=2), data, workdir=str(tmp_path / "b"),
                   reporter=lambda f, c: reports.append(f["fidelity"]))
    assert reports == [2.0, 4.0, 6.0]  # 48 pairs, batch 8: 6 steps
    assert b.flat["train/last_loss"] == a.flat["train/last_loss"] and b.metrics["test"] == a.metrics["test"]
