"""PNG plots of a search: the Pareto front, its hypervolume against trials, per-community accuracy.

Compute first, then render: ``hypervolume_curve`` and ``CommunityChart`` are plain data that
the tests check; the ``plot_*`` functions only draw them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raysearch.io import atomic_write_bytes
from raysearch.pareto._modes import check_modes
from raysearch.pareto.front import ParetoFront
from raysearch.pareto.hypervolume import hypervolume_history

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


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


_ARROW = {"max": "higher is better", "min": "lower is better"}


@dataclass(frozen=True)
class HypervolumeCurve:
    """The hypervolume of the front of the first k finished trials, for k = 1..N (plain data).

    ``trial_ids`` and ``states`` (``complete``, ``pruned``, ``failed``) are in the order the trials
    finished; ``hypervolume[k - 1]`` counts the complete ones among the first k (a pruned or failed
    trial adds nothing); ``steps[k - 1]`` is the training steps spent by the first k trials (all
    states; a trial that reported none counts 0), or None when no trial reported any.
    """

    objectives: tuple[str, str]
    modes: tuple[str, str]
    reference_point: tuple[float, float]
    trial_ids: list[str]
    states: list[str]
    hypervolume: np.ndarray
    steps: np.ndarray | None

    @property
    def final(self) -> float:
        """The hypervolume after every trial (0 with none): that of the search's whole front."""
        return float(self.hypervolume[-1]) if len(self.hypervolume) else 0.0


def hypervolume_curve(
    trial_ids: Sequence[str],
    values: np.ndarray | Sequence[Sequence[float]],
    *,
    objectives: Sequence[str],
    modes: Sequence[str],
    reference_point: Sequence[float],
    states: Sequence[str] | None = None,
    steps: Sequence[float | None] | None = None,
) -> HypervolumeCurve:
    """Hypervolume after each trial, ``values`` [N, 2] in the order the trials finished.

    A trial whose state is not ``complete`` (``states``; all complete when None) or whose values are
    not finite counts in the trial axis but not in the front. ``steps``: the training steps of each
    trial (None or NaN where it reported none); summed into the cumulative steps axis.
    """
    modes = check_modes(modes)
    ids = [str(t) for t in trial_ids]
    v = np.array(values, dtype=float).reshape(-1, 2)
    if len(v) != len(ids):
        raise ValueError(f"{len(ids)} trial ids but {len(v)} rows of values")
    states = ["complete"] * len(ids) if states is None else [str(s) for s in states]
    if len(states) != len(ids):
        raise ValueError(f"{len(ids)} trial ids but {len(states)} states")
    counted = np.where(np.array([s == "complete" for s in states], dtype=bool)[:, None], v, np.nan)
    ref = (float(reference_point[0]), float(reference_point[1]))
    hv = hypervolume_history(counted, reference_point=ref, modes=modes)
    cum = None
    if steps is not None:
        if len(steps) != len(ids):
            raise ValueError(f"{len(ids)} trial ids but {len(steps)} step counts")
        s = np.array([np.nan if x is None else float(x) for x in steps], dtype=float)
        cum = np.cumsum(np.nan_to_num(s, nan=0.0)) if np.isfinite(s).any() else None
    return HypervolumeCurve(objectives=(str(objectives[0]), str(objectives[1])), modes=(modes[0], modes[1]),
                            reference_point=ref, trial_ids=ids, states=states, hypervolume=hv, steps=cum)


