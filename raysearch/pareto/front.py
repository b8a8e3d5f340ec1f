"""The Pareto-front data object (front, dominated, failed trials, hypervolume) and its CSV/JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from raysearch.errors import UserInputError
from raysearch.io import atomic_write_text
from raysearch.pareto._modes import check_modes, check_values, minimization_signs
from raysearch.pareto.hypervolume import hypervolume_2d


@dataclass
class ParetoPoint:
    """One finished trial: its id, the two objective values, its parameters and anything else.

    ``extra`` holds what the report and the CSV carry along (e.g. per-community accuracies,
    test-split scores, the checkpoint path); nested dicts become ``extra.a.b`` CSV columns.
    """

    trial_id: str
    values: tuple[float, float]
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "values": list(self.values),
            "params": dict(self.params),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParetoPoint:
        v = d["values"]
        return cls(
            trial_id=str(d["trial_id"]),
            values=(float(v[0]), float(v[1])),
            params=dict(d.get("params", {})),
            extra=dict(d.get("extra", {})),
        )


@dataclass
class ParetoFront:
    """The outcome of a two-objective search, ready to plot, tabulate or save.

    ``points`` are the non-dominated trials and ``dominated`` the rest of the finished ones,
    both sorted by the first objective (ascending); ``failed`` holds the ids of trials that
    failed or reported a non-finite value, and ``failures`` the reason of each failed one where known
    (its error's last line). ``hypervolume`` is measured against ``reference_point`` (see
    :func:`raysearch.pareto.hypervolume_2d`).
    """

    objectives: tuple[str, str]
    modes: tuple[str, str]
    points: list[ParetoPoint]
    dominated: list[ParetoPoint]
    failed: list[str]
    reference_point: tuple[float, float]
    hypervolume: float
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        """All trials: on the front, dominated and failed."""
        return len(self.points) + len(self.dominated) + len(self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objectives": list(self.objectives),
            "modes": list(self.modes),
            "reference_point": list(self.reference_point),
            "hypervolume": self.hypervolume,
            "points": [p.to_dict() for p in self.points],
            "dominated": [p.to_dict() for p in self.dominated],
            "failed": list(self.failed),
            "failures": dict(self.failures),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParetoFront:
        obj, modes, ref = d["objectives"], d["modes"], d["reference_point"]
        return cls(
            objectives=(str(obj[0]), str(obj[1])),
            modes=(str(modes[0]), str(modes[1])),
            points=[ParetoPoint.from_dict(p) for p in d["points"]],
            dominated=[ParetoPoint.from_dict(p) for p in d.get("dominated", [])],
            failed=[str(t) for t in d.get("failed", [])],
            reference_point=(float(ref[0]), float(ref[1])),
            hypervolume=float(d["hypervolume"]),
            failures={str(k): str(v) for k, v in d.get("failures", {}).items()},
        )

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the whole front (everything ``from_json`` needs) as JSON, atomically."""
        text = json.dumps(_jsonable(self.to_dict()), indent=2, allow_nan=False) + "\n"
        return atomic_write_text(path, text)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> ParetoFront:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_csv(
        self, path: str | os.PathLike[str], *, which: Literal["front", "all"] = "front"
    ) -> Path:
        """Write one row per trial, atomically: the front only, or (``which="all"``) every trial.

        Columns: ``trial_id``, ``status`` (pareto, dominated, failed), the two objectives by
        name, then ``failure`` (why a failed trial failed), ``param.<name>`` and ``extra.<name>``
        (nested dicts flattened with dots).
        """
        if which not in ("front", "all"):
            raise UserInputError(f"which={which!r} is invalid; valid: front, all")
        rows: list[dict[str, Any]] = [self._row(p, "pareto") for p in self.points]
        if which == "all":
            rows += [self._row(p, "dominated") for p in self.dominated]
            rows += [{"trial_id": t, "status": "failed", **({"failure": self.failures[t]} if t in self.failures else {})}
                     for t in self.failed]
        head = ["trial_id", "status", *self.objectives]
        rest = sorted(
            {k for r in rows for k in r} - set(head), key=lambda k: (not k.startswith("param."), k)
        )
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=head + rest, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return atomic_write_text(path, buf.getvalue())

    def _row(self, p: ParetoPoint, status: str) -> dict[str, Any]:
        row: dict[str, Any] = {
            "trial_id": p.trial_id,
            "status": status,
            self.objectives[0]: p.values[0],
            self.objectives[1]: p.values[1],
        }
        row.update(_flatten(p.params, "param"))
        row.update(_flatten(p.extra, "extra"))
        return row


