"""DPRM: per-option scores → a predicted answer distribution, trained by optimal transport to a community's.

Li, Zhang, Dong, Goh, Tang & Liu (2024), "Aligning Crowd Feedback via Distributional Preference
Reward Modeling" (arXiv:2402.09764): a reward model scores each of a prompt's K options; the softmax over the
options is the predicted distribution ``p̂``; the loss is the optimal-transport distance between
``p̂`` and the observed distribution ``p``, which, unlike cross-entropy, knows that putting mass
on a neighbouring answer of an ordinal scale is a smaller error than putting it far away.

- Ordinal options (answers on a scale, in order): the 1-D Wasserstein-1 distance with unit
  spacing, in closed form over the cumulative distributions, ``W1 = Σ_k |F_p̂(k) − F_p(k)|``.
- Unordered options: general OT ``min_π <π, C>`` with a given cost matrix ``C`` (POT's exact
  solver ``ot.emd2``; its torch backend returns the dual potentials as the gradient in ``p̂``).
- Cross-entropy ``−Σ_k p_k log p̂_k`` is the ablation that ignores the geometry of the labels.
- Small samples are smoothed by a conjugate update (the paper's Beta for two options,
  Dirichlet for more): prior ``Dir(α0, …, α0)`` plus the observed counts, posterior mean
  ``(α0 + c_k) / (K·α0 + n)``. ``α0 = 1`` (the uniform prior on the simplex, Laplace's rule)
  is the default because it is the prior that adds one pseudo-answer per option, no more.

Ragged option counts are padded to ``K = max K`` with a boolean ``mask`` (True = real option);
padded options get zero predicted and target mass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from raysearch.errors import UserInputError

DprmLoss = Literal["w1", "ot", "ce"]
LOSSES: tuple[str, ...] = ("w1", "ot", "ce")
#: Same tolerance as ``DistributionRecord``: shares rounded to 3 decimals still pass.
SUM_TOL = 1e-3
DEFAULT_ALPHA0 = 1.0


# ----------------------------------------------------------------------------- validation
def check_distribution(distribution: Sequence[float], *, options: Sequence[str] | None = None,
                       tol: float = SUM_TOL, where: str = "") -> None:
    """Raise ``UserInputError`` unless the shares are finite, >= 0, sum to 1 within ``tol``, one per option."""
    at = f" for {where}" if where else ""
    d = np.asarray(distribution, dtype=float)
    if options is not None and len(options) != d.size:
        raise UserInputError(
            f"{len(options)} options but {d.size} shares{at}; give exactly one share per option"
        )
    if d.size < 2:
        raise UserInputError(f"a distribution needs at least 2 options, got {d.size}{at}; drop the prompt")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise UserInputError(f"distribution {d.round(4).tolist()}{at} has a negative or non-finite share; shares must be >= 0")
    if abs(d.sum() - 1.0) > tol:
        raise UserInputError(
            f"distribution sums to {d.sum():.4f}, not 1 (tolerance {tol}){at}; renormalize it "
            f"(divide by its sum) or smooth counts with beta_dirichlet_smooth"
        )


def _check_batch(target: torch.Tensor, mask: torch.Tensor | None, tol: float = SUM_TOL) -> torch.Tensor:
    """Validate a ``[B, K]`` target (masked entries must be 0) and return the mask (all True if None)."""
    if target.dim() != 2:
        raise UserInputError(f"target distribution must have shape [B, K], got {tuple(target.shape)}")
    m = torch.ones_like(target, dtype=torch.bool) if mask is None else mask.to(torch.bool)
    if m.shape != target.shape:
        raise UserInputError(f"mask shape {tuple(m.shape)} differs from target shape {tuple(target.shape)}; pad both to [B, K]")
    if bool((target < 0).any()) or not bool(torch.isfinite(target).all()):
        raise UserInputError("target distribution has a negative or non-finite share; shares must be >= 0")
    if bool((target.masked_fill(m, 0) != 0).any()):
        raise UserInputError("target puts mass on a padded (masked-out) option; pad targets with 0")
    sums = target.sum(dim=1)
    bad = (sums - 1).abs() > tol
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise UserInputError(
            f"target row {i} sums to {float(sums[i]):.4f}, not 1 (tolerance {tol}); renormalize it"
        )
    return m


def pad_distributions(distributions: Sequence[Sequence[float]], *, options: Sequence[Sequence[str]] | None = None,
                      tol: float = SUM_TOL) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ragged distributions and pad them: ``(target [B, K_max] float32, mask [B, K_max] bool)``."""
    if options is not None and len(options) != len(distributions):
        raise UserInputError(f"{len(options)} option lists but {len(distributions)} distributions; give one per prompt")
    for i, d in enumerate(distributions):
        check_distribution(d, options=None if options is None else options[i], tol=tol, where=f"row {i}")
    k = max((len(d) for d in distributions), default=0)
    target = torch.zeros(len(distributions), k)
    mask = torch.zeros(len(distributions), k, dtype=torch.bool)
    for i, d in enumerate(distributions):
        target[i, : len(d)] = torch.as_tensor(d, dtype=torch.float32)
        mask[i, : len(d)] = True
    return target, mask