def plot_hypervolume(curve: HypervolumeCurve, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Write the hypervolume against finished trials (and, when known, cumulative training steps) as a PNG.

    A step line; a filled dot where a trial raised the hypervolume, a small one where a complete
    trial did not, a grey triangle for a trial stopped early, a red cross for a failed one.
    """
    panels = [("finished trials", np.arange(1, len(curve.hypervolume) + 1, dtype=float))]
    if curve.steps is not None:
        panels.append(("training steps, all trials so far", curve.steps))
    fig = Figure(figsize=(6.0 * len(panels), 4.2), dpi=110)
    FigureCanvasAgg(fig)
    hv = curve.hypervolume
    prev = np.concatenate([[0.0], hv[:-1]])
    states = np.array(curve.states)
    rose = (hv > prev + 1e-15) & (states == "complete")
    flat = (states == "complete") & ~rose
    for i, (xlabel, x) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if len(hv):
            ax.step(np.concatenate([[0.0], x]), np.concatenate([[0.0], hv]), where="post", color=_FRONT_COLOR,
                    lw=1.6, zorder=2)
            ax.scatter(x[rose], hv[rose], s=40, color=_FRONT_COLOR, edgecolor="black", lw=0.6, zorder=4,
                       label="raised the hypervolume")
            ax.scatter(x[flat], hv[flat], s=14, color="white", edgecolor=_FRONT_COLOR, lw=0.8, zorder=3,
                       label="complete, dominated")
            for state, marker, color, label in (("pruned", "v", "0.55", "stopped early (not counted)"),
                                                ("failed", "x", "tab:red", "failed")):
                m = states == state
                if m.any():
                    ax.scatter(x[m], hv[m], s=30, marker=marker, color=color, zorder=3, label=label)
            ax.axhline(curve.final, color="0.4", ls=":", lw=1, zorder=1,
                       label=f"final {curve.final:.4g} ({int(rose.sum())} raises)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("hypervolume of the validation front")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.grid(True, color="0.92", zorder=0)
        if i == 0 and len(hv):
            ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    o, m, r = curve.objectives, curve.modes, curve.reference_point
    sub = (f"{o[0]} ({_ARROW[m[0]]}) x {o[1]} ({_ARROW[m[1]]}), reference point ({r[0]:.3g}, {r[1]:.3g}); "
           f"{len(hv)} trials")
    fig.suptitle(f"{title}\n{sub}" if title else sub, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


@dataclass(frozen=True)
class CommunityChart:
    """Per-community accuracy of several models with an interval each (plain data; ``plot_communities`` draws it).

    ``value``, ``low`` and ``high`` are [M, C] (models x ``columns``: the communities, then any summary
    such as the mean over communities); ``seeds[m]`` is [S, C], each seed's own accuracy (drawn as dots
    when S > 1, NaN where a seed has no value); ``interval`` says what ``low``-``high`` is; ``n_pairs``
    the evaluation pairs behind each column, when known.
    """

    columns: list[str]
    n_communities: int
    models: list[str]
    kinds: list[str]
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: list[np.ndarray]
    interval: str
    split: str = "test"
    n_pairs: list[int] | None = None


_PARETO_COLORS = ("tab:blue", "tab:cyan", "navy", "tab:olive", "slateblue", "teal", "tab:gray", "deepskyblue")


def plot_communities(chart: CommunityChart, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Write ``chart`` as a PNG: columns on the x axis, each model a dot with its interval, side by side.

    Pareto models are circles in shades of blue; baselines take ``plot_front``'s baseline markers in
    their order (a red star, then a green diamond, ...); the summary columns sit after a rule.
    """
    n_m, n_c = chart.value.shape
    fig = Figure(figsize=(max(7.5, 0.95 * n_c + 2.5), 5.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = min(0.8, 0.16 * n_m)
    offsets = np.linspace(-width / 2, width / 2, n_m) if n_m > 1 else np.zeros(1)
    base, pareto = cycle(_BASELINE_STYLES), cycle(_PARETO_COLORS)
    x = np.arange(n_c, dtype=float)
    for k in range(n_m):
        marker, color = next(base) if chart.kinds[k] == "baseline" else ("o", next(pareto))
        label = chart.models[k] if chart.kinds[k] == "baseline" else f"Pareto {chart.models[k]}"
        v, lo, hi = chart.value[k], chart.low[k], chart.high[k]
        err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
        ax.errorbar(x + offsets[k], v, yerr=np.nan_to_num(err), fmt="none", ecolor=color, elinewidth=1.3,
                    capsize=2.5, zorder=2)
        ax.scatter(x + offsets[k], v, marker=marker, s=90 if marker == "*" else 40, color=color,
                   edgecolor="black", lw=0.5, zorder=4, label=label)
        s = chart.seeds[k]
        if s.shape[0] > 1:
            xs = np.broadcast_to(x + offsets[k], s.shape)
            ax.scatter(xs.ravel(), s.ravel(), s=8, color="white", edgecolor=color, lw=0.7, zorder=3,
                       label="each seed" if k == 0 else None)
    if chart.n_communities < n_c:
        ax.axvline(chart.n_communities - 0.5, color="0.6", lw=0.8)
    ax.set_xticks(x)
    labels = chart.columns if chart.n_pairs is None else [f"{c}\n{n} pairs" for c, n in zip(chart.columns, chart.n_pairs,
                                                                                             strict=True)]
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=9)
    ax.set_ylabel(f"{chart.split} accuracy (pairs ranked right)")
    ax.grid(True, axis="y", color="0.92", zorder=0)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9, ncol=2)
    ax.set_title(f"{title}\nwhiskers: {chart.interval}" if title else f"whiskers: {chart.interval}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
