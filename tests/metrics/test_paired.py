"""Paired bootstrap comparisons: exact zeros for a model against itself, closed forms, shared resamples."""

import numpy as np
import pytest

from raysearch.metrics.paired import SUMMARIES, paired_difference, paired_summary, paired_table


def _data(n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    comm = rng.choice(["Chile", "Israel", "United States", "Britain"], n)
    groups = [f"q{i}" for i in rng.integers(0, 50, n)]
    return rng.random(n) < 0.6, rng.random(n) < 0.7, comm, groups


def test_a_model_against_itself_has_an_interval_of_exactly_zero():
    a, _, comm, groups = _data()
    iv = paired_difference(a, a.copy(), groups=groups)
    assert (iv.value, iv.low, iv.high) == (0.0, 0.0, 0.0)
    s = paired_summary({"G": a, "same": a.copy()}, comm, groups, reference="G")
    for stat in s.stats:
        d = s.difference["same"][stat]
        assert (d.value, d.low, d.high) == (0.0, 0.0, 0.0), stat


def test_point_values_are_the_plain_accuracies_and_their_difference():
    a, b, comm, groups = _data()
    s = paired_summary({"A": a, "B": b}, comm, groups, reference="A")
    per = {c: (a[comm == c].mean(), b[comm == c].mean()) for c in sorted(set(comm))}
    for c, (pa, pb) in per.items():
        assert s.accuracy["A"][c].value == pytest.approx(pa)
        assert s.difference["B"][c].value == pytest.approx(pb - pa)
    assert s.accuracy["B"]["mean"].value == pytest.approx(np.mean([pb for _, pb in per.values()]))
    assert s.accuracy["B"]["worst"].value == pytest.approx(min(pb for _, pb in per.values()))
    maj = [per[c][1] for c in ("Britain", "United States")]
    assert s.accuracy["B"]["majority"].value == pytest.approx(np.mean(maj))
    assert set(SUMMARIES) <= set(s.stats)


def test_a_constant_shift_is_detected_and_the_paired_interval_is_tighter_than_unpaired():
    rng = np.random.default_rng(1)
    n = 400
    groups = [f"q{i // 4}" for i in range(n)]
    base = rng.random(n) < 0.5
    better = base | (rng.random(n) < 0.2)  # right wherever base is, and more
    iv = paired_difference(better, base, groups=groups)
    assert iv.low > 0
    s = paired_summary({"base": base, "better": better}, ["c"] * n, groups, reference="base")
    d, acc = s.difference["better"]["c"], s.accuracy["better"]["c"]
    assert d.high - d.low < acc.high - acc.low


def test_mismatched_lengths_and_unknown_reference_are_errors():
    a, b, comm, groups = _data()
    with pytest.raises(ValueError, match="same items"):
        paired_difference(a, b[:-1])
    with pytest.raises(ValueError, match="reference"):
        paired_summary({"A": a}, comm, groups, reference="G")
    with pytest.raises(ValueError, match="results for"):
        paired_summary({"A": a, "B": b[:-1]}, comm, groups, reference="A")


def test_table_lists_every_statistic_and_the_signed_differences():
    a, b, comm, groups = _data()
    text = paired_table(paired_summary({"G": a, "FT": b}, comm, groups, reference="G", n_boot=200))
    assert "FT − G" in text and "**worst community**" in text and "Israel" in text
    assert text.count("\n") == 1 + len(set(comm)) + len(SUMMARIES)
