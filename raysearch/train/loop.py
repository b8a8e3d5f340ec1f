"""The per-worker reward-model training loop: pure torch, no Ray (runs bare or under Ray Train).

One call trains one reward model on ``TrainData.train`` with the BT or SCPO objective and
evaluates it on every split of ``TrainData.eval``. Under ``torch.distributed`` (Ray Train
sets it up) each rank takes its share of every batch, the model is wrapped in DDP, and
scores are gathered so every rank computes the same metrics.
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import PairRecord
from raysearch.metrics.accuracy import CommunityMetrics, community_metrics, pairwise_correct
from raysearch.models.backbone import load_reward_model, resolve_backbone
from raysearch.models.scoring import pair_text_ids, score_ids, unwrap
from raysearch.models.text import TokenCache
from raysearch.objectives.bradley_terry import bt_loss
from raysearch.objectives.schedule import community_weights, gamma_at
from raysearch.train.checkpoint import (
    MODEL_DIR,
    load_trainer_state,
    read_meta,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from raysearch.train.config import TrainConfig
from raysearch.train.selection import select_pairs

#: ``reporter(metrics, checkpoint_dir_or_None)``; called the same number of times on every rank.
Reporter = Callable[[dict[str, Any], str | None], None]


@dataclass
class TrainData:
    """Training pairs and named evaluation splits (e.g. ``{"val": [...], "test": [...]}``)."""

    train: list[PairRecord]
    eval: dict[str, list[PairRecord]] = field(default_factory=dict)
    #: global (unified) pairs that ``TrainConfig.global_share`` mixes in
    global_train: list[PairRecord] = field(default_factory=list)
    #: SCPO: Δ = r_G(chosen) - r_G(rejected) per training pair, if already computed (shape ``[len(train)]``)
    margins: torch.Tensor | None = None


@dataclass
class LoopResult:
    """What a finished run returns on every rank."""

    metrics: dict[str, CommunityMetrics]
    flat: dict[str, float]
    checkpoint: str | None


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(obj: Any) -> list[Any]:
    rank, world = _world()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _score_pairs_sharded(
    model: torch.nn.Module, cache: TokenCache, chosen: list[int], rejected: list[int], *,
    batch_size: int, device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Score every pair once across ranks (rank r takes pairs r, r+W, ...) and gather."""
    rank, world = _world()
    mine = list(range(rank, len(chosen), world))
    ids = [chosen[i] for i in mine] + [rejected[i] for i in mine]
    r = score_ids(model, cache, ids, batch_size=batch_size, device=device) if ids else np.empty(0)
    rc, rr = np.empty(len(chosen)), np.empty(len(chosen))
    for part_idx, part_r in _gather((mine, r)):
        n = len(part_idx)
        rc[part_idx], rr[part_idx] = part_r[:n], part_r[n:]
    return rc, rr


def evaluate(
    model: torch.nn.Module, cache: TokenCache, pairs: list[PairRecord], cfg: TrainConfig, device: torch.device,
    *, conditioned: bool,
) -> CommunityMetrics:
    """Per-community pairwise accuracy of ``model`` on ``pairs`` (eval mode, no_grad, sharded)."""
    c_ids, r_ids = pair_text_ids(cache, pairs, conditioned=conditioned)
    rc, rr = _score_pairs_sharded(model, cache, c_ids, r_ids, batch_size=cfg.eval_batch_size, device=device)
    return community_metrics(
        pairwise_correct(rc, rr), [p.community for p in pairs], groups=[p.group for p in pairs],
        n_boot=cfg.n_boot, seed=cfg.seed,
    )


def reference_margins(
    cfg: TrainConfig, pairs: list[PairRecord], *, model: torch.nn.Module | None = None,
    cache: TokenCache | None = None, device: torch.device | str | None = None,
) -> torch.Tensor:
    """Δ = r_G(chosen) - r_G(rejected) for every pair, G = ``cfg.reference`` (scored unsteered).

    ``model``/``cache`` may pass G already loaded (SCPO's R starts from G, so it is the same)."""
    dev = _device(device)
    if model is None or (cfg.reference and cfg.reference != cfg.init_from):
        if not cfg.reference:
            raise ValueError("SCPO needs a reference model G (TrainConfig.reference) or precomputed margins")
        model, tok = load_reward_model(resolve_backbone(cfg.reference), seed=cfg.seed)
        model.to(dev)
        cache = TokenCache(tok, max_length=cfg.max_length)
    assert cache is not None
    c_ids, r_ids = pair_text_ids(cache, pairs, conditioned=False)
    rc, rr = _score_pairs_sharded(model, cache, c_ids, r_ids, batch_size=cfg.eval_batch_size, device=dev)
    return torch.tensor(rc - rr, dtype=torch.float32)


