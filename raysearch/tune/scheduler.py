"""Early stopping of trials by several objectives: MO-ASHA for Ray Tune, and the ``scheduler:`` block of a space file.

MO-ASHA (multi-objective asynchronous successive halving; Schmucker et al. 2021, "Multi-objective
Asynchronous Successive Halving", arXiv:2106.12639) is ASHA (Li et al. 2020; Ray's
``AsyncHyperBandScheduler``) with the promotion rule made multi-objective. Rungs sit at fidelities
``grace * eta**k`` (the time axis is ``fidelity``, training steps done, which the runner reports
with every validation result). When a trial first reports at or past a rung, its objective vector
is recorded there and ranked with every vector recorded at that rung so far: first by
non-dominated sorting (Pareto front 0, then the front of what is left, ...), then within a front by
a diversity order — the ε-net of Salinas et al. (2021) by default (greedy farthest-first in the
objectives scaled to [0, 1] over the rung, seeded by the best value of the first objective; the
paper's choice), or NSGA-II's crowding distance. Nothing is scalarized. A trial whose position is
not in the top 1/eta of the rung (``position < n / eta``) is stopped; a trial's last report (at its
full fidelity, ``fidelity_max``) is never stopped. As in ASHA, decisions are asynchronous: the first
trial at a rung always goes on, and later trials are judged against those recorded before them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from raysearch.train.runner import FIDELITY, FIDELITY_MAX

#: Trial schedulers by their name in a space file and on the command line.
SCHEDULERS = ("fifo", "moasha")
CONTINUE, STOP = "CONTINUE", "STOP"  # the values of ray.tune.schedulers.TrialScheduler's decisions


class SchedulerSpec(BaseModel):
    """The ``scheduler:`` block of a search-space file: how trials are stopped early (if at all)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    kind: Literal["fifo", "moasha"] = Field(
        default="fifo", description="fifo: every trial trains to the end; moasha: multi-objective ASHA stops "
        "trials dominated at a rung")
    eta: float = Field(default=3.0, gt=1, description="reduction factor: a rung keeps the top 1/eta of the "
                       "trials recorded there; rungs at grace * eta**k steps")
    grace: int = Field(default=4, ge=1, description="the first rung, in training steps (no trial stops before); "
                       "trials report validation every grace steps unless fixed.eval_every says otherwise")
    tie_break: Literal["epsnet", "crowding"] = Field(
        default="epsnet", description="order within a Pareto front: epsnet (farthest-first, the paper's) or "
        "crowding (NSGA-II's crowding distance)")

    def rungs(self, up_to: float) -> list[float]:
        """The rung fidelities ``grace * eta**k`` that are <= ``up_to``, ascending."""
        out: list[float] = []
        k = 0
        while (r := self.grace * self.eta**k) <= up_to * (1 + 1e-9):
            out.append(r)
            k += 1
        return out


# ---- ranking: non-dominated sorting with a diversity tie-break (pure numpy, no Ray) --------------


def _scaled(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Values as minimization, each objective scaled to [0, 1] over the rows (a constant objective is 0)."""
    v = values * np.array([-1.0 if m == "max" else 1.0 for m in modes])
    lo, span = v.min(axis=0), np.ptp(v, axis=0)
    return (v - lo) / np.where(span > 0, span, 1.0)


def _nondominated(v: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``v`` (minimization, any number of objectives) that no other row dominates."""
    le = np.all(v[:, None, :] <= v[None, :, :], axis=2)  # le[j, i]: row j at least as good as row i everywhere
    lt = np.any(v[:, None, :] < v[None, :, :], axis=2)
    return ~np.any(le & lt, axis=0)


def _epsnet(points: np.ndarray) -> list[int]:
    """Farthest-first order of ``points`` (minimization, scaled): the best in the first objective (then the
    second) first; then, each time, the point farthest from every point already taken (ties: lowest index)."""
    n = len(points)
    first = int(np.lexsort(points.T[::-1])[0])
    order, dist = [first], np.linalg.norm(points - points[first], axis=1)
    while len(order) < n:
        dist[order] = -np.inf
        nxt = int(np.argmax(dist))
        order.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1))
    return order


def _crowding(points: np.ndarray) -> list[int]:
    """NSGA-II order: larger crowding distance first (each objective's extremes: infinite); ties by the first
    objective (best first), then index."""
    n, d = points.shape
    crowd = np.zeros(n)
    for j in range(d):
        idx = np.argsort(points[:, j], kind="stable")
        crowd[idx[0]] = crowd[idx[-1]] = np.inf
        if n > 2:
            crowd[idx[1:-1]] += points[idx[2:], j] - points[idx[:-2], j]
    return sorted(range(n), key=lambda i: (-crowd[i], points[i, 0], i))


