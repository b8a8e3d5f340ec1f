import math

import numpy as np
import ot
import pytest
import torch

from raysearch.errors import UserInputError
from raysearch.methods.dprm.losses import (
    beta_dirichlet_smooth,
    check_distribution,
    cross_entropy_loss,
    dprm_loss,
    expected_reward,
    option_reward,
    ordinal_cost,
    ot_loss,
    pad_distributions,
    predicted_distribution,
    wasserstein_1d_loss,
)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


# ----------------------------------------------------------------------------- W1 closed form
def test_w1_hand_computed():
    # F_p̂ = (0.2, 0.7, 1), F_p = (0.6, 0.7, 1): |−0.4| + 0 + 0 = 0.4
    assert wasserstein_1d_loss(t([0.2, 0.5, 0.3]), t([0.6, 0.1, 0.3])).item() == pytest.approx(0.4)
    # all mass moved from the first to the last of 4 options: distance 3
    assert wasserstein_1d_loss(t([1, 0, 0, 0]), t([0, 0, 0, 1])).item() == pytest.approx(3.0)
    # identical distributions: 0
    assert wasserstein_1d_loss(t([0.25, 0.25, 0.5]), t([0.25, 0.25, 0.5])).item() == 0.0
    # batch mean: (0.4 + 1.0) / 2; second row moves 0.5 two steps
    assert wasserstein_1d_loss(t([0.2, 0.5, 0.3], [0.5, 0, 0.5]), t([0.6, 0.1, 0.3], [0, 0, 1])).item() == pytest.approx(0.7)


def test_w1_is_geometry_aware_where_ce_is_not():
    target = t([1, 0, 0])
    near, far = t([0.5, 0.4, 0.1]), t([0.5, 0.1, 0.4])  # W1: 0.5 + 0.1 vs 0.5 + 0.4
    assert wasserstein_1d_loss(near, target).item() == pytest.approx(0.6)
    assert wasserstein_1d_loss(far, target).item() == pytest.approx(0.9)
    # cross-entropy sees only p̂ at the true answer: equal for both
    ce = [cross_entropy_loss(p.log(), target).item() for p in (near, far)]
    assert ce[0] == pytest.approx(ce[1])


@pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")  # inside POT's torch backend
@pytest.mark.parametrize("seed", range(5))
def test_w1_matches_pot(seed):
    g = torch.Generator().manual_seed(seed)
    k = 2 + seed
    a = torch.softmax(torch.randn(1, k, generator=g, dtype=torch.float64), -1)
    b = torch.softmax(torch.randn(1, k, generator=g, dtype=torch.float64), -1)
    pos = torch.arange(k, dtype=torch.float64)
    ours = wasserstein_1d_loss(a, b).item()
    assert ours == pytest.approx(float(ot.wasserstein_1d(pos, pos, a[0], b[0], p=1)), abs=1e-9)
    assert ours == pytest.approx(float(ot.emd2(a[0].numpy(), b[0].numpy(), ordinal_cost(k).numpy())), abs=1e-9)
    # and our POT-backed general OT with the |i − j| cost reproduces it
    assert ot_loss(a, b, ordinal_cost(k)).item() == pytest.approx(ours, abs=1e-9)


def test_ragged_mask_pads_do_not_count():
    target, mask = pad_distributions([[0.2, 0.8], [0.1, 0.3, 0.6]])
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    scores = torch.tensor([[0.0, 1.0, 5.0], [0.5, 0.0, -1.0]])
    p_hat = predicted_distribution(scores, mask)
    assert p_hat[0, 2].item() == 0.0
    assert p_hat.sum(1).tolist() == pytest.approx([1.0, 1.0])
    rows = [wasserstein_1d_loss(p_hat[i : i + 1, : int(mask[i].sum())], target[i : i + 1, : int(mask[i].sum())])
            for i in range(2)]
    assert wasserstein_1d_loss(p_hat, target, mask).item() == pytest.approx(float(sum(rows) / 2), rel=1e-6)
    assert ot_loss(p_hat, target, ordinal_cost(3), mask).item() == pytest.approx(float(sum(rows) / 2), rel=1e-5)
    # per-row cost list over real options only
    costs = [ordinal_cost(2), ordinal_cost(3)]
    assert ot_loss(p_hat, target, costs, mask).item() == pytest.approx(float(sum(rows) / 2), rel=1e-5)


def test_general_ot_with_unordered_cost_hand_computed():
    # three unordered options, moving mass 0→1 costs 1, 0→2 costs 5: optimal plan moves 0.5 from 0 to 1
    cost = torch.tensor([[0.0, 1.0, 5.0], [1.0, 0.0, 5.0], [5.0, 5.0, 0.0]])
    assert ot_loss(t([1.0, 0, 0]), t([0.5, 0.5, 0]), cost).item() == pytest.approx(0.5)
    assert ot_loss(t([1.0, 0, 0]), t([0.5, 0, 0.5]), cost).item() == pytest.approx(2.5)


