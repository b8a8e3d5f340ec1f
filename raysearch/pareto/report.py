"""Render a ParetoFront as Markdown: command, objectives, hypervolume, tables, plot link."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysearch.pareto.front import ParetoFront, ParetoPoint


@dataclass(frozen=True)
class RungCount:
    """One row of the early-stopping table: a rung (``fidelity`` in training steps; None: full fidelity),
    how many trials reached it and how many were stopped there."""

    label: str
    fidelity: float | None
    reached: int
    stopped: int


def _natural(key: str) -> tuple:
    """Sort key that orders embedded numbers by value: acc_ctx3 before acc_ctx10."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key))


def markdown_report(
    front: ParetoFront,
    *,
    title: str,
    command: str,
    baselines: dict[str, tuple[float, float]] | None,
    per_community: dict[str, dict[str, float]] | None = None,
    test_scores: dict[str, dict[str, float]] | None = None,
    notes: Sequence[str] = (),
    sections: Sequence[str] = (),
    rungs: Sequence[RungCount] = (),
) -> str:
    """The report as Markdown text (the caller writes it, next to ``pareto.png``).

    ``per_community`` and ``test_scores`` are keyed by trial id, then by community or metric
    name; trials missing from them get empty cells. ``rungs`` (an early-stopping search) adds how
    many trials reached each rung; the front holds only trials that reached full fidelity.
    """
    o1, o2 = front.objectives
    lines = [f"# {title}", "", "Command:", "", "```bash", command, "```", ""]
    lines += [
        "## Objectives",
        "",
        f"- `{o1}`: {front.modes[0]}imize",
        f"- `{o2}`: {front.modes[1]}imize",
        "",
    ]
    lines += [
        f"**Hypervolume: {front.hypervolume:.6g}** against the reference point "
        f"({_num(front.reference_point[0])}, {_num(front.reference_point[1])}) — the area of "
        "objective space the front dominates, bounded by that point; points not better than it "
        "in both objectives add nothing.",
        "",
        f"Trials: {front.n_trials} in all — {len(front.points)} on the Pareto front, "
        f"{len(front.dominated)} dominated, {len(front.failed)} failed"
        + (f" ({', '.join(f'`{t}`' for t in front.failed)})" if front.failed else "")
        + ".",
        "",
    ]

    if rungs:
        stopped = sum(r.stopped for r in rungs)
        lines += ["## Early stopping", "",
                  f"{stopped} trial(s) stopped at a rung (Optuna: PRUNED) are not among the trials above: the "
                  "front holds only trials trained to full fidelity. A trial reached a rung when it reported at "
                  "that many training steps or more; one whose whole run is shorter completes below it.", ""]
        lines += table_lines(["rung", "fidelity (training steps)", "trials reached", "stopped there"],
                             [[r.label, "full" if r.fidelity is None else _num(r.fidelity), str(r.reached),
                               str(r.stopped)] for r in rungs])
        lines.append("")
    lines += ["## Pareto front", "", f"Sorted by `{o1}`.", ""]
    param_keys = sorted({k for p in front.points for k in p.params})
    test_keys = sorted({k for p in front.points for k in (test_scores or {}).get(p.trial_id, {})}, key=_natural)
    header = ["trial", o1, o2, *[k if k.startswith("test/") else f"test {k}" for k in test_keys], *param_keys]
    rows = [
        [
            p.trial_id,
            _num(p.values[0]),
            _num(p.values[1]),
            *[_num((test_scores or {}).get(p.trial_id, {}).get(k)) for k in test_keys],
            *[_num(p.params.get(k)) for k in param_keys],
        ]
        for p in front.points
    ]
    lines += table_lines(header, rows) if rows else ["No finished trial: the front is empty."]
    lines.append("")

    if per_community:
        on_front = [p.trial_id for p in front.points if p.trial_id in per_community]
        comms = sorted({c for t in on_front for c in per_community[t]})
        if on_front and comms:
            lines += ["## Per-community accuracy of the Pareto points", ""]
            rows = [[c, *[_num(per_community[t].get(c)) for t in on_front]] for c in comms]
            lines += table_lines(["community", *on_front], rows)
            lines.append("")

    if baselines:
        lines += ["## Baselines", ""]
        rows = [
            [name, _num(x), _num(y), _dominated_by(front.points, (x, y), front.modes)]
            for name, (x, y) in baselines.items()
        ]
        lines += table_lines(["baseline", o1, o2, "dominated by the front"], rows)
        lines.append("")

    lines += [*sections, "## Plot", "", "![Pareto front](pareto.png)", ""]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def _dominated_by(
    points: list[ParetoPoint], value: tuple[float, float], modes: tuple[str, str]
) -> str:
    """Ids of the front points that dominate ``value``, or ``no``."""
    signs = np.array([1.0 if m == "min" else -1.0 for m in modes])
    b = np.asarray(value, dtype=float) * signs
    ids = [
        p.trial_id
        for p in points
        if np.all((v := np.asarray(p.values) * signs) <= b) and np.any(v < b)
    ]
    return ", ".join(f"`{t}`" for t in ids) if ids else "no"


def table_lines(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table as lines (cells escaped)."""
    out = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _cell(x: str) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _num(x: Any) -> str:
    """Floats to 4 significant digits; None to an empty cell; anything else as text."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float | np.floating):
        return f"{float(x):.4g}"
    return str(x)
