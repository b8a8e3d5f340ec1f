"""NP-BTL and its baselines (BTL, DPL): pairwise likelihoods, Gaussian KL terms and the task loss (pure torch).

NP-BTL: Kobalczyk, Fanconi, Sun & van der Schaar (2024), "Few-shot Steerable Alignment:
Adapting Rewards and LLM Policies with Neural Processes" (arXiv:2412.13998). A user's hidden
type is inferred from a context of their choices as a latent ``z`` (a neural process over
pairs); the reward is conditional, ``r(y; z)``, and target pairs follow the Bradley–Terry–Luce
likelihood ``P(y_c ≻ y_r | z) = σ(r(y_c; z) − r(y_r; z))``. With a Gaussian ``z`` (sampled from
``q(z | C)``, the context alone) the loss adds ``kl_weight · KL``: by default the paper's
neural-process term ``KL(q(z | C) ‖ q(z | C ∪ T))``, which pulls the context's posterior towards
the posterior given context and targets, with gradients through both (``kl_target=context_target``);
or ``KL(q(z | C) ‖ N(0, I))`` (``kl_target=prior``, a conditional-VAE bound, which can collapse
``z`` onto the prior). ``kl_weight = 0.01`` by default.

BTL: the same likelihood with a type-agnostic reward ``r(y)`` (Bradley & Terry 1952).

DPL: Siththaranjan, Laidlaw & Hadfield-Menell (2023), "Distributional Preference Learning:
Understanding and Accounting for Hidden Context in RLHF" (arXiv:2312.08358), the mean-and-
variance variant: the utility of ``y`` is ``N(μ(y), σ(y)²)`` and
``P(y_c ≻ y_r) = Φ((μ_c − μ_r) / sqrt(σ_c² + σ_r²))``. It reports the spread that hidden
context causes but still ranks by ``μ``, so it cannot steer to one user.

All three predict a pair right when their margin (``r_c − r_r`` or ``μ_c − μ_r``) is > 0; ties
count wrong, as in ``raysearch.metrics.accuracy``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

DEFAULT_KL_WEIGHT = 0.01


class PairOutput(NamedTuple):
    """A model's view of a batch of target pairs."""

    margin: torch.Tensor  # [B, T]: > 0 means "chosen is preferred"
    log_prob: torch.Tensor  # [B, T]: log P(chosen ≻ rejected)
    kl: torch.Tensor | None  # [B]: KL(q(z | C) ‖ q(z | C ∪ T) or N(0, I)), None for models without a Gaussian z


def btl_log_prob(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """``log σ(r_c − r_r)``, elementwise over any shape (``[B, T]`` here)."""
    return F.logsigmoid(r_chosen - r_rejected)


def dpl_log_prob(mean_chosen: torch.Tensor, std_chosen: torch.Tensor,
                 mean_rejected: torch.Tensor, std_rejected: torch.Tensor) -> torch.Tensor:
    """``log Φ((μ_c − μ_r) / sqrt(σ_c² + σ_r²))``, elementwise (all inputs ``[B, T]``, σ > 0)."""
    scale = (std_chosen.square() + std_rejected.square()).sqrt()
    return torch.special.log_ndtr((mean_chosen - mean_rejected) / scale)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(μ, diag e^logvar) ‖ N(0, I))`` summed over the latent dimension: ``[B, L]`` → ``[B]``."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def gaussian_kl_between(mean_q: torch.Tensor, logvar_q: torch.Tensor, mean_p: torch.Tensor,
                        logvar_p: torch.Tensor) -> torch.Tensor:
    """``KL(N(μ_q, diag e^logvar_q) ‖ N(μ_p, diag e^logvar_p))`` summed over the latent dimension: ``[B, L]`` ×4 → ``[B]``."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).square()) / logvar_p.exp() - 1.0).sum(dim=-1)


def npbtl_loss(out: PairOutput, *, target_mask: torch.Tensor | None = None,
               kl_weight: float = DEFAULT_KL_WEIGHT) -> torch.Tensor:
    """Mean negative log-likelihood over real target pairs (``[B, T]``) plus ``kl_weight · mean KL``."""
    nll = -out.log_prob
    if target_mask is None:
        loss = nll.mean()
    else:
        m = target_mask.to(nll.dtype)
        loss = (nll * m).sum() / m.sum().clamp_min(1.0)
    if out.kl is not None and kl_weight > 0:
        loss = loss + kl_weight * out.kl.mean()
    return loss

