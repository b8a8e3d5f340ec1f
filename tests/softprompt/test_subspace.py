"""prompt = P0 + A z: A regenerated from the seed, z = 0 is P0, the spread is sigma * std."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raysearch.errors import UserInputError
from raysearch.softprompt.subspace import Subspace, fit_tokens


def test_matrix_is_regenerated_from_the_seed() -> None:
    center = torch.randn(4, 16)
    a = Subspace(center=center, dim=8, seed=7, sigma=1.0, embed_std=0.5)
    b = Subspace(center=center, dim=8, seed=7, sigma=1.0, embed_std=0.5)
    c = Subspace(center=center, dim=8, seed=8, sigma=1.0, embed_std=0.5)
    assert torch.equal(a.matrix, b.matrix) and not torch.equal(a.matrix, c.matrix)
    z = np.random.default_rng(0).normal(size=(3, 8))
    assert torch.equal(a.prompts(z), b.prompts(z))
    assert torch.equal(a.prompts(np.zeros(8))[0], center)


def test_spread_and_full_space() -> None:
    center = torch.zeros(8, 64)
    sub = Subspace(center=center, dim=32, seed=0, sigma=2.0, embed_std=0.1)
    z = np.random.default_rng(1).normal(size=(200, 32))
    assert abs(float(sub.prompts(z).std()) - 0.2) < 0.02
    full = Subspace(center=center, dim=0, seed=0, sigma=1.0, embed_std=0.1)
    assert full.search_dim == 8 * 64
    assert full.prompts(np.ones(512)).shape == (1, 8, 64)
    with pytest.raises(ValueError, match="columns"):
        sub.prompts(np.zeros(5))


def test_fit_tokens_repeats_and_truncates() -> None:
    text = torch.arange(6.0).view(3, 2)
    assert fit_tokens(text, 2).tolist() == [[0, 1], [2, 3]]
    assert fit_tokens(text, 5)[3:].tolist() == [[0, 1], [2, 3]]
    with pytest.raises(UserInputError, match="non-empty --persona"):  # a user error: one line from the CLI
        fit_tokens(torch.zeros(0, 2), 0)
