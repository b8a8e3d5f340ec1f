import numpy as np
import pytest

from raysearch.metrics.accuracy import (
    CommunityMetrics,
    bootstrap_accuracy,
    community_metrics,
    pairwise_correct,
)


def test_ties_count_wrong():
    assert pairwise_correct(np.array([1.0, 0.5, 0.2]), np.array([0.0, 0.5, 0.3])).tolist() == [True, False, False]


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    c = np.array([1] * 70 + [0] * 30, dtype=bool)
    a = bootstrap_accuracy(c, n_boot=500, seed=3)
    assert a.value == pytest.approx(0.7)
    assert a.low < 0.7 < a.high and a.n == 100
    assert bootstrap_accuracy(c, n_boot=500, seed=3) == a


def test_group_bootstrap_is_wider_for_clustered_pairs():
    # 10 questions, all pairs of a question right or all wrong: pairs are not independent
    c = np.repeat(np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool), 10)
    groups = np.repeat(np.arange(10), 10).astype(str)
    plain = bootstrap_accuracy(c, n_boot=2000, seed=0)
    grouped = bootstrap_accuracy(c, groups=groups.tolist(), n_boot=2000, seed=0)
    assert grouped.high - grouped.low > 1.5 * (plain.high - plain.low)


def test_community_summary():
    correct = np.array([1, 1, 0, 0, 1, 1, 1, 0], dtype=bool)
    comms = ["United States"] * 2 + ["Chile"] * 2 + ["Israel"] * 4
    m = community_metrics(correct, comms, n_boot=50)
    assert m.per_community["United States"].value == 1.0
    assert m.per_community["Chile"].value == 0.0
    assert m.per_community["Israel"].value == 0.75
    assert m.mean == pytest.approx((1 + 0 + 0.75) / 3)
    assert m.worst == 0.0 and m.worst_community == "Chile"
    assert m.disparity == 1.0
    assert m.majority_mean == 1.0 and m.minority_mean == pytest.approx(0.375)
    assert CommunityMetrics.from_dict(m.to_dict()) == m
    flat = m.flat("test/")
    assert flat["test/acc/Israel"] == 0.75 and flat["test/worst_acc"] == 0.0
    assert flat["test/worst2_acc"] == pytest.approx(0.375)  # Chile 0 and Israel 0.75
    assert flat["test/worst3_acc"] == pytest.approx(m.mean)  # three communities: all of them


def test_no_pairs_is_an_error():
    with pytest.raises(ValueError, match="no evaluation pairs"):
        community_metrics(np.array([], dtype=bool), [])


def test_summary_resample_sd_is_zero_for_a_constant_model_and_larger_for_the_worst_community():
    from raysearch.metrics.accuracy import summary_resample_sd

    rng = np.random.default_rng(0)
    comm = rng.choice(["A", "B", "C", "D"], 400)
    groups = [f"q{i}" for i in rng.integers(0, 40, 400)]
    flat = summary_resample_sd(np.ones(400, dtype=bool), comm, groups, prefix="val/")
    assert flat["val/mean_acc"] == 0.0 and flat["val/worst3_acc"] == 0.0
    assert not any(k.startswith("val/acc/") for k in flat)
    sd = summary_resample_sd(rng.random(400) < 0.6, comm, groups, prefix="val/", seed=1)
    assert 0 < sd["val/mean_acc"] < sd["val/worst_acc"]  # the minimum of four noisy accuracies is noisier
