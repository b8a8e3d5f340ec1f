"""Draw a ParetoFront as a PNG: staircase front, dominated trials greyed, baselines, reference."""

from __future__ import annotations

import io
import os
from itertools import cycle
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raysearch.io import atomic_write_bytes
from raysearch.pareto.front import ParetoFront

_BASELINE_STYLES = (
    ("*", "tab:red"),
    ("D", "tab:green"),
    ("P", "tab:purple"),
    ("X", "tab:brown"),
    ("^", "tab:orange"),
    ("v", "tab:pink"),
)
_FRONT_COLOR = "tab:blue"


def plot_front(
    front: ParetoFront,
    path: str | os.PathLike[str],
    *,
    baselines: dict[str, tuple[float, float]] | None = None,
    title: str = "",
    seed_sd: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Write ``front`` to ``path`` as a PNG (atomically) and return the path.

    The front points are joined as a staircase and labelled by trial id; the region the
    hypervolume measures is shaded; dominated trials are grey; each baseline (e.g.
    ``{"fine-tuning from G": (0.61, 0.42)}``) gets its own marker; the reference point is an ``x``.
    ``seed_sd`` (trial id or baseline name -> the seed SD of both objectives) draws ±1 SD error
    bars, so a reader sees which differences between points are seed noise.
    Uses the Agg canvas directly, so it neither needs nor changes a pyplot backend.
    """
    fig = Figure(figsize=(7.5, 5.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    signs = np.array([1.0 if m == "min" else -1.0 for m in front.modes])
    ref = np.asarray(front.reference_point, dtype=float)

    pts = np.array([p.values for p in front.points], dtype=float).reshape(-1, 2)
    if len(pts):
        # staircase in minimization space, sorted by the first objective, mapped back
        mins = pts * signs
        mins = mins[np.argsort(mins[:, 0], kind="stable")]
        stairs = _staircase(mins) * signs
        ax.plot(stairs[:, 0], stairs[:, 1], color=_FRONT_COLOR, lw=1.5, zorder=2)
        counted = mins[np.all(mins < ref * signs, axis=1)]
        if len(counted):
            region = _hv_region(counted, ref * signs) * signs
            ax.fill(
                region[:, 0],
                region[:, 1],
                color=_FRONT_COLOR,
                alpha=0.12,
                lw=0,
                zorder=1,
                label=f"hypervolume {front.hypervolume:.4g}",
            )
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=46,
            color=_FRONT_COLOR,
            edgecolor="black",
            lw=0.6,
            zorder=4,
            label=f"Pareto front ({len(pts)})",
        )
        for p in front.points:
            ax.annotate(
                p.trial_id,
                p.values,
                xytext=(5, 5),
                textcoords="offset points",
                fontsize=8,
                color="#1a3a5c",
                zorder=5,
            )

    dom = np.array([p.values for p in front.dominated], dtype=float).reshape(-1, 2)
    if len(dom):
        ax.scatter(
            dom[:, 0],
            dom[:, 1],
            s=30,
            color="0.72",
            edgecolor="0.55",
            lw=0.5,
            zorder=3,
            label=f"dominated ({len(dom)})",
        )

    for (name, (x, y)), (marker, color) in zip((baselines or {}).items(), cycle(_BASELINE_STYLES)):
        ax.scatter(
            [x],
            [y],
            s=150 if marker == "*" else 70,
            marker=marker,
            color=color,
            edgecolor="black",
            lw=0.6,
            zorder=6,
            label=name,
        )

    where = {p.trial_id: p.values for p in front.points} | dict(baselines or {})
    for k, (name, (sx, sy)) in enumerate((seed_sd or {}).items()):
        if name in where:
            ax.errorbar([where[name][0]], [where[name][1]], xerr=[sx], yerr=[sy], fmt="none", ecolor="0.25",
                        elinewidth=0.9, capsize=3, zorder=3.5, label="±1 seed SD" if k == 0 else None)

    ax.scatter(
        [ref[0]],
        [ref[1]],
        marker="x",
        s=60,
        color="black",
        zorder=6,
        label=f"reference point ({ref[0]:.3g}, {ref[1]:.3g})",
    )

    arrow = {"max": "higher is better", "min": "lower is better"}
    ax.set_xlabel(f"{front.objectives[0]} ({arrow[front.modes[0]]})")
    ax.set_ylabel(f"{front.objectives[1]} ({arrow[front.modes[1]]})")
    sub = f"{front.n_trials} trials, {len(front.points)} on the front, {len(front.failed)} failed"
    ax.set_title(f"{title}\n{sub}" if title else sub, fontsize=11)
    ax.grid(True, color="0.92", zorder=0)
    ax.margins(0.08)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    fig.tight_layout()

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def _staircase(sorted_min: np.ndarray) -> np.ndarray:
    """Corner points joining minimization-space points sorted by x: (x1,y1) (x2,y1) (x2,y2) ..."""
    out = [sorted_min[0]]
    for prev, cur in zip(sorted_min[:-1], sorted_min[1:], strict=True):
        out += [np.array([cur[0], prev[1]]), cur]
    return np.array(out)


def _hv_region(sorted_min: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Polygon of the area dominated by the points and bounded by ``ref`` (minimization space)."""
    stairs = _staircase(sorted_min)
    return np.vstack([[sorted_min[0][0], ref[1]], stairs, [ref[0], sorted_min[-1][1]], ref])
