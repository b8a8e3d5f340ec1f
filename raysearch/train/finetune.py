"""The session base of methods that fine-tune a pretrained text backbone (pairwise BT/SCPO, DPRM).

It loads the backbone (or the run's start model, or a checkpoint's model), freezes the lower
layers, builds AdamW with linear warm-up then decay, shuffles example indices per epoch (or whole
groups of examples that share texts, so that a batch holds repeated texts to score once), runs the
forward pass in the configured precision and saves a loadable model folder in every checkpoint.
A method adds its data, batch loss and evaluation.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from raysearch.models.backbone import load_reward_model, resolve_backbone, save_reward_model
from raysearch.models.scoring import unwrap
from raysearch.models.text import TokenCache
from raysearch.train import distributed
from raysearch.train.checkpoint import MODEL_DIR
from raysearch.train.config import FineTuneConfig
from raysearch.train.runner import Session


class FineTuneSession(Session):
    """Loads the model in ``__init__``; the subclass prepares its data, then calls :meth:`setup_optimizer`."""

    def __init__(self, cfg: FineTuneConfig, *, device: torch.device, resume_from: str | None,
                 state: dict[str, Any] | None) -> None:
        self.cfg, self.device = cfg, device
        self.rank, self.size = distributed.world()
        # a full model resumes from the checkpoint's model folder; a LoRA model from its saved module
        from_ckpt = resume_from is not None and state is not None and state.get("module") is None
        path = str(Path(resume_from) / MODEL_DIR) if from_ckpt else resolve_backbone(cfg.init_from or cfg.backbone)  # type: ignore[arg-type]
        self.model, self.tok = load_reward_model(path, seed=cfg.seed, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha)
        self.model.to(device)
        if not cfg.dropout:
            disable_dropout(self.model)
        torch.manual_seed(cfg.seed * 1009 + self.rank)  # dropout differs per rank, deterministically
        self.cache = TokenCache(self.tok, max_length=cfg.max_length)
        self.grad_clip = cfg.grad_clip

    def setup_optimizer(self, n_examples: int, groups: list[list[int]] | None = None) -> None:
        """Freeze the lower layers; AdamW over the rest with warm-up then linear decay over every step.

        ``groups`` (a partition of ``range(n_examples)``) makes :meth:`batches` shuffle whole groups."""
        cfg = self.cfg
        freeze_lower_layers(self.model, cfg.freeze_layers)
        self.n_examples = n_examples
        if groups is not None and sorted(i for g in groups for i in g) != list(range(n_examples)):
            raise ValueError(f"groups must partition range({n_examples})")
        self.groups = groups
        self.steps_per_epoch = math.ceil(n_examples / cfg.batch_size)
        total = self.steps_per_epoch * cfg.epochs
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = adamw(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        warm = max(1, int(cfg.warmup_ratio * total))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))

    def batches(self, epoch: int) -> Iterator[list[int]]:
        """This rank's indices of each step (:meth:`epoch_batches`, then :meth:`share`)."""
        for batch in self.epoch_batches(epoch):
            yield self.share(batch, self.rank)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Every rank's indices of each step: a permutation seeded by (seed, epoch) cut into batches of
        ``batch_size``, the last padded from the start. With ``groups`` the permutation shuffles whole
        groups (each group's examples stay together, in their order), so a group is split only where
        it crosses a batch boundary."""
        bs = self.cfg.batch_size
        gen = torch.Generator().manual_seed(self.cfg.seed * 7919 + epoch)
        if self.groups is None:
            perm = torch.randperm(self.n_examples, generator=gen).tolist()
        else:
            perm = [i for k in torch.randperm(len(self.groups), generator=gen).tolist() for i in self.groups[k]]
        perm += perm[: self.steps_per_epoch * bs - len(perm)]
        return [perm[step * bs : (step + 1) * bs] for step in range(self.steps_per_epoch)]

    def share(self, batch: list[int], rank: int) -> list[int]:
        """Rank ``rank``'s part of a batch: every ``size``-th index from ``rank``, or, with ``groups``,
        a contiguous slice of the same length (so a group stays on one rank)."""
        if self.groups is None:
            return batch[rank :: self.size]
        lo = sum(len(range(r, len(batch), self.size)) for r in range(rank))
        return batch[lo : lo + len(range(rank, len(batch), self.size))]

    def forward(self, model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
        """Rewards ``[len(ids)]`` of cached texts (:meth:`forward_padded`); with ``length_buckets`` k > 1 in
        one process, the texts sorted by length and cut into k passes, each padded to its own longest
        text, their rewards put back in the order of ``ids`` (the same values, less padding)."""
        k = self.cfg.length_buckets
        if k <= 1 or self.size > 1 or len(ids) < 2 * k:
            return self.forward_padded(model, ids)
        order = sorted(range(len(ids)), key=lambda i: self.cache.length(ids[i]))
        cuts = [round(j * len(ids) / k) for j in range(k + 1)]
        parts = [self.forward_padded(model, [ids[i] for i in order[a:b]]) for a, b in zip(cuts, cuts[1:], strict=False)]
        back = torch.empty(len(ids), dtype=torch.long)
        back[torch.tensor(order)] = torch.arange(len(ids))
        return torch.cat(parts).index_select(0, back.to(parts[0].device))

    def forward_padded(self, model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
        """Rewards ``[len(ids)]`` of cached texts under ``model``, as float32 (float64 from a float64
        model): bf16 autocast on CUDA, on any device with ``precision="bf16"``, and with ``"auto"`` on a
        CPU with native bf16 (:func:`cpu_has_bf16`)."""
        batch = {k: v.to(self.device) for k, v in self.cache.batch(ids).items()}
        bf16 = self.device.type == "cuda" or self.cfg.precision == "bf16" or (
            self.cfg.precision == "auto" and cpu_has_bf16())
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16), _attention_kernel(self.device):
            r = model(**batch).logits.squeeze(-1)
        return r if r.dtype == torch.float64 else r.float()

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("module") is not None:
            unwrap(self.model).load_state_dict(state["module"])

    def card(self) -> dict[str, Any]:
        """The communities of the training data (``data.communities``, else those of ``data.train``'s records,
        the global one left out) and its ``source``, where the subclass's ``data`` says."""
        from raysearch.data.goqa import GLOBAL_COMMUNITY

        data = getattr(self, "data", None)
        comms = getattr(data, "communities", None)
        if comms is None:
            comms = sorted({str(r.community) for r in getattr(data, "train", None) or []
                            if getattr(r, "community", None) and r.community != GLOBAL_COMMUNITY})
        return {"communities": list(comms), "source": getattr(data, "source", None)}

    def save(self, folder: Path) -> dict[str, Any]:
        save_reward_model(self.model, self.tok, folder / MODEL_DIR)
        m = unwrap(self.model)
        return {"module": m.state_dict() if hasattr(m, "peft_config") else None}  # else: model/ holds it


def _attention_kernel(device: torch.device) -> Any:
    """While training on CPU, attention on the math path: with dropout off, SDPA picks its CPU flash
    kernel, whose backward took 32% of a bf16 step at MiniLM's shapes; the math path trains 11% (fp32)
    to 21% (bf16) faster there (docs/BENCHMARKS.md, section 1). Elsewhere SDPA chooses."""
    if device.type != "cpu" or not torch.is_grad_enabled():
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX-512 BF16 or AMX, via oneDNN); without it
    bf16 autocast is emulated and slower than fp32. Asked once per process (every forward pass reads it)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def disable_dropout(model: torch.nn.Module) -> None:
    """Every dropout of ``model`` to p = 0 (attention dropout included: transformers' attention reads
    ``self.dropout.p``), which also lets the attention run the fused SDPA kernel while training."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0


def adamw(params: list[torch.nn.Parameter], *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused (one kernel for all tensors) where torch has it for the parameters' device: on CPU it
    takes a quarter of the single-tensor step's time at MiniLM's shapes (docs/BENCHMARKS.md, section 1)."""
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def load_model(path: str | Path) -> Any:
    """The reward model of a checkpoint folder (its ``model/``) or of a model folder, ready to ``score``."""
    from raysearch.models.scoring import RewardModel

    p = Path(path)
    return RewardModel.load(p / MODEL_DIR if (p / MODEL_DIR).is_dir() else p)


def freeze_lower_layers(model: torch.nn.Module, n: int) -> None:
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
