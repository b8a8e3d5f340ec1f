"""The search space of soft prompts: prompt = P0 + A·z with a seeded random A (Black-Box Tuning).

Sun et al. (2022), "Black-Box Tuning for Language-Model-as-a-Service", ICML: derivative-free
search works in a random low-dimensional subspace, prompt = P0 + A·z with z in R^k. A is drawn
from N(0, sigma_A^2) from a seed and regenerated on demand, never stored; P0 is the embedding
of a persona text, so z = 0 is a meaningful prompt. ``k = 0`` searches the full n×d space,
prompt = P0 + scale·z (the setting of the survey paper, and the baseline to beat).
"""

from __future__ import annotations

import numpy as np
import torch

from raysearch.errors import UserInputError


def fit_tokens(embedding: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Repeat/truncate a text's embeddings (m, d) to exactly ``n_tokens`` rows (peft TEXT init)."""
    if embedding.shape[0] == 0:
        raise UserInputError("the persona text has no tokens; give a non-empty --persona")
    if n_tokens <= 0:
        raise ValueError(f"n_tokens must be positive, got {n_tokens}")
    reps = -(-n_tokens // embedding.shape[0])
    return embedding.repeat(reps, 1)[:n_tokens].clone()


class Subspace:
    """Maps search points z (P, k) to soft prompts (P, n, d) around the centre P0 (n, d).

    sigma is the per-coordinate standard deviation of the prompt change for z ~ N(0, I), in
    units of the model's embedding standard deviation ``embed_std``: A's entries are
    N(0, (sigma * embed_std)^2 / k), so ``A z`` has that spread whatever k is.
    """

    def __init__(self, *, center: torch.Tensor, dim: int, seed: int, sigma: float, embed_std: float) -> None:
        if dim < 0:
            raise ValueError(f"subspace dim must be >= 0 (0 = full space), got {dim}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.center = center.detach().to(torch.float32).cpu()
        self.n_tokens, self.embed_dim = self.center.shape
        self.k = dim
        self.seed = seed
        self.scale = float(sigma * embed_std)
        self._matrix: torch.Tensor | None = None

    @property
    def search_dim(self) -> int:
        """Dimension of z: k, or n·d for the full space."""
        return self.k if self.k > 0 else self.n_tokens * self.embed_dim

    @property
    def matrix(self) -> torch.Tensor:
        """A: (n·d, k), regenerated from the seed on first use."""
        if self._matrix is None:
            gen = torch.Generator().manual_seed(self.seed)
            full = self.n_tokens * self.embed_dim
            self._matrix = torch.randn(full, self.k, generator=gen) * (self.scale / self.k**0.5)
        return self._matrix

    def prompts(self, z: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Soft prompts (P, n, d) from points z (P, search_dim) or (search_dim,)."""
        zt = torch.as_tensor(np.asarray(z), dtype=torch.float32)
        if zt.dim() == 1:
            zt = zt[None]
        if zt.shape[1] != self.search_dim:
            raise ValueError(f"z must have {self.search_dim} columns, got {tuple(zt.shape)}")
        delta = zt @ self.matrix.T if self.k > 0 else zt * self.scale
        return self.center[None] + delta.view(-1, self.n_tokens, self.embed_dim)
