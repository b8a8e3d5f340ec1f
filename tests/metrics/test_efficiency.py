"""Pairs ratio between two learning curves (``raysearch.metrics.efficiency``)."""

from __future__ import annotations

import numpy as np
import pytest

from raysearch.metrics.efficiency import AT_MOST, EXACT, MORE_THAN, pairs_ratio, ratio_interval, share_to_reach

SHARES = [0.1, 0.25, 0.5, 1.0]


def test_share_to_reach_interpolates_in_log_share():
    share, kind = share_to_reach([0.1, 1.0], [0.5, 0.7], 0.6)
    assert kind == EXACT and share == pytest.approx(np.sqrt(0.1))  # halfway in log share
    assert share_to_reach(SHARES, [0.5, 0.6, 0.7, 0.8], 0.7) == (pytest.approx(0.5), EXACT)


def test_share_to_reach_is_censored_outside_the_curve():
    assert share_to_reach(SHARES, [0.5, 0.6, 0.7, 0.8], 0.4) == (0.1, AT_MOST)
    assert share_to_reach(SHARES, [0.5, 0.6, 0.7, 0.8], 0.9) == (1.0, MORE_THAN)
    # a dip does not hide the first crossing
    assert share_to_reach(SHARES, [0.5, 0.7, 0.6, 0.8], 0.65)[0] < 0.25


def test_a_curve_shifted_by_one_doubling_needs_twice_the_pairs():
    shares = [0.125, 0.25, 0.5, 1.0]
    ref = np.array([0.50, 0.55, 0.60, 0.65])  # +5 points per doubling
    model = ref + 0.05  # the model at f equals the reference at 2f
    r = pairs_ratio(shares, ref, model)
    assert [x.kind for x in r] == [EXACT, EXACT, EXACT, MORE_THAN]
    assert [x.value for x in r[:3]] == pytest.approx([2.0, 2.0, 2.0])
    assert r[0].fmt() == "200%" and r[3].fmt() == "> 100%"
    assert pairs_ratio(shares, ref, ref - 0.1)[0].fmt() == "≤ 100%"


def test_ratio_interval_of_a_curve_against_itself_is_one():
    rng = np.random.default_rng(0)
    boot = np.sort(rng.uniform(0.5, 0.8, size=(50, 4)), axis=1)  # increasing per resample
    iv = ratio_interval(SHARES, boot, boot)
    assert iv == pytest.approx(np.ones((4, 2)))


def test_ratio_interval_reaches_infinity_when_the_reference_never_matches():
    ref = np.tile([0.5, 0.55, 0.6, 0.65], (20, 1))
    model = ref + 0.2
    iv = ratio_interval(SHARES, ref, model)
    assert np.isinf(iv[:, 1]).all()


@pytest.mark.parametrize("shares", [[0.5, 0.25], [0.0, 1.0], [0.1, 0.1]])
def test_bad_shares_raise(shares):
    with pytest.raises(ValueError, match="shares must be increasing"):
        share_to_reach(shares, [0.5] * len(shares), 0.5)