def non_dominated(
    values: np.ndarray | Sequence[Sequence[float]], modes: Sequence[str]
) -> np.ndarray:
    """Boolean mask [N]: True where no other row dominates this one.

    Row j dominates row i when it is at least as good in both objectives and strictly better in
    one, so two equal rows are both on the front. Rows with a NaN or infinite value are never
    on the front and dominate nothing.
    """
    v = check_values(values) * minimization_signs(modes)
    finite = np.all(np.isfinite(v), axis=1)
    if len(v) == 0:
        return np.zeros(0, dtype=bool)
    f = np.where(finite[:, None], v, np.inf)
    # le[j, i]: row j is at least as good as row i in both; lt[j, i]: strictly better in one
    le = np.all(f[:, None, :] <= f[None, :, :], axis=2)
    lt = np.any(f[:, None, :] < f[None, :, :], axis=2)
    dominated = np.any(le & lt & finite[:, None], axis=0)
    return finite & ~dominated


def build_front(
    trials: Iterable[ParetoPoint],
    *,
    objectives: Sequence[str],
    modes: Sequence[str],
    reference_point: Sequence[float],
    failed: Iterable[str] = (),
    failures: dict[str, str] | None = None,
) -> ParetoFront:
    """Split finished trials into the front and the dominated ones and measure the hypervolume.

    A trial with a non-finite value is moved to ``failed`` (it never counts as a number).
    ``failures``: why a failed trial failed, by trial id.
    """
    modes = check_modes(modes)
    objectives = tuple(objectives)
    if len(objectives) != 2:
        raise UserInputError(f"objectives={objectives!r}: need exactly two names")
    ref = tuple(float(r) for r in reference_point)
    if len(ref) != 2:
        raise UserInputError(f"reference_point={ref!r}: need two numbers, one per objective")
    trials = list(trials)
    failed_ids = [str(t) for t in failed]
    ok = [all(math.isfinite(float(x)) for x in t.values) for t in trials]
    finite = [t for t, k in zip(trials, ok, strict=True) if k]
    failed_ids += [t.trial_id for t, k in zip(trials, ok, strict=True) if not k]
    values = np.array([t.values for t in finite], dtype=float).reshape(-1, 2)
    mask = non_dominated(values, modes)

    def order(p: ParetoPoint) -> tuple[float, float, str]:
        return (p.values[0], p.values[1], p.trial_id)

    return ParetoFront(
        objectives=(objectives[0], objectives[1]),
        modes=(modes[0], modes[1]),
        points=sorted((t for t, m in zip(finite, mask, strict=True) if m), key=order),
        dominated=sorted((t for t, m in zip(finite, mask, strict=True) if not m), key=order),
        failed=failed_ids,
        reference_point=(ref[0], ref[1]),
        hypervolume=hypervolume_2d(values, reference_point=ref, modes=modes),
        failures={str(k): str(v) for k, v in (failures or {}).items()},
    )


def _flatten(d: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        elif isinstance(v, list | tuple):
            out[key] = json.dumps(_jsonable(v))
        else:
            out[key] = v
    return out


def _jsonable(x: Any) -> Any:
    """Numpy scalars and arrays to plain Python; non-finite floats to None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    return x