@pytest.mark.parametrize("kind", ["w1", "ot", "ce"])
def test_gradients_flow_and_training_fits_target(kind):
    target = torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    scores = torch.zeros(2, 3, requires_grad=True)
    loss = dprm_loss(scores, target, kind=kind)
    loss.backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0
    opt = torch.optim.Adam([scores], lr=0.1)
    before = loss.item()
    for _ in range(200):
        opt.zero_grad()
        dprm_loss(scores, target, kind=kind).backward()
        opt.step()
    assert dprm_loss(scores, target, kind=kind).item() < before
    fitted = predicted_distribution(scores.detach())
    assert wasserstein_1d_loss(fitted, target).item() < 0.1


def test_cross_entropy_zero_target_share_with_zero_prediction_is_finite():
    scores = torch.tensor([[0.0, float("-inf")]])
    assert cross_entropy_loss(scores, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.0)


def test_cross_entropy_closed_form():
    scores = torch.tensor([[0.0, math.log(3.0)]])  # p̂ = (1/4, 3/4)
    target = torch.tensor([[0.5, 0.5]])
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert cross_entropy_loss(scores, target).item() == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- Beta / Dirichlet
def test_beta_update_closed_form():
    # K = 2, Beta(1, 1) prior, 3 of 4 chose option 0: posterior Beta(4, 2), mean (4/6, 2/6)
    assert beta_dirichlet_smooth(counts=[3, 1], alpha0=1.0).tolist() == pytest.approx([4 / 6, 2 / 6])
    # the same from shares and a sample size
    assert beta_dirichlet_smooth(shares=[0.75, 0.25], n=4, alpha0=1.0).tolist() == pytest.approx([4 / 6, 2 / 6])


def test_dirichlet_update_closed_form_and_limits():
    # K = 3, α0 = 0.5: (0.5 + c) / (1.5 + n)
    out = beta_dirichlet_smooth(counts=[2, 0, 8], alpha0=0.5)
    assert out.tolist() == pytest.approx([2.5 / 11.5, 0.5 / 11.5, 8.5 / 11.5])
    assert out.sum() == pytest.approx(1.0)
    assert beta_dirichlet_smooth(shares=[0.2, 0.3, 0.5], n=0).tolist() == pytest.approx([1 / 3] * 3)
    big = beta_dirichlet_smooth(shares=[0.2, 0.3, 0.5], n=1e9)
    assert big.tolist() == pytest.approx([0.2, 0.3, 0.5], abs=1e-6)


def test_smoothing_bad_inputs_one_line():
    for kw in ({"counts": [1, 2], "alpha0": 0.0}, {"counts": [1, 2], "shares": [0.5, 0.5], "n": 3},
               {"shares": [0.5, 0.5]}, {"counts": [3]}, {"counts": [1, -1]}, {"counts": [1, 2], "n": 5}):
        with pytest.raises(UserInputError) as e:
            beta_dirichlet_smooth(**kw)
        assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- rewards
def test_option_reward_is_predicted_share_and_expected_reward():
    scores = torch.tensor([[0.0, math.log(3.0)]])
    assert option_reward(scores).tolist()[0] == pytest.approx([0.25, 0.75])
    p_hat = torch.tensor([[0.2, 0.3, 0.5]])
    # default values: ordinal positions 0, 0.5, 1
    assert expected_reward(p_hat).item() == pytest.approx(0.3 * 0.5 + 0.5 * 1.0)
    assert expected_reward(p_hat, torch.tensor([-1.0, 0.0, 1.0])).item() == pytest.approx(0.3)
    # ragged: the second row has two real options at positions 0, 1
    p2, m2 = torch.tensor([[0.2, 0.3, 0.5], [0.4, 0.6, 0.0]]), torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    assert expected_reward(p2, mask=m2).tolist() == pytest.approx([0.65, 0.6])


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: check_distribution([0.5, 0.4]), "sums to 0.9000"),
        (lambda: check_distribution([0.5, 0.5], options=["a", "b", "c"]), "3 options but 2 shares"),
        (lambda: check_distribution([0.5, 0.6, -0.1]), "negative"),
        (lambda: pad_distributions([[0.5, 0.5], [0.2, 0.2]]), "sums to 0.4000.*row 1"),
        (lambda: pad_distributions([[0.5, 0.5]], options=[["a", "b"], ["c"]]), "one per prompt"),
        (lambda: wasserstein_1d_loss(t([0.5, 0.5]), t([0.7, 0.7])), "row 0 sums to 1.4000"),
        (lambda: wasserstein_1d_loss(t([0.5, 0.5]), t([0.2, 0.3, 0.5])), "differs from target shape"),
        (lambda: dprm_loss(torch.zeros(1, 2), t([0.5, 0.5]), kind="kl"), "unknown"),  # type: ignore[arg-type]
        (lambda: ot_loss(t([0.5, 0.5]), t([0.5, 0.5]), ordinal_cost(3)[:1]), "cost matrix"),
        (lambda: expected_reward(t([0.5, 0.5]), torch.ones(3)), "one value per option"),
    ],
)
def test_bad_inputs_raise_one_line(call, match):
    with pytest.raises(UserInputError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_bad_input_errors_are_value_errors():
    assert issubclass(UserInputError, ValueError)
    with pytest.raises(ValueError):
        check_distribution(np.array([0.3, 0.3]))