# ----------------------------------------------------------------------------- prediction
def predicted_distribution(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the options: ``scores [B, K]`` (+ ``mask [B, K]``, True = real) → ``p̂ [B, K]``, 0 on padding."""
    return masked_log_softmax(scores, mask).exp()


def masked_log_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``log p̂ [B, K]``; padded entries are ``-inf`` (so ``exp`` gives exactly 0)."""
    if scores.dim() != 2:
        raise UserInputError(f"option scores must have shape [B, K], got {tuple(scores.shape)}")
    if mask is None:
        return F.log_softmax(scores, dim=-1)
    if mask.shape != scores.shape:
        raise UserInputError(f"mask shape {tuple(mask.shape)} differs from scores shape {tuple(scores.shape)}")
    if not bool(mask.any(dim=1).all()):
        raise UserInputError("a row of the option mask is all False; every prompt needs at least one option")
    return F.log_softmax(scores.masked_fill(~mask.to(torch.bool), float("-inf")), dim=-1)


# ----------------------------------------------------------------------------- losses
def wasserstein_1d_loss(p_hat: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of ``Σ_k |F_p̂(k) − F_p(k)|`` (ordinal options, unit spacing).

    Args:
        p_hat: predicted distributions, shape ``[B, K]`` (0 on padding).
        target: observed distributions, shape ``[B, K]`` (0 on padding), rows summing to 1.
        mask: ``[B, K]`` bool, True = real option; padded positions add no term even mid-row.

    Returns:
        A scalar tensor; equals ``ot.wasserstein_1d`` on positions 0..K-1 for each row.
    """
    m = _check_batch(target, mask)
    if p_hat.shape != target.shape:
        raise UserInputError(f"predicted shape {tuple(p_hat.shape)} differs from target shape {tuple(target.shape)}")
    gap = (p_hat.cumsum(dim=1) - target.to(p_hat.dtype).cumsum(dim=1)).abs()
    return (gap * m).sum(dim=1).mean()


def ordinal_cost(k: int) -> torch.Tensor:
    """The ``[K, K]`` cost ``|i − j|`` under which general OT equals the 1-D Wasserstein-1 distance."""
    idx = torch.arange(k, dtype=torch.float64)
    return (idx[:, None] - idx[None, :]).abs()


def ot_loss(p_hat: torch.Tensor, target: torch.Tensor, cost: torch.Tensor | Sequence[torch.Tensor],
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of exact OT costs ``min_π <π, C>`` (POT ``ot.emd2``), differentiable in ``p_hat``.

    Args:
        p_hat: predicted distributions, shape ``[B, K]``.
        target: observed distributions, shape ``[B, K]``.
        cost: one ``[K, K]`` matrix for all rows, a ``[B, K, K]`` tensor, or a list of ``[K_b, K_b]``
            matrices over each row's real options (ragged batches).
        mask: ``[B, K]`` bool, True = real option.

    Solved in float64 (POT checks that both marginals have the same mass) and cast back.
    """
    from raysearch._extras import require

    ot = require("ot", "ot", "the optimal-transport loss")  # POT, here so the rest of the module needs only torch

    m = _check_batch(target, mask)
    if p_hat.shape != target.shape:
        raise UserInputError(f"predicted shape {tuple(p_hat.shape)} differs from target shape {tuple(target.shape)}")
    rows = []
    for b in range(p_hat.shape[0]):
        keep = m[b]
        a = p_hat[b][keep].to(torch.float64)
        a = a / a.sum()  # float32 softmax mass can miss 1 by ~1e-7, which POT's marginal check rejects
        t = target[b][keep].to(torch.float64)
        t = t / t.sum()
        if isinstance(cost, torch.Tensor):  # [K, K] shared or [B, K, K] per row, over padded positions
            c = (cost[b] if cost.dim() == 3 else cost).to(torch.float64)
            c = c[keep][:, keep] if c.shape == (keep.numel(), keep.numel()) else c
        else:  # a list of [K_b, K_b] matrices over each row's real options
            c = torch.as_tensor(cost[b], dtype=torch.float64)
        if c.shape != (a.numel(), a.numel()):
            raise UserInputError(
                f"cost matrix of row {b} has shape {tuple(c.shape)} but the row has {a.numel()} options; "
                f"give a [K, K] cost per row"
            )
        rows.append(ot.emd2(a, t, c.to(a.device)))
    return torch.stack(rows).mean().to(p_hat.dtype)


def cross_entropy_loss(scores: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Ablation: mean over the batch of ``−Σ_k p_k log p̂_k``; ``scores``, ``target``, ``mask`` shape ``[B, K]``."""
    m = _check_batch(target, mask)
    logp = masked_log_softmax(scores, m)
    p = target.to(logp.dtype)
    return -torch.where(p > 0, p * logp, torch.zeros_like(logp)).sum(dim=1).mean()  # 0·log 0 = 0, padding included


def dprm_loss(scores: torch.Tensor, target: torch.Tensor, *, kind: DprmLoss = "w1",
              mask: torch.Tensor | None = None,
              cost: torch.Tensor | Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """The DPRM loss of option ``scores [B, K]`` against ``target [B, K]``: ``"w1"``, ``"ot"`` or ``"ce"``.

    ``"w1"`` (the default) is for ordinal options; ``"ot"`` needs ``cost`` (``|i − j|`` if None,
    which reproduces ``"w1"``); ``"ce"`` is the cross-entropy ablation.
    """
    if kind == "ce":
        return cross_entropy_loss(scores, target, mask)
    p_hat = predicted_distribution(scores, mask)
    if kind == "w1":
        return wasserstein_1d_loss(p_hat, target, mask)
    if kind == "ot":
        return ot_loss(p_hat, target, ordinal_cost(scores.shape[1]) if cost is None else cost, mask)
    raise UserInputError(f"DPRM loss {kind!r} is unknown; use one of {', '.join(LOSSES)}")


# ----------------------------------------------------------------------------- smoothing
def beta_dirichlet_smooth(*, counts: Sequence[float] | None = None, shares: Sequence[float] | None = None,
                          n: float | None = None, alpha0: float = DEFAULT_ALPHA0) -> np.ndarray:
    """Posterior mean of a symmetric Beta (K = 2) / Dirichlet (K > 2) prior updated with counts.

    ``Dir(α0·1) + counts c → Dir(α0 + c)``, mean ``(α0 + c_k) / (K·α0 + n)`` with ``n = Σ c``.
    Give either ``counts`` or ``shares`` with the sample size ``n`` (counts = shares · n). With
    ``n → ∞`` the shares come back unchanged; with ``n = 0`` the result is uniform.
    """
    if not alpha0 > 0 or not np.isfinite(alpha0):
        raise UserInputError(f"alpha0={alpha0} must be a finite number > 0 (the prior pseudo-count per option), e.g. 1.0")
    if (counts is None) == (shares is None):
        raise UserInputError("give exactly one of counts= or shares= (with n=) to beta_dirichlet_smooth")
    if counts is not None:
        c = np.asarray(counts, dtype=float)
        if n is not None and abs(c.sum() - n) > 1e-6 * max(1.0, n):
            raise UserInputError(f"n={n} differs from the sum of counts {c.sum():g}; drop n= or fix the counts")
    elif shares is not None:
        if n is None or not n >= 0:
            raise UserInputError(f"shares need the sample size n >= 0 (respondents), got n={n}")
        check_distribution(shares, where="shares to smooth")
        c = np.asarray(shares, dtype=float) * n
    if c.ndim != 1 or c.size < 2:
        raise UserInputError(f"need counts for at least 2 options, got shape {c.shape}")
    if np.any(c < 0) or not np.all(np.isfinite(c)):
        raise UserInputError(f"counts {c.tolist()} must be finite and >= 0")
    return (alpha0 + c) / (c.size * alpha0 + c.sum())


# ----------------------------------------------------------------------------- rewards
def option_reward(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise reward of each option: its predicted share ``p̂_k``, shape ``[B, K]``.

    Chosen for pairwise use because a GlobalOpinionQA pair (i ≻ j) means ``p_c(i) − p_c(j) >=
    margin``: comparing predicted shares is the same rule the label was made by, and shares are
    comparable across prompts (raw scores are not: softmax ignores their offset).
    """
    return predicted_distribution(scores, mask)


def expected_reward(p_hat: torch.Tensor, values: torch.Tensor | None = None,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Expected value ``Σ_k p̂_k v_k`` of option values under ``p̂``; ``p_hat [B, K]`` → ``[B]``.

    ``values`` (``[K]`` or ``[B, K]``) are the options' values (the DPRM paper's "expected
    reward" over its ordered preference levels); ``None`` means evenly spaced ordinal positions 0..1 over each
    row's real options (the mean position of the answer on its scale).
    """
    if values is None:
        m = torch.ones_like(p_hat, dtype=torch.bool) if mask is None else mask.to(torch.bool)
        k = m.sum(dim=1, keepdim=True).clamp_min(2).to(p_hat.dtype)
        values = (m.cumsum(dim=1) - 1).to(p_hat.dtype) / (k - 1)
    values = values.to(p_hat.dtype)
    if values.shape[-1] != p_hat.shape[-1]:
        raise UserInputError(f"{values.shape[-1]} option values for {p_hat.shape[-1]} options; give one value per option")
    return (p_hat * values).sum(dim=-1)
