"""The DPRM training loop: pure torch, no Ray (runs bare or on Ray Train's DDP workers).

Per step: a batch of records; every option text of the batch is scored in one forward pass,
the scores are padded to ``[B, K_max]`` with a mask, and ``dprm_loss`` compares their softmax with the
community's distributions. Optimizer, schedule, seeding, checkpoints and exact resume follow
``raysearch.train.loop.run_training``.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from raysearch.metrics.accuracy import CommunityMetrics
from raysearch.metrics.distribution import DistributionMetrics
from raysearch.models.backbone import load_reward_model, resolve_backbone
from raysearch.models.text import TokenCache
from raysearch.objectives.dprm import beta_dirichlet_smooth, dprm_loss, pad_distributions
from raysearch.train.checkpoint import (
    MODEL_DIR,
    load_trainer_state,
    read_meta,
    rng_state,
    save_checkpoint,
)
from raysearch.train.dprm.config import DprmConfig
from raysearch.train.dprm.data import DprmData
from raysearch.train.dprm.evaluate import (
    flatten,
    metrics_from_dict,
    predict_distributions,
    record_text_ids,
    split_metrics,
)
from raysearch.train.loop import (
    LoopResult,
    Reporter,
    _device,
    _freeze_lower_layers,
    _gather,
    _log,
    _optimization,
    _world,
)


def _targets(cfg: DprmConfig, data: DprmData) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets ``[N, K_max]`` and mask; smoothed by the Dirichlet posterior mean if ``smooth_n > 0``."""
    dists = [r.distribution for r in data.train]
    if cfg.smooth_n > 0:
        dists = [tuple(beta_dirichlet_smooth(shares=d, n=cfg.smooth_n, alpha0=cfg.alpha0)) for d in dists]
    return pad_distributions(dists, options=[r.options for r in data.train])


def evaluate(model: torch.nn.Module, cache: TokenCache, data: DprmData, split: str, cfg: DprmConfig,
             device: torch.device) -> dict[str, DistributionMetrics | CommunityMetrics]:
    """Distribution metrics and pairwise accuracy of ``model`` on one split (sharded over ranks)."""
    records = data.eval_splits()[split]
    pred = predict_distributions(model, cache, records, conditioned=cfg.condition_on_community,
                                 batch_size=cfg.eval_batch_size, device=device)
    return split_metrics(split, pred, records, getattr(data.pairs, split), n_boot=cfg.n_boot, seed=cfg.seed)


def run_loop(
    cfg: DprmConfig, data: DprmData, *, device: torch.device | str | None = None, reporter: Reporter | None = None,
    resume_from: str | None = None, workdir: str | None = None,
) -> LoopResult:
    """Train one DPRM model; report val metrics each epoch and every split at the end.

    ``resume_from`` is a checkpoint folder this loop wrote: weights, optimizer, scheduler, RNG
    states and the epoch reached are restored, so the run continues exactly.
    """
    cfg.validate()
    rank, world = _world()
    if cfg.batch_size < world:
        raise ValueError(f"batch_size={cfg.batch_size} is below the {world} workers; each needs a record per step")
    if not data.train:
        raise ValueError("no training records; give communities with data in the training split")
    dev = _device(device)
    workdir = workdir or tempfile.mkdtemp(prefix="raysearch-dprm-")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    state = load_trainer_state(resume_from) if resume_from else None
    if resume_from is not None and state is not None and state["epoch"] >= cfg.epochs:
        meta = read_meta(resume_from)  # a finished run (e.g. killed after its last report): hand its result on
        if reporter is not None:
            reporter(meta["flat"], resume_from if rank == 0 else None)
        return LoopResult(metrics=metrics_from_dict(meta["metrics"]), flat=meta["flat"], checkpoint=resume_from)  # type: ignore[arg-type]
    from_ckpt = resume_from is not None and state is not None and state.get("module") is None
    path = str(Path(resume_from) / MODEL_DIR) if from_ckpt else resolve_backbone(cfg.init_from or cfg.backbone)  # type: ignore[arg-type]
    model, tok = load_reward_model(path, seed=cfg.seed, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha)
    model.to(dev)
    torch.manual_seed(cfg.seed * 1009 + rank)  # dropout differs per rank, deterministically
    cache = TokenCache(tok, max_length=cfg.max_length)
    text_ids = record_text_ids(cache, data.train, conditioned=cfg.condition_on_community)
    target, mask = _targets(cfg, data)

    _freeze_lower_layers(model, cfg.freeze_layers)
    n = len(data.train)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    params, opt, sched, start_epoch, train_model = _optimization(
        model, cfg, total_steps, state=state, rank=rank, world=world, dev=dev, resume_from=resume_from)
    flat: dict[str, float] = {}
    metrics: dict[str, DistributionMetrics | CommunityMetrics] = {}
    ckpt: str | None = None
    for epoch in range(start_epoch, cfg.epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch)).tolist()
        perm += perm[: steps_per_epoch * cfg.batch_size - len(perm)]
        t0, seen, running = time.perf_counter(), 0, 0.0
        for step in range(steps_per_epoch):
            mine = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size][rank::world]
            batch = {k: v.to(dev) for k, v in cache.batch([i for r in mine for i in text_ids[r]]).items()}
            m = mask[mine]
            k = int(m.sum(dim=1).max())
            m, t = m[:, :k].to(dev), target[mine][:, :k].to(dev)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                r = train_model(**batch).logits.squeeze(-1).float()
            scores = r.new_zeros(m.shape).masked_scatter(m, r)  # [B, K]: row b holds record b's options
            loss = dprm_loss(scores, t, kind=cfg.dprm_loss, mask=m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
            seen += len(mine) * world
            running += float(loss.detach())
            if (step + 1) % cfg.log_every == 0 or step + 1 == steps_per_epoch:
                _log(rank, f"epoch {epoch + 1}/{cfg.epochs} step {step + 1}/{steps_per_epoch} "
                           f"{cfg.dprm_loss} loss {running / (step % cfg.log_every + 1):.4f} "
                           f"lr {sched.get_last_lr()[0]:.2e} {seen / (time.perf_counter() - t0):.1f} records/s")
                if (step + 1) % cfg.log_every == 0:
                    running = 0.0
        flat = {"epoch": float(epoch + 1), "train/records_per_s": seen / (time.perf_counter() - t0),
                "train/last_loss": float(loss.detach())}
        last = epoch + 1 == cfg.epochs
        for split in [s for s in data.eval_splits() if last or s == "val"]:
            metrics.update(evaluate(model, cache, data, split, cfg, dev))
        flat.update(flatten(metrics))
        if not all(math.isfinite(v) for v in flat.values()):
            raise FloatingPointError(f"non-finite metric at epoch {epoch + 1}: {flat}")
        rngs = _gather(rng_state())  # every rank's RNG, so a resume continues each stream exactly
        ckpt = None
        if rank == 0:
            ckpt = save_checkpoint(
                Path(workdir) / f"epoch-{epoch + 1}", model=model, tok=tok, cfg=cfg, epoch=epoch + 1,
                optimizer=opt, scheduler=sched, rng=rngs, selection=None,
                metrics={s: mt.to_dict() for s, mt in metrics.items()}, flat=flat,
            )
        if reporter is not None:
            reporter(flat, ckpt)
    return LoopResult(metrics=metrics, flat=flat, checkpoint=ckpt)  # type: ignore[arg-type]
