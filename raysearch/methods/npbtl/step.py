"""The NP-BTL training session: AdamW on ``npbtl_loss`` over freshly sampled task batches of the
training users, and accuracy against context size 0, 1, 3, 5, 10 on the validation and held-out users.

The runner (``raysearch.train.runner``) drives it: validation every epoch, the held-out (test)
users once, after the last. Each rank draws its own tasks from generators seeded by
``(seed, rank, epoch)``, so a resume from an epoch checkpoint continues exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysearch.data.records import PairRecord
from raysearch.data.tasks import EVAL_CONTEXT_SIZES, Task, TaskBatch, TaskSampler, collate, eval_tasks
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import NpbtlData
from raysearch.methods.npbtl.losses import npbtl_loss
from raysearch.methods.npbtl.model import NpbtlModelConfig, build_model
from raysearch.metrics.accuracy import CommunityMetrics, bootstrap_accuracy, community_metrics
from raysearch.train import distributed
from raysearch.train.checkpoint import STATE_FILE, load_trainer_state, safe_torch_load
from raysearch.train.runner import Session

#: The context size whose per-community accuracy is reported (``val/acc_ctx5/<country>``).
PER_COMMUNITY_CONTEXT = 5
#: the state file of checkpoints written before NP-BTL moved onto the shared runner
LEGACY_STATE_FILE = "npbtl_state.pt"


def start(cfg: NpbtlConfig, data: NpbtlData, *, device: torch.device, resume_from: str | None,
          state: dict[str, Any] | None) -> NpbtlSession:
    """The session of one NP-BTL (or BTL / DPL) run (``raysearch.methods.base.Method.start``)."""
    return NpbtlSession(cfg, data, device=device)


def metrics_from_dict(d: dict[str, Any]) -> dict[str, CommunityMetrics]:
    """Per-split, per-context-size metrics from a checkpoint's ``meta.json``."""
    return {k: CommunityMetrics.from_dict(m) for k, m in d.items()}


class NpbtlSession(Session):
    """Trains ``cfg.model`` (NP-BTL, BTL or DPL) on the training users' tasks; scores val and test users."""

    unit = "tasks"
    find_unused_parameters = True  # a rank whose batch has no context leaves the encoder unused
    eval_splits = ("val", "test")

    def __init__(self, cfg: NpbtlConfig, data: NpbtlData, *, device: torch.device) -> None:
        self.cfg, self.data, self.device = cfg, data, device
        self.rank, self.size = distributed.world()
        self.model_cfg = cfg.model_config(data.feature_dim)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.model_cfg).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = cfg.steps
        self.per_rank = math.ceil(cfg.batch_size / self.size)
        self.sampler = TaskSampler(data.records["train"], n_target=cfg.n_target, max_context=cfg.max_context,
                                   disjoint=cfg.disjoint)
        self.task_sets = {s: eval_task_sets(data.records[s], cfg) for s in self.eval_splits}
        self.generator: torch.Generator | None = None  # the epoch's generator of Gaussian z samples (``loss``)
        distributed.log(f"{cfg.model}: {len(self.sampler.users)} training users, {len(data.records['train'])} pairs, "
                        f"D={data.feature_dim}; {self.size} worker(s) x {self.per_rank} tasks per step", rank=self.rank)

    def batches(self, epoch: int) -> Iterator[TaskBatch]:
        rng = np.random.default_rng([self.cfg.seed, self.rank, epoch])
        self.generator = torch.Generator(device=self.device).manual_seed(
            self.cfg.seed * 1_000_003 + self.rank * 1009 + epoch)
        for _ in range(self.steps_per_epoch):
            b = self.data.features(collate(self.sampler.sample(self.per_rank, rng), *self.data.rows["train"]))
            yield type(b)(**{k: v.to(self.device) for k, v in vars(b).items()})

    def loss(self, model: torch.nn.Module, batch: TaskBatch, step: int) -> tuple[torch.Tensor, int]:
        out = model(batch, generator=self.generator)
        return npbtl_loss(out, target_mask=batch.tgt_mask, kl_weight=self.cfg.kl_weight), len(batch.tgt_mask)

    def evaluate(self, split: str) -> tuple[dict[str, Any], dict[str, float]]:
        return evaluate_split(self.model, self.data, split, self.cfg, device=self.device,
                              task_sets=self.task_sets[split])

    def epoch_line(self, flat: dict[str, float]) -> str:
        return "val accuracy by context size " + " ".join(f"{c}:{flat[f'val/acc_ctx{c}']:.3f}" for c in EVAL_CONTEXT_SIZES)

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])

    def save(self, folder: Path) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "model_config": asdict(self.model_cfg)}

    def meta(self) -> dict[str, Any]:
        cfg, data = self.cfg, self.data
        return {"model_config": asdict(self.model_cfg),
                "features": {"source": data.source, "users": data.users, "backbone": cfg.backbone,
                             "kind": cfg.features, "max_length": cfg.max_length}}


