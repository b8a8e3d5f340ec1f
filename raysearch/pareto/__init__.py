"""Pareto fronts of two-objective searches: compute (front, hypervolume), then render."""

from raysearch.pareto._modes import MODES
from raysearch.pareto.front import ParetoFront, ParetoPoint, build_front, non_dominated
from raysearch.pareto.hypervolume import hypervolume_2d, hypervolume_history
from raysearch.pareto.plot import (
    CommunityChart,
    HypervolumeCurve,
    hypervolume_curve,
    plot_communities,
    plot_front,
    plot_hypervolume,
)
from raysearch.pareto.report import markdown_report

__all__ = [
    "MODES",
    "CommunityChart",
    "HypervolumeCurve",
    "ParetoFront",
    "ParetoPoint",
    "build_front",
    "hypervolume_2d",
    "hypervolume_curve",
    "hypervolume_history",
    "markdown_report",
    "non_dominated",
    "plot_communities",
    "plot_front",
    "plot_hypervolume",
]
