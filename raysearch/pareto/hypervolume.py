"""Exact hypervolume of a set of points for two objectives, each maximized or minimized."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from raysearch.errors import UserInputError
from raysearch.pareto._modes import check_values, minimization_signs


def hypervolume_2d(
    values: np.ndarray | Sequence[Sequence[float]],
    *,
    reference_point: Sequence[float],
    modes: Sequence[str],
) -> float:
    """Area dominated by ``values`` [N, 2] and bounded by ``reference_point``.

    Each objective is maximized or minimized as ``modes`` says. Rows that are not finite, or
    not strictly better than the reference in both objectives, add nothing (they are ignored).
    Dominated rows add nothing either, so passing all trials or only the front gives the same
    number. Computed as a sweep over the staircase in minimization space: sort by the first
    objective, and each point that improves the second adds the rectangle between it, the
    reference's first coordinate and the best second value so far.
    """
    signs = minimization_signs(modes)
    ref = np.asarray(reference_point, dtype=float)
    if ref.shape != (2,) or not np.all(np.isfinite(ref)):
        raise UserInputError(
            f"reference_point={tuple(reference_point)!r} must be two finite numbers, "
            "one per objective"
        )
    v = check_values(values) * signs
    r = ref * signs
    keep = np.all(np.isfinite(v), axis=1) & np.all(v < r, axis=1)
    v = v[keep]
    if len(v) == 0:
        return 0.0
    v = v[np.lexsort((v[:, 1], v[:, 0]))]  # by first objective, ties by the second
    area, best_y = 0.0, r[1]
    for x, y in v:
        if y < best_y:
            area += (r[0] - x) * (best_y - y)
            best_y = y
    return float(area)


def hypervolume_history(
    values: np.ndarray | Sequence[Sequence[float]],
    *,
    reference_point: Sequence[float],
    modes: Sequence[str],
) -> np.ndarray:
    """``out[k]``: the hypervolume of the first ``k + 1`` rows of ``values`` [N, 2] (in their order).

    A row with a non-finite value (a failed trial, or one stopped early whose values do not count)
    adds nothing, so its entry repeats the one before. Non-decreasing; the last entry equals
    ``hypervolume_2d`` of all rows.
    """
    v = check_values(values)
    out = np.zeros(len(v))
    for k in range(len(v)):
        out[k] = hypervolume_2d(v[: k + 1], reference_point=reference_point, modes=modes)
    return out
