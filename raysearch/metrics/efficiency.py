"""Data efficiency: how many training pairs one method needs to equal another's accuracy.

Two learning curves, accuracy against the share of training pairs (the same shares for both),
are compared at each share ``f`` of the model: the reference's curve, linear in log share between
measured points, is read for the smallest share at which it reaches the model's accuracy at ``f``.
The ratio of that share to ``f`` is how many times the pairs the reference needs (SCPO's paper
reports full-data fine-tuning needing 170–280% of SCPO's pairs). Outside the measured range the
ratio is censored: the reference already matches at its smallest share (``at most``), or never
matches (``more than``). Bootstrapped with the curves resampled paired
(``raysearch.metrics.paired.resample_stats``), the censored draws enter as their bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: how a ratio relates to the truth: measured inside the curve, or bounded by its ends
EXACT, AT_MOST, MORE_THAN = "exact", "at most", "more than"


@dataclass(frozen=True)
class Ratio:
    """Pairs the reference needs to equal the model at ``share``, as a multiple of the model's pairs."""

    share: float
    value: float
    kind: str  # EXACT, AT_MOST or MORE_THAN

    def fmt(self) -> str:
        pct = f"{self.value * 100:.0f}%"
        return pct if self.kind == EXACT else f"{'≤' if self.kind == AT_MOST else '>'} {pct}"


def share_to_reach(shares: Sequence[float], accuracy: Sequence[float], target: float) -> tuple[float, str]:
    """The smallest share at which ``accuracy`` (over increasing ``shares``, linear in log share) reaches
    ``target``: ``(share, EXACT)``; ``(shares[0], AT_MOST)`` when the first point already does;
    ``(shares[-1], MORE_THAN)`` when no point does."""
    s = np.asarray(shares, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if s.ndim != 1 or s.shape != a.shape or s.size < 1 or np.any(np.diff(s) <= 0) or s[0] <= 0:
        raise ValueError(f"shares must be increasing and positive, one accuracy each: {s.tolist()}, {a.tolist()}")
    if a[0] >= target:
        return float(s[0]), AT_MOST
    for i in range(1, s.size):
        if a[i] >= target:  # a[i - 1] < target <= a[i]
            t = (target - a[i - 1]) / (a[i] - a[i - 1])
            return float(np.exp(np.log(s[i - 1]) + t * (np.log(s[i]) - np.log(s[i - 1])))), EXACT
    return float(s[-1]), MORE_THAN


def pairs_ratio(shares: Sequence[float], reference: Sequence[float], model: Sequence[float]) -> list[Ratio]:
    """For each share ``f``: the reference's pairs to equal ``model[f]``, over the model's pairs (``share / f``)."""
    out = []
    for f, target in zip(shares, model, strict=True):
        need, kind = share_to_reach(shares, reference, float(target))
        out.append(Ratio(share=float(f), value=need / float(f), kind=kind))
    return out


def ratio_interval(shares: Sequence[float], reference_boot: np.ndarray, model_boot: np.ndarray) -> np.ndarray:
    """Per share, the 2.5 and 97.5 percentiles of the ratio over paired resamples of both curves.

    ``reference_boot`` and ``model_boot`` are ``[n_boot, len(shares)]`` (the same resamples). A
    censored draw counts as its bound (``MORE_THAN`` as infinity, so an upper end can be ``inf``);
    resamples with a NaN accuracy are skipped. Returns ``[len(shares), 2]``.
    """
    ref, mod = np.asarray(reference_boot, dtype=float), np.asarray(model_boot, dtype=float)
    out = np.full((len(shares), 2), np.nan)
    for j, f in enumerate(shares):
        vals = []
        for b in range(ref.shape[0]):
            if not (np.isfinite(ref[b]).all() and np.isfinite(mod[b, j])):
                continue
            need, kind = share_to_reach(shares, ref[b], float(mod[b, j]))
            vals.append(np.inf if kind == MORE_THAN else need / float(f))
        if vals:
            out[j] = np.quantile(np.array(vals), [0.025, 0.975], method="inverted_cdf")
    return out
