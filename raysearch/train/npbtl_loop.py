"""The NP-BTL training loop: pure torch, no Ray (runs bare or on Ray Train workers under DDP).

AdamW on ``npbtl_loss`` over freshly sampled task batches of the training users; every epoch
ends with accuracy against context size 0, 1, 3, 5, 10 on the validation users, a complete
checkpoint and one report; the last epoch also scores the held-out (test) users. Each rank
draws its own tasks from a generator seeded by ``(seed, rank, epoch)``, so a resume from an
epoch checkpoint continues exactly.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from raysearch.data.records import PairRecord
from raysearch.data.tasks import EVAL_CONTEXT_SIZES, Task, TaskSampler, collate, eval_tasks
from raysearch.metrics.accuracy import CommunityMetrics, bootstrap_accuracy, community_metrics
from raysearch.models.npbtl import NpbtlModelConfig, build_model
from raysearch.objectives.npbtl import npbtl_loss
from raysearch.train.checkpoint import read_meta, rng_state, set_rng_state, versions
from raysearch.train.loop import LoopResult
from raysearch.train.npbtl_config import NpbtlConfig
from raysearch.train.npbtl_data import NpbtlData

Reporter = Callable[[dict[str, Any], str | None], None]
STATE_FILE = "npbtl_state.pt"
META_FILE = "meta.json"
#: The context size whose per-community accuracy is reported (``val/acc_ctx5/<country>``).
PER_COMMUNITY_CONTEXT = 5


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _log(rank: int, msg: str) -> None:
    if rank == 0:  # written to the stream directly so Ray Train's print patch keeps it
        sys.stdout.write(f"[raysearch.train npbtl] {msg}\n")
        sys.stdout.flush()


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


def save_npbtl_checkpoint(out: Path, *, model: torch.nn.Module, model_cfg: NpbtlModelConfig, cfg: NpbtlConfig,
                          data: NpbtlData, optimizer: torch.optim.Optimizer, epoch: int, rng: list[dict[str, Any]],
                          metrics: dict[str, CommunityMetrics], flat: dict[str, float]) -> str:
    """Write ``out/{npbtl_state.pt, meta.json}`` atomically (temp folder, then rename)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    m = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    torch.save({"model": m.state_dict(), "model_config": asdict(model_cfg), "optimizer": optimizer.state_dict(),
                "epoch": epoch, "rng": rng}, tmp / STATE_FILE)
    (tmp / META_FILE).write_text(json.dumps({
        "epoch": epoch, "config": cfg.to_dict(), "model_config": asdict(model_cfg),
        "features": {"source": data.source, "users": data.users, "backbone": cfg.backbone, "kind": cfg.features,
                     "max_length": cfg.max_length},
        "metrics": {k: v.to_dict() for k, v in metrics.items()}, "flat": flat, "versions": versions(),
        "saved_at": time.time()}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return str(out)


def _load_state(path: str | Path) -> dict[str, Any]:
    f = Path(path) / STATE_FILE
    if not f.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} has no {STATE_FILE}; it was not written by the NP-BTL loop")
    return torch.load(f, map_location="cpu", weights_only=False)


def load_model(path: str | Path) -> torch.nn.Module:
    """The NP-BTL (or BTL / DPL) model of a checkpoint folder, in eval mode, on CPU.

    Score with features ``h`` of the same backbone and feature kind (``meta.json['features']``;
    ``raysearch.models.embed.embed_texts``, standardized like the training texts): build a
    ``TaskBatch`` of the user's context pairs and the pairs to rank and read ``model(batch).margin``
    (> 0: chosen preferred), or ``z, _ = model.latent(batch)`` then ``model.rewards(h [B, T, D], z)``.
    """
    state = _load_state(path)
    model = build_model(NpbtlModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()


def _finished(resume_from: str, rank: int, reporter: Reporter | None) -> LoopResult:
    meta = read_meta(resume_from)
    if reporter is not None:
        reporter(meta["flat"], resume_from if rank == 0 else None)
    return LoopResult(metrics={k: CommunityMetrics.from_dict(v) for k, v in meta["metrics"].items()},
                      flat=meta["flat"], checkpoint=resume_from)


def run_loop(cfg: NpbtlConfig, data: NpbtlData, *, device: torch.device | str | None = None,
             reporter: Reporter | None = None, resume_from: str | None = None, workdir: str | None = None) -> LoopResult:
    """Train ``cfg.model`` on the training users; evaluate val each epoch and test (held-out users) at the end."""
    cfg.validate()
    rank, world = _world()
    dev = torch.device(device) if device is not None else torch.device("cpu")
    workdir = workdir or tempfile.mkdtemp(prefix="raysearch-npbtl-")
    state = _load_state(resume_from) if resume_from else None
    if state is not None and state["epoch"] >= cfg.epochs:
        return _finished(str(resume_from), rank, reporter)  # killed right after its last report: hand it on again
    model_cfg = cfg.model_config(data.feature_dim)
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        start = state["epoch"]
        _log(rank, f"resumed from {resume_from} at epoch {start}/{cfg.epochs}")
    sampler = TaskSampler(data.records["train"], n_target=cfg.n_target, max_context=cfg.max_context,
                          disjoint=cfg.disjoint)
    train_model: torch.nn.Module = model
    if world > 1:  # a rank whose batch has no context leaves the encoder unused
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)
    per_rank = math.ceil(cfg.batch_size / world)
    task_sets = {s: eval_task_sets(data.records[s], cfg) for s in ("val", "test")}
    _log(rank, f"{cfg.model}: {len(sampler.users)} training users, {len(data.records['train'])} pairs, "
               f"D={data.feature_dim}; {world} worker(s) x {per_rank} tasks per step")
    metrics: dict[str, CommunityMetrics] = {}
    flat: dict[str, float] = {}
    ckpt: str | None = None
    for epoch in range(start, cfg.epochs):
        rng = np.random.default_rng([cfg.seed, rank, epoch])
        gen = torch.Generator(device=dev).manual_seed(cfg.seed * 1_000_003 + rank * 1009 + epoch)
        train_model.train()
        t0, running = time.perf_counter(), 0.0
        for step in range(cfg.steps):
            b = data.features(collate(sampler.sample(per_rank, rng), *data.rows["train"]))
            b = type(b)(**{k: v.to(dev) for k, v in vars(b).items()})
            loss = npbtl_loss(train_model(b, generator=gen), target_mask=b.tgt_mask, kl_weight=cfg.kl_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += float(loss.detach())
            if (step + 1) % cfg.log_every == 0:
                _log(rank, f"epoch {epoch + 1}/{cfg.epochs} step {step + 1}/{cfg.steps} loss {running / cfg.log_every:.4f}")
                running = 0.0
        flat = {"epoch": float(epoch + 1), "train/last_loss": float(loss.detach()),
                "train/tasks_per_s": cfg.steps * per_rank * world / (time.perf_counter() - t0)}
        last = epoch + 1 == cfg.epochs
        metrics = {}
        for split in ("val", "test") if last else ("val",):
            m, f = evaluate_split(model, data, split, cfg, device=dev, task_sets=task_sets[split])
            metrics.update(m)
            flat.update(f)
        _log(rank, f"epoch {epoch + 1}/{cfg.epochs} val accuracy by context size " + " ".join(
            f"{c}:{flat[f'val/acc_ctx{c}']:.3f}" for c in EVAL_CONTEXT_SIZES))
        rngs: list[dict[str, Any]] = [rng_state()]
        if world > 1:
            rngs = [None] * world  # type: ignore[list-item]
            dist.all_gather_object(rngs, rng_state())
        ckpt = None
        if rank == 0:
            ckpt = save_npbtl_checkpoint(Path(workdir) / f"epoch-{epoch + 1}", model=model, model_cfg=model_cfg,
                                         cfg=cfg, data=data, optimizer=opt, epoch=epoch + 1, rng=rngs,
                                         metrics=metrics, flat=flat)
        if reporter is not None:
            reporter(flat, ckpt)
    return LoopResult(metrics=metrics, flat=flat, checkpoint=ckpt)
