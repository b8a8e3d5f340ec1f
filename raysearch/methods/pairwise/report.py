"""Render an experiment's per-community comparison (global model vs trained model) as a table."""

from __future__ import annotations

from raysearch.methods.pairwise.experiment import ExperimentResult
from raysearch.metrics.accuracy import MAJORITY, CommunityMetrics


def comparison_rows(res: ExperimentResult) -> list[list[str]]:
    """Rows: community, n, G accuracy [95% CI], trained accuracy [95% CI], difference (points)."""
    rows = []
    for c, iv in res.trained.per_community.items():
        g = res.reference.per_community[c]
        tag = " (majority)" if c in MAJORITY else ""
        rows.append([c + tag, str(iv.n), g.fmt(), iv.fmt(), f"{(iv.value - g.value) * 100:+.1f}"])
    for label, a, b in _summary(res.reference, res.trained):
        rows.append([label, "", f"{a * 100:.1f}", f"{b * 100:.1f}", f"{(b - a) * 100:+.1f}"])
    return rows


def _summary(g: CommunityMetrics, m: CommunityMetrics) -> list[tuple[str, float, float]]:
    out = [("mean", g.mean, m.mean), ("worst community", g.worst, m.worst), ("disparity (max-min)", g.disparity, m.disparity)]
    if g.majority_mean is not None and m.majority_mean is not None and g.minority_mean is not None and m.minority_mean is not None:
        out += [("majority mean", g.majority_mean, m.majority_mean), ("minority mean", g.minority_mean, m.minority_mean)]
    return out


HEADER = ["community", "test pairs", "global model G", None, "difference"]


def markdown_table(res: ExperimentResult) -> str:
    head = [h or f"{res.objective.upper()} model" for h in HEADER]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in comparison_rows(res)]
    return "\n".join(lines) + "\n\nAccuracy in %, pairwise, ties wrong; [95% bootstrap interval over questions/users].\n"


def print_table(res: ExperimentResult) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Test-split pairwise accuracy (%) per community: G vs {res.objective.upper()}",
              caption="[95% bootstrap interval, resampling questions/users]; ties count wrong")
    for h in HEADER:
        t.add_column(h or f"{res.objective.upper()} model", justify="left" if h == "community" else "right")
    rows = comparison_rows(res)
    n_comm = len(res.trained.per_community)
    for i, r in enumerate(rows):
        t.add_row(*r, end_section=i == n_comm - 1)
    Console(width=max(Console().width, 110)).print(t)