def eval_task_sets(records: Sequence[PairRecord], cfg: NpbtlConfig) -> dict[int, list[Task]]:
    """Per context size, ``eval_repeats`` tasks per user; the same targets at every size, nested contexts.

    With ``cfg.disjoint == "question"`` (the default) no context pair shares a question with a target.
    """
    return {c: [t for r in range(cfg.eval_repeats)
                for t in eval_tasks(records, context_size=c, n_target=cfg.n_target, seed=cfg.seed * 1000 + r,
                                    disjoint=cfg.disjoint)]
            for c in EVAL_CONTEXT_SIZES}


@torch.no_grad()
def score_tasks(model: torch.nn.Module, data: NpbtlData, split: str, tasks: list[Task], *,
                device: torch.device, batch_size: int = 512) -> np.ndarray:
    """Whether ``model`` ranks each target pair of each task right (``margin > 0``): bool ``[n_tasks, T]``."""
    model.eval()
    out = []
    for s in range(0, len(tasks), batch_size):
        b = data.features(collate(tasks[s : s + batch_size], *data.rows[split]))
        b = type(b)(**{k: v.to(device) for k, v in vars(b).items()})
        out.append(((model(b).margin > 0) & b.tgt_mask).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=bool)


def evaluate_split(model: torch.nn.Module, data: NpbtlData, split: str, cfg: NpbtlConfig, *,
                   device: torch.device, task_sets: dict[int, list[Task]] | None = None,
                   ) -> tuple[dict[str, CommunityMetrics], dict[str, float]]:
    """Accuracy of ``model`` on ``split``'s users against context size: metrics per size and flat values.

    ``metrics['{split}/ctx{c}']`` holds the per-community accuracy with intervals; its ``extra``
    holds the pooled accuracy and its 95% interval (bootstrap over users) and, for c > 0, the
    *gain* over no context on the same target pairs (``gain``, ``gain_low``, ``gain_high``: a
    paired bootstrap over users, so it is far tighter than the difference of two intervals).
    Flat keys: ``{split}/acc_ctx{c}``, ``{split}/gain_ctx{c}`` and ``{split}/acc_ctx5/<community>``.
    """
    task_sets = task_sets or eval_task_sets(data.records[split], cfg)
    recs = data.records[split]
    metrics, flat = {}, {}
    base: tuple[list[tuple[str, tuple[int, ...]]], np.ndarray] | None = None
    for c, tasks in task_sets.items():
        correct = score_tasks(model, data, split, tasks, device=device)
        ok = correct.reshape(-1)
        users = [t.user for t in tasks for _ in t.target]
        comms = [recs[i].community for t in tasks for i in t.target]
        iv = bootstrap_accuracy(ok, groups=users, n_boot=cfg.n_boot, seed=cfg.seed)
        m = community_metrics(ok, comms, groups=users, n_boot=cfg.n_boot, seed=cfg.seed)
        m.extra.update({"acc": iv.value, "low": iv.low, "high": iv.high, "n": float(iv.n), "users": float(len(set(users)))})
        targets = [(t.user, t.target) for t in tasks]
        if base is None:
            base = (targets, ok)
        elif base[0] == targets:  # the same target pairs as at the first size: a paired difference
            g = bootstrap_accuracy(ok.astype(float) - base[1], groups=users, n_boot=cfg.n_boot, seed=cfg.seed)
            m.extra.update({"gain": g.value, "gain_low": g.low, "gain_high": g.high})
            flat[f"{split}/gain_ctx{c}"] = g.value
        metrics[f"{split}/ctx{c}"] = m
        flat[f"{split}/acc_ctx{c}"] = iv.value
        if c == PER_COMMUNITY_CONTEXT:
            flat.update({f"{split}/acc_ctx{c}/{k}": v.value for k, v in m.per_community.items()})
    return metrics, flat


def load_model(path: str | Path) -> torch.nn.Module:
    """The NP-BTL (or BTL / DPL) model of a checkpoint folder, in eval mode, on CPU.

    Score with features ``h`` of the same backbone and feature kind (``meta.json['features']``;
    ``raysearch.models.embed.embed_texts``, standardized like the training texts): build a
    ``TaskBatch`` of the user's context pairs and the pairs to rank and read ``model(batch).margin``
    (> 0: chosen preferred), or ``z, _ = model.latent(batch)`` then ``model.rewards(h [B, T, D], z)``.
    """
    legacy = Path(path) / LEGACY_STATE_FILE
    if legacy.exists() and not (Path(path) / STATE_FILE).exists():
        state = safe_torch_load(legacy, fix="train the model again with this version (python -m raysearch.train npbtl)")
    else:
        state = load_trainer_state(path)
    model = build_model(NpbtlModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()