def _freeze_lower_layers(model: torch.nn.Module, n: int) -> None:
    """Freeze embeddings and encoder layers 0..n-1 (names ``*.layer.i.*`` / ``*.layers.i.*``)."""
    if n <= 0:
        return
    for name, p in model.named_parameters():
        parts = name.split(".")
        in_low_layer = any(
            parts[k] in ("layer", "layers") and k + 1 < len(parts) and parts[k + 1].isdigit() and int(parts[k + 1]) < n
            for k in range(len(parts))
        )
        if "embeddings" in parts or "embed_tokens" in parts or in_low_layer:
            p.requires_grad_(False)


def _device(device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")


def _log(rank: int, msg: str) -> None:
    """Progress on rank 0; written to the stream directly so Ray Train's print patch keeps it."""
    if rank == 0:
        sys.stdout.write(f"[raysearch.train] {msg}\n")
        sys.stdout.flush()


def _optimization(
    model: torch.nn.Module, cfg: Any, total_steps: int, *, state: dict[str, Any] | None, rank: int, world: int,
    dev: torch.device, resume_from: str | None,
) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer, Any, int, torch.nn.Module]:
    """AdamW with linear warm-up then decay, restored from ``state`` on resume, and the (DDP) model to train.

    Returns ``(params, optimizer, scheduler, start_epoch, train_model)``; shared by every
    backbone-based loop (BT/SCPO here, DPRM in ``raysearch.train.dprm``).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup_ratio * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total_steps - s) / max(1, total_steps - warm)))
    )
    start_epoch = 0
    if state is not None:
        if state.get("module") is not None:
            unwrap(model).load_state_dict(state["module"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch = state["epoch"]
        set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        _log(rank, f"resumed from {resume_from} at epoch {start_epoch}/{cfg.epochs}")
    train_model: torch.nn.Module = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=False
        )
    train_model.train()
    return params, opt, sched, start_epoch, train_model


def run_training(
    cfg: TrainConfig, data: TrainData, *, device: torch.device | str | None = None,
    reporter: Reporter | None = None, resume_from: str | None = None, workdir: str | None = None,
) -> LoopResult:
    """Train one reward model; report val metrics each epoch and all splits at the end.

    ``resume_from`` is a checkpoint folder written by this loop: weights, optimizer, scheduler,
    RNG states, SCPO selection and the epoch reached are restored, so the run continues exactly.
    """
    cfg.validate()
    rank, world = _world()
    dev = _device(device)
    workdir = workdir or tempfile.mkdtemp(prefix="raysearch-train-")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    state = load_trainer_state(resume_from) if resume_from else None
    if resume_from is not None and state is not None and state["epoch"] >= cfg.epochs:
        # the run had finished (e.g. killed right after its last report): hand its result on again
        meta = read_meta(resume_from)
        if reporter is not None:
            reporter(meta["flat"], resume_from if rank == 0 else None)
        return LoopResult(metrics={s: CommunityMetrics.from_dict(m) for s, m in meta["metrics"].items()},
                          flat=meta["flat"], checkpoint=resume_from)
    # a full model resumes from the checkpoint's model folder; a LoRA model from its saved module
    from_ckpt = resume_from is not None and state is not None and state.get("module") is None
    path = str(Path(resume_from) / MODEL_DIR) if from_ckpt else resolve_backbone(cfg.init_from or cfg.backbone)  # type: ignore[arg-type]
    model, tok = load_reward_model(path, seed=cfg.seed, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha)
    model.to(dev)
    torch.manual_seed(cfg.seed * 1009 + rank)  # dropout differs per rank, deterministically
    cache = TokenCache(tok, max_length=cfg.max_length)
    # --- which pairs, with what base weight (SCPO: reference margins computed once) ---
    margins = None
    if cfg.objective == "scpo" and state is None:
        margins = data.margins
        if margins is None:
            margins = reference_margins(cfg, data.train, model=model, cache=cache, device=dev)
    sel = select_pairs(cfg, data.train, data.global_train, margins, state=state["selection"] if state else None)
    pairs, base_w, selection, sel_info = sel.pairs, sel.weights, sel.state, sel.info
    if cfg.objective == "scpo":
        _log(rank, f"SCPO kept {int(sel_info['scpo/n_kept'])}/{len(data.train)} pairs (tau={cfg.tau}), "
                   f"mean weight {sel_info['scpo/mean_weight']:.3f} (beta={cfg.beta})")
    trained_communities = sorted({p.community for p in pairs if p.community != GLOBAL_COMMUNITY})
    counts = {c: sum(p.community == c for p in pairs) for c in trained_communities}
    pair_comm = [p.community for p in pairs]

    c_ids, r_ids = pair_text_ids(cache, pairs, conditioned=cfg.condition_on_community)
    _freeze_lower_layers(model, cfg.freeze_layers)
    steps_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    params, opt, sched, start_epoch, train_model = _optimization(
        model, cfg, total_steps, state=state, rank=rank, world=world, dev=dev, resume_from=resume_from)
    flat: dict[str, float] = {}
    metrics: dict[str, CommunityMetrics] = {}
    ckpt: str | None = None
    for epoch in range(start_epoch, cfg.epochs):
        perm = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch)).tolist()
        perm += perm[: steps_per_epoch * cfg.batch_size - len(perm)]
        t0, seen, running = time.perf_counter(), 0, 0.0
        for step in range(steps_per_epoch):
            mine = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size][rank::world]
            batch = {k: v.to(dev) for k, v in cache.batch([c_ids[i] for i in mine] + [r_ids[i] for i in mine]).items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                r = train_model(**batch).logits.squeeze(-1).float()
            rc, rr = r[: len(mine)], r[len(mine) :]
            gamma = gamma_at((epoch * steps_per_epoch + step) / total_steps, start=cfg.gamma_start,
                             end=cfg.gamma_end, shape=cfg.shape)
            alpha = community_weights(counts, gamma) if counts else {}
            w = base_w[mine] * torch.tensor([alpha.get(pair_comm[i], 1.0) for i in mine])
            loss = bt_loss(rc, rr, w.to(dev), normalize=cfg.normalize if cfg.objective == "scpo" else "batch")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
            seen += len(mine) * world
            running += float(loss.detach())
            if (step + 1) % cfg.log_every == 0 or step + 1 == steps_per_epoch:
                rate = seen / (time.perf_counter() - t0)
                _log(rank, f"epoch {epoch + 1}/{cfg.epochs} step {step + 1}/{steps_per_epoch} "
                           f"loss {running / (step % cfg.log_every + 1):.4f} lr {sched.get_last_lr()[0]:.2e} "
                           f"{rate:.1f} pairs/s")
                if (step + 1) % cfg.log_every == 0:
                    running = 0.0
        flat = {"epoch": float(epoch + 1), "train/pairs_per_s": seen / (time.perf_counter() - t0),
                "train/last_loss": float(loss.detach()), **sel_info}
        last = epoch + 1 == cfg.epochs
        splits = [s for s in data.eval if last or s == "val"]
        for split in splits:
            metrics[split] = evaluate(model, cache, data.eval[split], cfg, dev, conditioned=cfg.condition_on_community)
            flat.update(metrics[split].flat(prefix=f"{split}/"))
        if not all(math.isfinite(v) for v in flat.values()):
            raise FloatingPointError(f"non-finite metric at epoch {epoch + 1}: {flat}")
        rngs = _gather(rng_state())  # every rank's RNG, so a resume continues each stream exactly
        ckpt = None
        if rank == 0:
            ckpt = save_checkpoint(
                Path(workdir) / f"epoch-{epoch + 1}", model=model, tok=tok, cfg=cfg, epoch=epoch + 1,
                optimizer=opt, scheduler=sched, rng=rngs, selection=selection,
                metrics={s: m.to_dict() for s, m in metrics.items()}, flat=flat,
            )
        if reporter is not None:
            reporter(flat, ckpt)
    return LoopResult(metrics=metrics, flat=flat, checkpoint=ckpt)
