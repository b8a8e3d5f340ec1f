import math

import pytest
import torch

from raysearch.errors import UserInputError
from raysearch.methods.pairwise.losses import bt_loss, scpo_loss, scpo_select, scpo_weights


def test_bt_loss_two_items_closed_form():
    # -log σ(1) and -log σ(-2), averaged
    rc, rr = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 2.0])
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(2))) / 2
    assert bt_loss(rc, rr).item() == pytest.approx(expected, rel=1e-6)


def test_bt_loss_equal_rewards_is_log2():
    assert bt_loss(torch.zeros(5), torch.zeros(5)).item() == pytest.approx(math.log(2))


def test_weighted_normalizations():
    rc, rr, w = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([0.5, 1.0])
    nll = torch.tensor([math.log(1 + math.exp(-1)), math.log(2)])
    assert bt_loss(rc, rr, w, normalize="batch").item() == pytest.approx(float((w * nll).sum() / 2))
    assert bt_loss(rc, rr, w, normalize="weights").item() == pytest.approx(float((w * nll).sum() / 1.5))
    assert scpo_loss(rc, rr, w).item() == pytest.approx(float((w * nll).sum() / 2))


def test_bt_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        bt_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="normalize"):
        bt_loss(torch.zeros(2), torch.zeros(2), torch.ones(2), normalize="sum")  # type: ignore[arg-type]


def test_scpo_filter_and_weights_hand_computed():
    # Δ = r_G(chosen) - r_G(rejected); τ = 0.7 keeps σ(Δ) < 0.7  <=>  Δ < log(0.7/0.3) = 0.8473
    delta = torch.tensor([-2.0, -0.5, 0.0, 0.8, 0.9, 3.0])
    sel = scpo_select(delta, tau=0.7, beta=1.1)
    assert sel.keep.tolist() == [True, True, True, True, False, False]
    expected_w = [math.exp(-2 / 1.1), math.exp(-0.5 / 1.1), 1.0, 1.0, 1.0, 1.0]
    assert sel.weights.tolist() == pytest.approx(expected_w, rel=1e-6)
    assert sel.n_kept == 4


def test_scpo_weight_is_capped_at_one():
    assert scpo_weights(torch.tensor([5.0, -1.1]), beta=1.1).tolist() == pytest.approx([1.0, math.exp(-1)])


def test_scpo_tau_one_keeps_everything():
    assert scpo_select(torch.tensor([50.0, -50.0]), tau=1.0, beta=1.0).keep.all()


@pytest.mark.parametrize("tau,beta", [(0.0, 1.0), (1.2, 1.0), (-0.1, 1.0), (0.7, 0.0), (0.7, -1.0), (float("nan"), 1.0)])
def test_scpo_bad_params(tau, beta):
    with pytest.raises(UserInputError, match="tau|beta"):
        scpo_select(torch.zeros(1), tau=tau, beta=beta)


def test_losses_have_gradients():
    rc = torch.tensor([0.3, -0.2], requires_grad=True)
    rr = torch.tensor([0.1, 0.4], requires_grad=True)
    bt_loss(rc, rr).backward()
    assert (rc.grad < 0).all() and (rr.grad > 0).all()
