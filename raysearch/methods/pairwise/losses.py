"""The pairwise losses: Bradley–Terry, SCPO's filter and weights, and the community weighting schedule.

- **Bradley–Terry**: ``-log σ(R(chosen) - R(rejected))``, optionally weighted. Bradley & Terry
  (1952); the reward-model form of Ouyang et al. (2022), eq. 1. It is the "full-data fine-tuning"
  baseline of the SCPO paper and the loss SCPO re-weights.
- **SCPO** (Steerable Cultural Preference Optimization): a global reference reward model G scores
  each training pair once, ``Δ = r_G(chosen) - r_G(rejected)``. A pair is kept iff ``σ(Δ) < τ``
  (G gets it wrong or only weakly right) and weighted ``w = min(exp(Δ/β), 1)``: the harder G
  contradicts the community's label, the less the pair counts, which tempers excessive bias
  toward any one community's noise. The loss is the weighted BT loss over the kept pairs, and
  the trained model R starts from G. Defaults τ = 0.7 and β = 1.1 are the paper's (chosen there
  on DeBERTa-v3-base, lr 1e-6, batch 8, 1,024 steps, one model per country).
- **Community weighting schedule** (this project's steerable extension of SCPO; ``docs/scpo.md``):
  at training progress ``t ∈ [0, 1]`` community c weighs ``α_c(t) ∝ n_c^(-γ(t))`` with ``n_c``
  its number of training pairs. γ = 0 weighs every pair alike (large communities dominate);
  γ = 1 gives every community the same total weight. γ moves from ``gamma_start`` to
  ``gamma_end`` along a shape. The weights are renormalized so that their mean over training
  pairs is 1, which keeps the loss scale (and so the effective learning rate) independent of γ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from raysearch.errors import UserInputError

Normalize = Literal["batch", "weights"]


def bt_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, weights: torch.Tensor | None = None,
    *, normalize: Normalize = "batch",
) -> torch.Tensor:
    """Mean (or weight-normalized) BT negative log-likelihood.

    Args:
        r_chosen: rewards of the preferred responses, shape ``[B]``.
        r_rejected: rewards of the other responses, shape ``[B]``.
        weights: per-pair weights ``w >= 0``, shape ``[B]``; ``None`` means all ones.
        normalize: ``"batch"`` divides ``Σ w·nll`` by B (the SCPO paper); ``"weights"`` by ``Σ w``.

    Returns:
        A scalar tensor.
    """
    if r_chosen.shape != r_rejected.shape or r_chosen.dim() != 1:
        raise ValueError(f"rewards must both have shape [B], got {tuple(r_chosen.shape)} and {tuple(r_rejected.shape)}")
    nll = -F.logsigmoid(r_chosen - r_rejected)
    if weights is None:
        return nll.mean()
    if weights.shape != nll.shape:
        raise ValueError(f"weights must have shape {tuple(nll.shape)}, got {tuple(weights.shape)}")
    total = (weights * nll).sum()
    if normalize == "batch":
        return total / nll.numel()
    if normalize == "weights":
        return total / weights.sum().clamp_min(1e-12)
    raise ValueError(f"normalize must be 'batch' or 'weights', got {normalize!r}")


# ----------------------------------------------------------------------------- SCPO
DEFAULT_TAU = 0.7
DEFAULT_BETA = 1.1


def check_scpo_params(tau: float, beta: float) -> None:
    """Raise ``UserInputError`` unless ``0 < τ <= 1`` and ``β > 0``."""
    if not (0.0 < tau <= 1.0) or math.isnan(tau):
        raise UserInputError(f"tau={tau} is outside (0, 1]; it is the σ(Δ) threshold, e.g. --tau {DEFAULT_TAU}")
    if not beta > 0 or math.isinf(beta):
        raise UserInputError(f"beta={beta} must be a finite number > 0; it is the weight temperature, e.g. --beta {DEFAULT_BETA}")


@dataclass(frozen=True)
class ScpoSelection:
    """Which training pairs SCPO keeps and with what weight."""

    keep: torch.Tensor  # bool [N]
    weights: torch.Tensor  # float [N], weights of all pairs (kept or not)

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())


def scpo_weights(delta: torch.Tensor, *, beta: float) -> torch.Tensor:
    """``w = min(exp(Δ/β), 1)`` for reference margins ``delta`` of shape ``[N]``."""
    return torch.exp(delta / beta).clamp(max=1.0)


def scpo_select(delta: torch.Tensor, *, tau: float = DEFAULT_TAU, beta: float = DEFAULT_BETA) -> ScpoSelection:
    """Filter (``σ(Δ) < τ``; with τ = 1 every finite Δ is kept) and weight pairs, ``delta`` shape ``[N]``."""
    check_scpo_params(tau, beta)
    keep = torch.sigmoid(delta) < tau if tau < 1.0 else torch.ones_like(delta, dtype=torch.bool)
    return ScpoSelection(keep=keep, weights=scpo_weights(delta, beta=beta))


def scpo_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, weights: torch.Tensor, *, normalize: Normalize = "batch"
) -> torch.Tensor:
    """``-Σ w·log σ(R(chosen) - R(rejected))`` over a batch of kept pairs, each input shape ``[B]``."""
    return bt_loss(r_chosen, r_rejected, weights, normalize=normalize)


# ----------------------------------------------------------------------------- community weighting schedule
Shape = Literal["constant", "linear", "cosine", "step"]
SHAPES: tuple[str, ...] = ("constant", "linear", "cosine", "step")


def gamma_at(t: float, *, start: float, end: float, shape: Shape) -> float:
    """γ(t): ``constant`` stays at start; ``linear`` and ``cosine`` go from start to end;
    ``step`` switches from start to end at t = 0.5."""
    if shape not in SHAPES:
        raise UserInputError(f"schedule shape {shape!r} is unknown; valid: {', '.join(SHAPES)}")
    t = min(max(t, 0.0), 1.0)
    if shape == "constant":
        return start
    if shape == "linear":
        return start + (end - start) * t
    if shape == "cosine":
        return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))
    return start if t < 0.5 else end


def community_weights(counts: Mapping[str, int], gamma: float) -> dict[str, float]:
    """``α_c ∝ n_c^(-γ)``, scaled so ``Σ_c n_c α_c / Σ_c n_c = 1``. Shape: one float per community."""
    if not counts or any(n <= 0 for n in counts.values()):
        raise ValueError(f"every community needs at least one pair, got {dict(counts)}")
    raw = {c: float(n) ** (-gamma) for c, n in counts.items()}
    total = sum(counts.values())
    scale = total / sum(counts[c] * raw[c] for c in counts)
    return {c: raw[c] * scale for c in counts}
