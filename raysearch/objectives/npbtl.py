"""NP-BTL and its baselines (BTL, DPL): pairwise likelihoods, the task loss, and the bare fit/evaluate loop.

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

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from raysearch.data.tasks import Task, collate

DEFAULT_KL_WEIGHT = 0.01


class PairOutput(NamedTuple):
    """A model's view of a batch of target pairs."""

    margin: torch.Tensor  # [B, T]: > 0 means "chosen is preferred"
    log_prob: torch.Tensor  # [B, T]: log P(chosen ≻ rejected)
    kl: torch.Tensor | None  # [B]: KL(q(z | C) ‖ q(z | C ∪ T) or N(0, I)), None for models without a Gaussian z


class TaskSample(Protocol):
    """Draws ``n_tasks`` training tasks with the given generator (``TaskSampler.sample``)."""

    def __call__(self, n_tasks: int, rng: np.random.Generator) -> list[Task]: ...


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


def fit(model: torch.nn.Module, features: tuple[torch.Tensor, torch.Tensor], sample: TaskSample, *,
        steps: int, batch_size: int = 64, lr: float = 1e-3, kl_weight: float = DEFAULT_KL_WEIGHT,
        seed: int = 0) -> list[float]:
    """The bare training loop (no Ray): Adam on ``npbtl_loss`` over freshly sampled task batches.

    ``features`` are the cached ``(chosen [N, D], rejected [N, D])`` features of the
    training records; ``sample(n, rng)`` returns n tasks (``TaskSampler.sample``). Returns the
    loss of every step.
    """
    rng = np.random.default_rng([seed, 0])
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        batch = collate(sample(batch_size, rng), *features)
        loss = npbtl_loss(model(batch, generator=gen), target_mask=batch.tgt_mask, kl_weight=kl_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def evaluate(model: torch.nn.Module, tasks: Sequence[Task], features: tuple[torch.Tensor, torch.Tensor], *,
             batch_size: int = 256) -> np.ndarray:
    """Per target pair, whether the model ranks it right (``margin > 0``): bool ``[n_tasks, T]``.

    Runs in ``eval()`` mode (a Gaussian ``z`` is its mean) under ``no_grad``.
    """
    model.eval()
    rows = []
    for s in range(0, len(tasks), batch_size):
        batch = collate(tasks[s : s + batch_size], *features)
        out = model(batch)
        rows.append(((out.margin > 0) & batch.tgt_mask).numpy())
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, 0), dtype=bool)
