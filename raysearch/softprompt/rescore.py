"""Summaries of the fresh-draw re-scoring in sample mode: per prompt and paired between prompts.

``SurveyObjective.rescore`` scores naive, persona and the optimized prompt on the same R fresh
draws (``raysearch.softprompt.draws.fresh_seeds``): draw r of every prompt uses the same seed,
so the prompts are compared on paired draws. This module turns those per-draw numbers into
the report: for each prompt the mean L1 and mean index per dimension over the draws with a 95%
percentile bootstrap interval over draws and the standard deviation of one draw; for each pair
of prompts the mean per-draw L1 difference with a paired bootstrap interval
(``raysearch.metrics.paired.paired_difference``, items = draws).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from raysearch.metrics.accuracy import Interval, bootstrap_accuracy
from raysearch.metrics.paired import paired_difference

PROMPTS = ("naive", "persona", "optimized")
#: The paired comparisons reported, as (a, b): a minus b, negative = a closer to the targets.
PAIRS = (("optimized", "persona"), ("optimized", "naive"), ("persona", "naive"))


def interval_dict(iv: Interval) -> dict[str, float | int]:
    """An ``Interval`` as plain JSON data: mean, low, high (95%), n."""
    return {"mean": iv.value, "low": iv.low, "high": iv.high, "n": iv.n}


def _spread(values: np.ndarray, seed: int) -> dict[str, float | int]:
    out: dict[str, float | int] = interval_dict(bootstrap_accuracy(values, seed=seed))
    out["std"] = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    return out


def summarize_prompt(draws: dict[str, Any], dimensions: list[str], *, seed: int) -> dict[str, Any]:
    """One prompt's per-draw scores -> the report entry.

    ``draws`` holds ``losses`` (R,), ``indices`` (R, D) and ``means`` (I,) (mean answer per item
    over the draws). The entry keeps ``indices`` (mean per dimension), ``means`` and ``loss``
    (mean over draws) in the shape of an expected-mode result, so the table code is shared, and
    adds the intervals and the raw per-draw values.
    """
    losses = np.asarray(draws["losses"], dtype=float)
    indices = np.asarray(draws["indices"], dtype=float).reshape(len(losses), len(dimensions))
    per_dim = {code: _spread(indices[:, k], seed) for k, code in enumerate(dimensions)}
    return {
        "indices": {code: float(per_dim[code]["mean"]) for code in dimensions},
        "means": draws["means"],
        "loss": float(losses.mean()),
        "loss_interval": _spread(losses, seed),
        "indices_interval": per_dim,
        "draw_losses": losses.tolist(),
        "draw_indices": indices.tolist(),
    }


def paired_comparisons(losses: dict[str, list[float]], *, seed: int) -> dict[str, dict[str, Any]]:
    """Per pair (a, b) in ``PAIRS``: mean of loss_a - loss_b over the same draws, paired 95% interval."""
    out = {}
    for a, b in PAIRS:
        iv = paired_difference(np.asarray(losses[a]), np.asarray(losses[b]), seed=seed)
        out[f"{a} - {b}"] = {"a": a, "b": b, **interval_dict(iv)}
    return out


def summarize(
    per_draw: dict[str, dict[str, Any]], dimensions: list[str], seeds: list[int], *, seed: int
) -> dict[str, Any]:
    """All prompts' fresh-draw scores -> {prompts: per-prompt entries, paired: comparisons, seeds}.

    ``seed`` seeds the bootstrap resampling; ``seeds`` are the fresh draws (recorded as used).
    """
    missing = [name for name in PROMPTS if name not in per_draw]
    if missing:
        raise ValueError(f"re-scoring lacks the prompts {missing}; it needs {list(PROMPTS)}")
    for name in PROMPTS:
        if len(per_draw[name]["losses"]) != len(seeds):
            raise ValueError(f"{name} has {len(per_draw[name]['losses'])} draw losses for {len(seeds)} seeds")
    prompts = {name: summarize_prompt(per_draw[name], dimensions, seed=seed) for name in PROMPTS}
    return {
        "draws": len(seeds),
        "seeds": list(seeds),
        "prompts": prompts,
        "paired": paired_comparisons({n: per_draw[n]["losses"] for n in PROMPTS}, seed=seed),
    }
