"""Evaluation metrics: pairwise accuracy per community, intervals, fairness summary, distribution distances."""

from raysearch.metrics.accuracy import (
    CommunityMetrics,
    Interval,
    bootstrap_accuracy,
    community_metrics,
    pairwise_correct,
)
from raysearch.metrics.distribution import DistributionMetrics, distribution_metrics, js_distance, wasserstein1
from raysearch.metrics.paired import PairedSummary, paired_difference, paired_summary, paired_table

__all__ = [
    "CommunityMetrics",
    "DistributionMetrics",
    "Interval",
    "bootstrap_accuracy",
    "community_metrics",
    "distribution_metrics",
    "js_distance",
    "PairedSummary",
    "paired_difference",
    "paired_summary",
    "paired_table",
    "pairwise_correct",
    "wasserstein1",
]
