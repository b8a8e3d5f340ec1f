"""NP-BTL model (context encoder + conditional reward) and its BTL and DPL baselines over cached features h(y).

All three map a ``TaskBatch`` (see ``raysearch.data.tasks``) to a ``PairOutput``; features
``h(y)`` are precomputed (raw option values for the synthetic data, frozen backbone embeddings
for text: embed once, not every epoch). Equations and citations: ``raysearch.methods.npbtl.losses``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from raysearch.data.records import PairRecord
from raysearch.data.tasks import TaskBatch
from raysearch.errors import UserInputError
from raysearch.methods.npbtl.losses import PairOutput, btl_log_prob, dpl_log_prob, gaussian_kl, gaussian_kl_between

ModelKind = Literal["npbtl", "btl", "dpl"]
MODEL_KINDS: tuple[str, ...] = ("npbtl", "btl", "dpl")
EncoderKind = Literal["attention", "factor"]
ENCODERS: tuple[str, ...] = ("attention", "factor")
KlTarget = Literal["context_target", "prior"]
KL_TARGETS: tuple[str, ...] = ("context_target", "prior")


@dataclass(frozen=True)
class NpbtlModelConfig:
    """Sizes of the NP-BTL model and its baselines (small: the inputs are cached features)."""

    kind: ModelKind = field(default="npbtl", metadata={"help": "npbtl (context → z → r(y; z)), btl (r(y)) or dpl (μ(y), σ(y))"})
    feature_dim: int = field(default=1, metadata={"help": "dimension D of the features h(y)"})
    hidden: int = field(default=64, metadata={"help": "width of every hidden layer"})
    latent_dim: int = field(default=8, metadata={"help": "dimension of the user latent z"})
    heads: int = field(default=4, metadata={"help": "attention heads across the context (must divide hidden)"})
    stochastic: bool = field(default=False, metadata={"help": "Gaussian z with a KL term instead of a deterministic z"})
    encoder: EncoderKind = field(default="attention", metadata={
        "help": "attention (the paper's: pair MLP, self-attention, mean) or factor (shared option factors, FactorNPBTL)"})
    kl_target: KlTarget = field(default="context_target", metadata={
        "help": "Gaussian z: KL(q(z|C) || q(z|C u T)) (context_target, the paper's) or KL(q(z|C) || N(0, I)) (prior)"})

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise UserInputError(f"model kind {self.kind!r} is unknown; use one of {', '.join(MODEL_KINDS)}")
        if self.encoder not in ENCODERS:
            raise UserInputError(f"encoder {self.encoder!r} is unknown; use one of {', '.join(ENCODERS)}")
        if self.kl_target not in KL_TARGETS:
            raise UserInputError(f"kl_target {self.kl_target!r} is unknown; use one of {', '.join(KL_TARGETS)}")
        if self.encoder == "factor" and self.stochastic:
            raise UserInputError("stochastic (a Gaussian z) applies to encoder=attention; encoder=factor has a deterministic z")
        for name in ("feature_dim", "hidden", "latent_dim", "heads"):
            if getattr(self, name) < 1:
                raise UserInputError(f"{name}={getattr(self, name)} must be >= 1")
        if self.hidden % self.heads:
            raise UserInputError(f"hidden={self.hidden} is not divisible by heads={self.heads}; pick heads dividing hidden")


def mlp(d_in: int, hidden: int, d_out: int, *, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden layers of width ``hidden`` with SiLU, then a linear output."""
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.SiLU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class ContextEncoder(nn.Module):
    """Context pairs ``[B, C, D]`` ×2 (+ mask ``[B, C]``) → latent ``z`` mean ``[B, L]`` (and log-variance).

    Each pair is encoded from ``[h(chosen) ‖ h(rejected)]`` by an MLP; one self-attention layer
    (residual + LayerNorm) lets pairs see each other; a masked mean pools them. A task with no
    context pools to a learned vector, so the zero-shot ``z`` is learned too.
    """

    def __init__(self, *, feature_dim: int, hidden: int, latent_dim: int, heads: int, stochastic: bool) -> None:
        super().__init__()
        self.pair = mlp(2 * feature_dim, hidden, hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.empty = nn.Parameter(torch.zeros(hidden))
        self.head = nn.Linear(hidden, 2 * latent_dim if stochastic else latent_dim)
        self.stochastic = stochastic

    def forward(self, chosen: torch.Tensor, rejected: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, c = mask.shape
        empty = self.empty.expand(b, -1)
        if c == 0:
            pooled = empty
        else:
            e = self.pair(torch.cat([chosen, rejected], dim=-1))  # [B, C, H]
            has = mask.any(dim=1)  # [B]
            pad = ~mask
            pad[:, 0] &= has  # a row with no context attends to its (ignored) slot 0, not to nothing (NaN)
            a, _ = self.attn(e, e, e, key_padding_mask=pad, need_weights=False)
            e = self.norm(e + a)
            w = mask.to(e.dtype).unsqueeze(-1)
            pooled = (e * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
            pooled = torch.where(has.unsqueeze(-1), pooled, empty)
        out = self.head(pooled)
        if not self.stochastic:
            return out, None
        mean, logvar = out.chunk(2, dim=-1)
        return mean, logvar.clamp(-8.0, 8.0)


class NPBTL(nn.Module):
    """Conditional reward ``r(y; z) = MLP([h(y) ‖ z])`` with ``z`` from the context; BTL likelihood."""

    def __init__(self, cfg: NpbtlModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ContextEncoder(feature_dim=cfg.feature_dim, hidden=cfg.hidden, latent_dim=cfg.latent_dim,
                                      heads=cfg.heads, stochastic=cfg.stochastic)
        self.reward = mlp(cfg.feature_dim + cfg.latent_dim, cfg.hidden, 1)

    def latent(self, batch: TaskBatch, *, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(z [B, L], KL [B] or None)``; a Gaussian ``z`` is sampled in training, its mean in eval.

        ``z`` always comes from ``q(z | C)``, the context alone. The KL is the paper's neural-process
        term ``KL(q(z | C) ‖ q(z | C ∪ T))`` (``kl_target="context_target"``; the same encoder run on
        the context and target pairs together, gradients through both) or ``KL(q(z | C) ‖ N(0, I))``
        (``"prior"``, a conditional-VAE bound).
        """
        mean, logvar = self.encoder(batch.ctx_chosen, batch.ctx_rejected, batch.ctx_mask)
        if logvar is None:
            return mean, None
        kl = self.kl(batch, mean, logvar)
        if not self.training:
            return mean, kl
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + (0.5 * logvar).exp() * eps, kl

    def kl(self, batch: TaskBatch, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """The KL term ``[B]`` of ``q(z | C) = N(mean, e^logvar)`` (each ``[B, L]``) against ``cfg.kl_target``."""
        if self.cfg.kl_target == "prior":
            return gaussian_kl(mean, logvar)
        both = [torch.cat([c, t], dim=1) for c, t in ((batch.ctx_chosen, batch.tgt_chosen),
                                                       (batch.ctx_rejected, batch.tgt_rejected),
                                                       (batch.ctx_mask, batch.tgt_mask))]
        mean_ct, logvar_ct = self.encoder(*both)
        assert logvar_ct is not None
        return gaussian_kl_between(mean, logvar, mean_ct, logvar_ct)

    def rewards(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``r(y; z)`` for features ``h [B, T, D]`` and latents ``z [B, L]`` → ``[B, T]``."""
        zz = z.unsqueeze(1).expand(-1, h.shape[1], -1)
        return self.reward(torch.cat([h, zz], dim=-1)).squeeze(-1)

    def forward(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> PairOutput:
        z, kl = self.latent(batch, generator=generator)
        rc, rr = self.rewards(batch.tgt_chosen, z), self.rewards(batch.tgt_rejected, z)
        return PairOutput(margin=rc - rr, log_prob=btl_log_prob(rc, rr), kl=kl)


class FactorNPBTL(nn.Module):
    """NP-BTL whose encoder shares the reward's option factors (``encoder=factor``).

    ``r(y; z) = b(y) + z · U(y)``: a base reward ``b`` (an MLP, as BTL's) plus a user effect along
    ``L`` option factors ``U(y)`` (a one-hidden-layer MLP of ``h(y)``). Each context pair
    ``c ≻ r`` is encoded as ``U(c) − U(r)``, the direction in which it moves the user, and
    ``z = W · Σ_pairs (U(c) − U(r)) / (n + softplus(λ))``, with ``W`` (``L × L``, starts at the
    identity) and ``λ`` learned. This is the form of one Newton step of a Gaussian-prior MAP
    estimate of ``z`` in the bilinear model: with no context ``z = 0`` and the reward is the
    base reward (a BTL model); more pairs shrink ``z`` less. It keeps the neural-process recipe
    (encode each pair, pool with a permutation-invariant mean, condition the reward on ``z``)
    but ties the encoder to the reward, meant for few training users. On GlobalOpinionQA's
    held-out countries with question-disjoint tasks neither encoder gains reliably from context
    (docs/npbtl.md, result 1b).
    """

    def __init__(self, cfg: NpbtlModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.base = mlp(cfg.feature_dim, cfg.hidden, 1)
        self.factors = mlp(cfg.feature_dim, cfg.hidden, cfg.latent_dim, layers=1)
        self.mix = nn.Parameter(torch.eye(cfg.latent_dim))
        self.shrink = nn.Parameter(torch.tensor(1.0))

    def latent(self, batch: TaskBatch, *, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(z [B, L], None)``; ``z = 0`` for a task with no context."""
        b, c = batch.ctx_mask.shape
        if c == 0:
            return batch.tgt_chosen.new_zeros(b, self.cfg.latent_dim), None
        e = self.factors(batch.ctx_chosen) - self.factors(batch.ctx_rejected)  # [B, C, L]
        w = batch.ctx_mask.to(e.dtype).unsqueeze(-1)
        pooled = (e * w).sum(dim=1) / (w.sum(dim=1) + nn.functional.softplus(self.shrink))
        return pooled @ self.mix, None

    def rewards(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``r(y; z)`` for features ``h [B, T, D]`` and latents ``z [B, L]`` → ``[B, T]``."""
        return self.base(h).squeeze(-1) + (self.factors(h) * z.unsqueeze(1)).sum(dim=-1)

    def forward(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> PairOutput:
        z, _ = self.latent(batch)
        rc, rr = self.rewards(batch.tgt_chosen, z), self.rewards(batch.tgt_rejected, z)
        return PairOutput(margin=rc - rr, log_prob=btl_log_prob(rc, rr), kl=None)


class BTL(nn.Module):
    """Type-agnostic reward ``r(y) = MLP(h(y))``; ignores the context."""

    def __init__(self, cfg: NpbtlModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.reward = mlp(cfg.feature_dim, cfg.hidden, 1)

    def forward(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> PairOutput:
        rc, rr = self.reward(batch.tgt_chosen).squeeze(-1), self.reward(batch.tgt_rejected).squeeze(-1)
        return PairOutput(margin=rc - rr, log_prob=btl_log_prob(rc, rr), kl=None)


class DPL(nn.Module):
    """Mean-and-variance DPL: ``(μ(y), σ(y)) = MLP(h(y))``, σ through softplus (+1e-3); ignores the context."""

    def __init__(self, cfg: NpbtlModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.head = mlp(cfg.feature_dim, cfg.hidden, 2)

    def moments(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ)`` of the utility of features ``h [..., D]``, each ``[...]``."""
        mu, s = self.head(h).unbind(dim=-1)
        return mu, nn.functional.softplus(s) + 1e-3

    def forward(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> PairOutput:
        mc, sc = self.moments(batch.tgt_chosen)
        mr, sr = self.moments(batch.tgt_rejected)
        return PairOutput(margin=mc - mr, log_prob=dpl_log_prob(mc, sc, mr, sr), kl=None)


def build_model(cfg: NpbtlModelConfig) -> nn.Module:
    """The model ``cfg.kind`` names (NP-BTL with the encoder ``cfg.encoder`` names)."""
    if cfg.kind == "npbtl" and cfg.encoder == "factor":
        return FactorNPBTL(cfg)
    return {"npbtl": NPBTL, "btl": BTL, "dpl": DPL}[cfg.kind](cfg)


# ----------------------------------------------------------------------------- synthetic features
FeatureKind = Literal["raw", "fourier"]


def scalar_features(x: np.ndarray, *, kind: FeatureKind = "raw", dim: int = 16, bandwidth: float = 3.0,
                    seed: int = 0) -> torch.Tensor:
    """Features of scalar options ``x [N]``: the value itself ``[N, 1]``, or fixed random Fourier features ``[N, dim]``.

    Fourier: ``sqrt(2/dim) · cos(2π ω x + b)`` with ``ω ~ N(0, bandwidth²)``, ``b ~ U[0, 2π)``,
    drawn once from ``seed`` (Rahimi & Recht 2007). The few-shot paper feeds the scalar itself.
    """
    v = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1)
    if kind == "raw":
        return v
    if kind != "fourier":
        raise UserInputError(f"feature kind {kind!r} is unknown; use raw or fourier")
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(1, dim, generator=g) * bandwidth
    b = torch.rand(1, dim, generator=g) * 2 * torch.pi
    return (2.0 / dim) ** 0.5 * torch.cos(2 * torch.pi * v * w + b)


def synthetic_features(records: Sequence[PairRecord], **kw: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``(chosen [N, D], rejected [N, D])`` from the raw values ``meta['x_chosen'/'x_rejected']`` of synthetic pairs."""
    try:
        xc = np.array([r.meta["x_chosen"] for r in records], dtype=float)
        xr = np.array([r.meta["x_rejected"] for r in records], dtype=float)
    except KeyError:
        raise UserInputError("records lack meta x_chosen/x_rejected; synthetic features need synthetic_pairs records") from None
    return scalar_features(xc, **kw), scalar_features(xr, **kw)  # type: ignore[arg-type]
