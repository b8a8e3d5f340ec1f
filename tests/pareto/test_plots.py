"""Hypervolume after each trial and the per-community chart: the numbers first, then a PNG of them."""

import math

import numpy as np
import pytest

from raysearch.pareto import (
    CommunityChart,
    hypervolume_2d,
    hypervolume_curve,
    hypervolume_history,
    plot_communities,
    plot_hypervolume,
)

PNG = b"\x89PNG\r\n\x1a\n"
REF = (0.5, 0.3)


def test_history_is_the_hypervolume_of_each_prefix_by_hand():
    values = [(0.6, 0.4), (0.55, 0.35), (math.nan, math.nan), (0.7, 0.5), (0.45, 0.9)]
    hv = hypervolume_history(values, reference_point=REF, modes=("max", "max"))
    # (0.6,0.4): 0.1*0.1; (0.55,0.35) dominated; NaN adds nothing; (0.7,0.5) dominates all: 0.2*0.2;
    # (0.45, 0.9) is worse than the reference in the first objective: adds nothing
    assert hv == pytest.approx([0.01, 0.01, 0.01, 0.04, 0.04])


def test_history_is_non_decreasing_and_ends_at_the_whole_hypervolume():
    rng = np.random.default_rng(0)
    values = rng.uniform([0.4, 0.2], [0.8, 0.7], size=(40, 2))
    values[rng.choice(40, 5, replace=False)] = np.nan
    for modes, ref in ((("max", "max"), REF), (("max", "min"), (0.5, 0.65))):
        hv = hypervolume_history(values, reference_point=ref, modes=modes)
        assert np.all(np.diff(hv) >= 0)
        assert hv[-1] == pytest.approx(hypervolume_2d(values, reference_point=ref, modes=modes))


def test_curve_counts_only_complete_trials_and_sums_every_trials_steps():
    curve = hypervolume_curve(
        ["a", "b", "c", "d"], [(0.6, 0.4), (0.9, 0.9), (math.nan, math.nan), (0.7, 0.5)],
        objectives=("val/mean_acc", "val/worst3_acc"), modes=("max", "max"), reference_point=REF,
        states=["complete", "pruned", "failed", "complete"], steps=[10, 3, None, 12])
    # the pruned trial's values (0.9, 0.9) were at a lower fidelity: they never count
    assert curve.hypervolume == pytest.approx([0.01, 0.01, 0.01, 0.04])
    assert curve.steps is not None and curve.steps.tolist() == [10, 13, 13, 25]
    assert curve.final == pytest.approx(0.04)
    assert hypervolume_curve(["a"], [(0.6, 0.4)], objectives=("x", "y"), modes=("max", "max"),
                             reference_point=REF).steps is None
    with pytest.raises(ValueError, match="2 trial ids but 1 rows"):
        hypervolume_curve(["a", "b"], [(0.6, 0.4)], objectives=("x", "y"), modes=("max", "max"), reference_point=REF)


@pytest.mark.parametrize("steps", [None, [5, 6, 3, 7]])
def test_plot_hypervolume_writes_a_png(tmp_path, steps):
    curve = hypervolume_curve(["a", "b", "c", "d"], [(0.6, 0.4), (0.55, 0.35), (math.nan, math.nan), (0.7, 0.5)],
                              objectives=("val/mean_acc", "val/worst3_acc"), modes=("max", "max"),
                              reference_point=REF, states=["complete", "complete", "pruned", "complete"], steps=steps)
    data = plot_hypervolume(curve, tmp_path / "hypervolume.png", title="run").read_bytes()
    assert data[:8] == PNG and len(data) > 5_000
    empty = hypervolume_curve([], [], objectives=("x", "y"), modes=("max", "max"), reference_point=REF)
    assert plot_hypervolume(empty, tmp_path / "empty.png").read_bytes()[:8] == PNG


def test_plot_communities_writes_a_png(tmp_path):
    value = np.array([[0.7, 0.6, 0.65], [0.72, 0.58, 0.65]])
    chart = CommunityChart(columns=["Chile", "Israel", "mean of communities"], n_communities=2,
                           models=["t0", "global model G"], kinds=["pareto", "baseline"], value=value,
                           low=value - 0.05, high=value + 0.05,
                           seeds=[value[:1] + np.array([[0.01], [-0.01]]), value[1:]],
                           interval="95% bootstrap interval over test questions", n_pairs=[40, 30, 70])
    data = plot_communities(chart, tmp_path / "communities.png", title="run").read_bytes()
    assert data[:8] == PNG and len(data) > 5_000
