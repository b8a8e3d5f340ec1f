"""The one training runner every method uses: pure torch, no Ray (runs bare or on Ray Train workers).

A method (``raysearch.methods``) supplies a :class:`Session`: its model, optimizer, batches,
batch loss and evaluation. The runner owns everything else, the same for every method: seeding,
the epoch loop, the optimizer step, progress lines, evaluation cadence (validation every epoch,
every split after the last, and with ``eval_every`` validation every that many steps within an
epoch: a report without a checkpoint, for early stopping), complete checkpoints, exact resume and
reporting. Every report carries ``fidelity`` (training steps done) and ``fidelity_max`` (the run's
steps), the time axis of ``raysearch.tune.scheduler``.

Under ``torch.distributed`` (Ray Train sets it up) the model is wrapped in DDP, each rank takes its
share of every batch (the session's ``batches`` decides how) and evaluation is gathered so every
rank reports the same metrics.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysearch.train import distributed
from raysearch.train.checkpoint import load_trainer_state, read_meta, rng_state, save_checkpoint, set_rng_state

#: ``reporter(flat_metrics, checkpoint_dir_or_None)``; called once per epoch (with a checkpoint) and, with
#: ``eval_every``, within epochs (without one); the same number of times on every rank.
Reporter = Callable[[dict[str, Any], str | None], None]
#: report keys: training steps done, and the steps of the whole run (a report with both equal is the last)
FIDELITY, FIDELITY_MAX = "fidelity", "fidelity_max"


@dataclass
class LoopResult:
    """What a finished run returns on every rank: metrics per split (the method's objects), flat values, checkpoint."""

    metrics: dict[str, Any]
    flat: dict[str, float]
    checkpoint: str | None


class Session:
    """One training run of one method, built by ``Method.start``; the runner drives it.

    Set in ``__init__`` by the method: ``model`` (the module trained, evaluated and saved),
    ``optimizer``, ``scheduler`` (or None), ``steps_per_epoch``; optionally ``grad_clip``,
    ``find_unused_parameters`` (DDP), ``unit`` (what ``loss`` counts, for ``train/<unit>_per_s``)
    and ``eval_splits``.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    steps_per_epoch: int
    grad_clip: float | None = None
    find_unused_parameters: bool = False
    unit: str = "examples"
    eval_splits: tuple[str, ...] = ("val", "test")

    def batches(self, epoch: int) -> Iterable[Any]:
        """This rank's ``steps_per_epoch`` batches of ``epoch`` (deterministic in the seed and the epoch)."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, int]:
        """The loss of one batch under ``model`` (the DDP-wrapped one) at global ``step``, and how many units it held."""
        raise NotImplementedError

    def evaluate(self, split: str) -> tuple[dict[str, Any], dict[str, float]]:
        """Metrics of ``self.model`` on ``split``: ``{name: metrics object with to_dict()}`` and flat ``split/...`` values."""
        raise NotImplementedError

    def train_info(self) -> dict[str, float]:
        """Extra flat values reported every epoch (e.g. how many pairs a filter kept)."""
        return {}

    def epoch_line(self, flat: dict[str, float]) -> str | None:
        """An extra progress line after an epoch's evaluation, or None."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``save`` put in the trainer state (weights the model folder does not hold) on resume."""

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the model's files into checkpoint ``folder``; return entries for the trainer state."""
        return {}

    def meta(self) -> dict[str, Any]:
        """Extra entries of the checkpoint's ``meta.json`` (what a reader needs to use the model)."""
        return {}

    def card(self) -> dict[str, Any]:
        """What the model folder's card (``raysearch.models.card.card_info``) cannot read from the config and
        metrics: ``communities`` trained on, data ``source``; only for sessions that save a ``model/`` folder."""
        return {}


def run(
    method: Any, cfg: Any, data: Any, *, device: torch.device | str | None = None, reporter: Reporter | None = None,
    resume_from: str | None = None, workdir: str | None = None,
) -> LoopResult:
    """Train ``cfg`` with ``method`` (``raysearch.methods.Method``) on ``data``; report every epoch (and, given a
    ``reporter``, validation every ``cfg.eval_every`` steps within epochs).

    ``resume_from`` is a checkpoint folder this runner wrote: weights, optimizer, scheduler, RNG
    states of every rank and the epoch reached are restored, so the run continues exactly.
    """
    cfg.validate()
    rank, size = distributed.world()
    dev = distributed.device(device)
    workdir = workdir or tempfile.mkdtemp(prefix=f"raysearch-{cfg.objective}-")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    state = load_trainer_state(resume_from) if resume_from else None
    if resume_from is not None and state is not None and state["epoch"] >= cfg.epochs:
        # the run had finished (e.g. killed right after its last report): hand its result on again
        meta = read_meta(resume_from)
        if reporter is not None:
            reporter(meta["flat"], resume_from if rank == 0 else None)
        return LoopResult(method.metrics_from_dict(meta["metrics"]), meta["flat"], resume_from)
    session: Session = method.start(cfg, data, device=dev, resume_from=resume_from, state=state)
    start_epoch = 0
    if state is not None:
        session.restore(state)
        session.optimizer.load_state_dict(state["optimizer"])
        if session.scheduler is not None:
            session.scheduler.load_state_dict(state["scheduler"])
        start_epoch = state["epoch"]
        set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        distributed.log(f"resumed from {resume_from} at epoch {start_epoch}/{cfg.epochs}", rank=rank)
    train_model = distributed.wrap_ddp(session.model, dev, find_unused_parameters=session.find_unused_parameters)
    params = [p for p in session.model.parameters() if p.requires_grad]
    result = LoopResult({}, {}, None)
    interim = _interim_reporter(session, cfg, reporter, rank=rank) if cfg.eval_every and reporter else None
    for epoch in range(start_epoch, cfg.epochs):
        flat = _train_epoch(session, train_model, params, cfg, epoch, rank=rank, size=size, interim=interim)
        metrics: dict[str, Any] = {}
        last = epoch + 1 == cfg.epochs  # between epochs only validation (if the data has it) is read
        for split in session.eval_splits if last else [s for s in session.eval_splits if s == "val"]:
            m, f = session.evaluate(split)
            metrics.update(m)
            flat.update(f)
        _check_finite(flat, f"epoch {epoch + 1}")
        line = session.epoch_line(flat)
        if line:
            distributed.log(f"epoch {epoch + 1}/{cfg.epochs} {line}", rank=rank)
        rngs = distributed.gather(rng_state())  # every rank's RNG, so a resume continues each stream exactly
        ckpt = None
        if rank == 0:
            ckpt = save_checkpoint(Path(workdir) / f"epoch-{epoch + 1}", session=session, cfg=cfg, epoch=epoch + 1,
                                   rng=rngs, metrics={k: v.to_dict() for k, v in metrics.items()}, flat=flat)
        if reporter is not None:
            reporter(flat, ckpt)
        result = LoopResult(metrics, flat, ckpt)
    return result


def _check_finite(flat: dict[str, float], where: str) -> None:
    bad = [f"{k}={v}" for k, v in flat.items() if not math.isfinite(v)]
    if bad:
        more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
        raise FloatingPointError(f"non-finite metrics at {where}: {', '.join(bad[:4])}{more} (the run diverged)")


def _interim_reporter(session: Session, cfg: Any, reporter: Reporter, *, rank: int) -> Callable[[int], None]:
    """``interim(done)``: evaluate validation after ``done`` training steps and report it without a checkpoint."""
    total = cfg.epochs * session.steps_per_epoch

    def interim(done: int) -> None:
        _, f = session.evaluate("val")
        flat = {"epoch": done / session.steps_per_epoch, FIDELITY: float(done), FIDELITY_MAX: float(total), **f}
        _check_finite(flat, f"step {done}")
        line = session.epoch_line(flat)
        if line:
            distributed.log(f"step {done}/{total} {line}", rank=rank)
        reporter(flat, None)

    return interim


def _train_epoch(session: Session, train_model: torch.nn.Module, params: list[torch.nn.Parameter], cfg: Any,
                 epoch: int, *, rank: int, size: int, interim: Callable[[int], None] | None = None) -> dict[str, float]:
    """One pass: loss, backward, clip, optimizer and scheduler step per batch; progress every ``log_every`` steps;
    ``interim(steps done)`` every ``eval_every`` steps before the epoch's last (its time is not training time)."""
    train_model.train()
    steps, t0, seen, running = session.steps_per_epoch, time.perf_counter(), 0, 0.0
    loss = torch.zeros(())
    for step, batch in enumerate(session.batches(epoch)):
        loss, n = session.loss(train_model, batch, epoch * steps + step)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"non-finite loss {value} at epoch {epoch + 1} step {step + 1} (the run diverged)")
        session.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if session.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, session.grad_clip)
        session.optimizer.step()
        if session.scheduler is not None:
            session.scheduler.step()
        seen += n * size
        running += value
        if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
            lr = session.optimizer.param_groups[0]["lr"]
            distributed.log(f"epoch {epoch + 1}/{cfg.epochs} step {step + 1}/{steps} "
                            f"loss {running / (step % cfg.log_every + 1):.4f} lr {lr:.2e} "
                            f"{seen / (time.perf_counter() - t0):.1f} {session.unit}/s", rank=rank)
            running = 0.0 if (step + 1) % cfg.log_every == 0 else running
        done = epoch * steps + step + 1
        if interim is not None and done % cfg.eval_every == 0 and step + 1 < steps:  # the epoch's end reports anyway
            t_eval = time.perf_counter()
            interim(done)
            train_model.train()
            t0 += time.perf_counter() - t_eval
    bad = [name for name, p in session.model.named_parameters() if p.requires_grad and not bool(torch.isfinite(p).all())]
    if bad:  # metrics of such a model can look finite (every reward tied), so the weights are checked themselves
        raise FloatingPointError(f"non-finite weights after epoch {epoch + 1} in {len(bad)} tensor(s), e.g. {bad[0]} "
                                 "(the run diverged)")
    return {"epoch": float(epoch + 1), f"train/{session.unit}_per_s": seen / (time.perf_counter() - t0),
            "train/last_loss": float(loss.detach()), FIDELITY: float((epoch + 1) * steps),
            FIDELITY_MAX: float(cfg.epochs * steps), **session.train_info()}
