import math

import pytest

from raysearch.errors import UserInputError
from raysearch.methods.pairwise.losses import community_weights, gamma_at


def test_gamma_shapes():
    assert gamma_at(0.7, start=0.2, end=1.0, shape="constant") == 0.2
    assert gamma_at(0.25, start=0.0, end=1.0, shape="linear") == pytest.approx(0.25)
    assert gamma_at(0.0, start=0.0, end=1.0, shape="cosine") == pytest.approx(0.0)
    assert gamma_at(0.5, start=0.0, end=1.0, shape="cosine") == pytest.approx(0.5)
    assert gamma_at(1.0, start=0.0, end=1.0, shape="cosine") == pytest.approx(1.0)
    assert gamma_at(0.49, start=0.0, end=1.0, shape="step") == 0.0
    assert gamma_at(0.5, start=0.0, end=1.0, shape="step") == 1.0
    with pytest.raises(UserInputError, match="valid: constant"):
        gamma_at(0.1, start=0, end=1, shape="exp")  # type: ignore[arg-type]


def test_weights_hand_computed():
    counts = {"US": 400, "NZ": 100}
    # γ = 0: all pairs weigh 1
    assert community_weights(counts, 0.0) == pytest.approx({"US": 1.0, "NZ": 1.0})
    # γ = 1: equal total weight per community, pair-mean 1 -> 400a = 100b, 400a + 100b = 500
    w = community_weights(counts, 1.0)
    assert w["US"] * 400 == pytest.approx(w["NZ"] * 100)
    assert (400 * w["US"] + 100 * w["NZ"]) / 500 == pytest.approx(1.0)
    assert w == pytest.approx({"US": 0.625, "NZ": 2.5})
    # γ = 0.5: α ∝ 1/sqrt(n)
    w = community_weights(counts, 0.5)
    assert w["NZ"] / w["US"] == pytest.approx(math.sqrt(4))


def test_weights_need_pairs():
    with pytest.raises(ValueError, match="at least one pair"):
        community_weights({"A": 0}, 1.0)