def priority(values: Sequence[Sequence[float]], modes: Sequence[str], *, tie_break: str = "epsnet") -> list[int]:
    """Row indices of ``values`` (one objective vector per row), best first: Pareto front 0 in ``tie_break``
    order, then front 1, ... (non-dominated sorting; equal rows share a front)."""
    v = np.asarray(values, dtype=float).reshape(len(values), len(modes))
    scaled = _scaled(v, modes) if len(v) else v
    order_in = _epsnet if tie_break == "epsnet" else _crowding
    left, out = np.arange(len(v)), []
    while len(left):
        front = left[_nondominated(scaled[left])]
        out += [int(front[i]) for i in order_in(scaled[front])]
        left = np.setdiff1d(left, front)
    return out


def promoted(values: Sequence[Sequence[float]], modes: Sequence[str], index: int, *, eta: float,
             tie_break: str = "epsnet") -> bool:
    """Whether row ``index`` is in the top 1/eta of ``values`` (all vectors recorded at one rung)."""
    return priority(values, modes, tie_break=tie_break).index(index) < len(values) / eta


# ---- the rungs: bookkeeping and decisions (pure; the Ray scheduler below delegates here) ----------


class MoAshaRungs:
    """Rungs at ``spec.grace * spec.eta**k`` with the objective vectors recorded there, and the decisions."""

    def __init__(self, spec: SchedulerSpec, metrics: Sequence[str], modes: Sequence[str]) -> None:
        if len(metrics) != len(modes) or any(m not in ("max", "min") for m in modes):
            raise ValueError(f"one mode (max or min) per objective: {list(metrics)}, {list(modes)}")
        self.spec, self.metrics, self.modes = spec, list(metrics), list(modes)
        self.recorded: dict[float, dict[str, tuple[float, ...]]] = {}  # rung fidelity -> trial -> objectives
        self.stopped: dict[str, float] = {}  # trial -> the rung it was stopped at

    def on_result(self, trial_id: str, result: dict[str, Any]) -> str:
        """Record ``result`` at the highest rung it reached that has no record of this trial yet; decide."""
        fid = result.get(FIDELITY)
        values = [result.get(m) for m in self.metrics]
        if not isinstance(fid, int | float) or not all(isinstance(x, int | float) and math.isfinite(x) for x in values):
            return CONTINUE  # not a validation report (or a bad one: the trial fails by itself)
        for rung in reversed(self.spec.rungs(fid)):
            recorded = self.recorded.setdefault(rung, {})
            if trial_id in recorded:
                continue
            recorded[trial_id] = tuple(float(x) for x in values)  # type: ignore[arg-type]
            last = fid >= result.get(FIDELITY_MAX, math.inf)  # a trial's full fidelity: it ends anyway
            rows = list(recorded.values())
            keep = last or promoted(rows, self.modes, len(rows) - 1, eta=self.spec.eta, tie_break=self.spec.tie_break)
            if not keep:
                self.stopped[trial_id] = rung
            return CONTINUE if keep else STOP
        return CONTINUE

    def counts(self) -> list[tuple[float, int, int]]:
        """Per rung, ascending: (fidelity, trials recorded there, trials stopped there)."""
        stops = list(self.stopped.values())
        return [(r, len(rec), stops.count(r)) for r, rec in sorted(self.recorded.items())]


def make_scheduler(spec: SchedulerSpec, metrics: Sequence[str], modes: Sequence[str]) -> Any:
    """The Ray Tune trial scheduler of ``spec``: None for fifo (Tune's default), else MO-ASHA."""
    if spec.kind == "fifo":
        return None
    from ray.tune.schedulers import FIFOScheduler  # --- Ray ---

    class MoAshaScheduler(FIFOScheduler):
        """MO-ASHA (see the module docstring): trials run in submission order; results decide at rungs."""

        def __init__(self) -> None:
            super().__init__()
            self.rungs = MoAshaRungs(spec, metrics, modes)

        def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
            return True  # the objectives and their modes come from the search space, not from Tune

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            return self.rungs.on_result(trial.trial_id, result)

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
            self.rungs.on_result(trial.trial_id, {**(result or {}), FIDELITY_MAX: -math.inf})  # record, never stop

        def debug_string(self) -> str:
            return "MO-ASHA: " + ", ".join(f"rung {r:g}: {n} trials, {s} stopped" for r, n, s in self.rungs.counts())

    return MoAshaScheduler()
