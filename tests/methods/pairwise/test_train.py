"""The bare training loop (no Ray): determinism, exact resume, SCPO selection, LoRA checkpoints."""

from pathlib import Path

import pytest
import torch

from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import train_bare
from raysearch.models.backbone import load_reward_model
from raysearch.models.scoring import RewardModel


def _cfg(backbone: str, **kw) -> PairwiseConfig:
    base = dict(objective="bt", backbone=backbone, epochs=2, batch_size=8, eval_batch_size=16, max_length=24,
                lr=5e-3, freeze_layers=0, n_boot=50, log_every=100, seed=1)
    return PairwiseConfig(**{**base, **kw})


def _data(pairs):
    return TrainData(train=pairs, eval={"val": pairs[:8], "test": pairs})


def test_same_seed_same_metrics_and_weights_change(tiny_backbone, tiny_pairs, tmp_path):
    cfg = _cfg(tiny_backbone)
    a = train_bare(cfg, _data(tiny_pairs), workdir=str(tmp_path / "a"))
    b = train_bare(cfg, _data(tiny_pairs), workdir=str(tmp_path / "b"))
    assert a.flat.keys() == b.flat.keys()
    assert {k: v for k, v in a.flat.items() if "per_s" not in k} == {k: v for k, v in b.flat.items() if "per_s" not in k}
    init, _ = load_reward_model(tiny_backbone, seed=cfg.seed)
    trained = RewardModel.load(Path(a.checkpoint) / "model").model
    changed = [n for n, p in trained.named_parameters() if not torch.equal(p, init.state_dict()[n])]
    assert any("classifier" in n for n in changed) and any("encoder" in n for n in changed)
    # the steerable model learns that A and B disagree: it beats chance on the training questions
    assert a.metrics["test"].mean > 0.6


def test_resume_from_epoch_checkpoint_is_exact(tiny_backbone, tiny_pairs, tmp_path):
    cfg = _cfg(tiny_backbone, epochs=2)
    full = train_bare(cfg, _data(tiny_pairs), workdir=str(tmp_path / "full"))
    resumed = train_bare(cfg, _data(tiny_pairs), workdir=str(tmp_path / "resumed"),
                           resume_from=str(tmp_path / "full" / "epoch-1"))
    a = RewardModel.load(Path(full.checkpoint) / "model").model.state_dict()
    b = RewardModel.load(Path(resumed.checkpoint) / "model").model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert full.metrics["test"] == resumed.metrics["test"]


def test_scpo_uses_reference_margins(tiny_backbone, tiny_pairs, tmp_path):
    g = train_bare(_cfg(tiny_backbone, epochs=1, condition_on_community=False), _data(tiny_pairs),
                     workdir=str(tmp_path / "g"))
    ref = str(Path(g.checkpoint) / "model")
    res = train_bare(_cfg(tiny_backbone, objective="scpo", init_from=ref, reference=ref, tau=0.7, beta=1.1, epochs=1),
                       _data(tiny_pairs), workdir=str(tmp_path / "s"))
    assert res.flat["scpo/n_pairs"] == len(tiny_pairs)
    assert 0 < res.flat["scpo/n_kept"] <= len(tiny_pairs)
    assert 0 < res.flat["scpo/mean_weight"] <= 1
    strict = _cfg(tiny_backbone, objective="scpo", init_from=ref, reference=ref, epochs=1, tau=1e-9)
    with pytest.raises(ValueError, match="kept no training pairs"):  # only σ(Δ) < 1e-9 would survive
        train_bare(strict, _data(tiny_pairs), workdir=str(tmp_path / "s2"))


def test_lora_checkpoint_is_a_plain_model(tiny_backbone, tiny_pairs, tmp_path):
    res = train_bare(_cfg(tiny_backbone, epochs=1, lora_r=4), _data(tiny_pairs), workdir=str(tmp_path / "l"))
    rm = RewardModel.load(Path(res.checkpoint) / "model")
    assert not hasattr(rm.model, "peft_config")
    s = rm.score_many(["question 1: is topic 1 important?"] * 2, ["yes", "no"], community="A")
    assert s.shape == (2,)


def test_resume_of_a_finished_run_returns_its_result(tiny_backbone, tiny_pairs, tmp_path):
    cfg = _cfg(tiny_backbone, epochs=1)
    done = train_bare(cfg, _data(tiny_pairs), workdir=str(tmp_path / "done"))
    reports = []
    again = train_bare(cfg, _data(tiny_pairs), workdir=str(tmp_path / "again"), resume_from=done.checkpoint,
                         reporter=lambda m, c: reports.append((m, c)))
    assert again.metrics == done.metrics and reports == [(done.flat, done.checkpoint)]


def test_several_epochs_without_evaluation_data(tiny_backbone, tiny_pairs, tmp_path):
    """G and the baselines train on pairs alone; the epochs before the last used to ask for 'val'."""
    res = train_bare(_cfg(tiny_backbone, epochs=2), TrainData(train=tiny_pairs), workdir=str(tmp_path / "g"))
    assert res.metrics == {} and Path(res.checkpoint).name == "epoch-2"
    assert (tmp_path / "g" / "epoch-1").is_dir()  # epoch 1 was still checkpointed
