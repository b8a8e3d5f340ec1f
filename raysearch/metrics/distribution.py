"""Distribution distances per record (Jensen–Shannon, Wasserstein-1) and per community with bootstrap intervals.

Jensen–Shannon *distance* (the square root of the JS divergence) in base 2, so it lies in [0, 1]:
0 for identical distributions, 1 for disjoint supports. Wasserstein-1 treats the options as an
ordinal scale with unit spacing (``Σ_k |F_p(k) − F_q(k)|``, in [0, K − 1]) unless a cost matrix is
given. Lower is better for both. Intervals resample whole groups (questions) as the accuracy
intervals do (``raysearch.metrics.accuracy.bootstrap_accuracy`` is a bootstrap of a mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial.distance import jensenshannon

from raysearch.errors import UserInputError
from raysearch.metrics.accuracy import Interval, bootstrap_accuracy


def _pair(p: Sequence[float], q: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise UserInputError(
            f"distributions must be 1-D of the same length, got {a.shape} and {b.shape}; "
            f"give one share per option for both"
        )
    if np.any(a < 0) or np.any(b < 0) or a.sum() <= 0 or b.sum() <= 0:
        raise UserInputError(f"distributions {a.round(4).tolist()} / {b.round(4).tolist()} need shares >= 0 with mass")
    return a / a.sum(), b / b.sum()


def js_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two distributions over the same options."""
    a, b = _pair(p, q)
    d = float(jensenshannon(a, b, base=2.0))
    return 0.0 if np.isnan(d) else d  # rounding can make the divergence -1e-17, whose sqrt is NaN


def wasserstein1(p: Sequence[float], q: Sequence[float], *, cost: np.ndarray | None = None) -> float:
    """Wasserstein-1: ``Σ_k |F_p(k) − F_q(k)|`` for ordinal options, or exact OT under ``cost [K, K]`` (POT)."""
    a, b = _pair(p, q)
    if cost is None:
        return float(np.abs(np.cumsum(a) - np.cumsum(b)).sum())
    from raysearch._extras import require

    ot = require("ot", "ot", "Wasserstein-1 under a cost matrix")

    c = np.asarray(cost, dtype=float)
    if c.shape != (a.size, a.size):
        raise UserInputError(f"cost matrix has shape {c.shape} for {a.size} options; give a [K, K] matrix")
    return float(ot.emd2(a, b, c))


@dataclass(frozen=True)
class DistributionMetrics:
    """JSD and W1 per community (mean over records, bootstrap 95% interval) and the across-community summary."""

    jsd: dict[str, Interval]
    w1: dict[str, Interval]
    mean_jsd: float
    worst_jsd: float
    worst_community: str
    mean_w1: float
    worst_w1: float

    def flat(self, prefix: str = "") -> dict[str, float]:
        """A flat dict for reporting: ``{prefix}mean_jsd``, ``{prefix}worst_jsd``, ``{prefix}jsd/<c>``, ..."""
        out = {f"{prefix}mean_jsd": self.mean_jsd, f"{prefix}worst_jsd": self.worst_jsd,
               f"{prefix}mean_w1": self.mean_w1, f"{prefix}worst_w1": self.worst_w1}
        for c in self.jsd:
            out[f"{prefix}jsd/{c}"] = self.jsd[c].value
            out[f"{prefix}w1/{c}"] = self.w1[c].value
        return out

    def table(self) -> str:
        """A plain-text table: community, n, JSD [95% CI], W1 [95% CI]."""
        rows = [f"{'community':<24} {'n':>5}  {'JSD [95% CI]':<24} {'W1 [95% CI]':<24}"]
        for c in self.jsd:
            j, w = self.jsd[c], self.w1[c]
            rows.append(f"{c:<24} {j.n:>5}  {_fmt(j):<24} {_fmt(w):<24}")
        rows.append(f"{'mean':<24} {'':>5}  {self.mean_jsd:<24.3f} {self.mean_w1:<24.3f}")
        rows.append(f"{'worst (' + self.worst_community + ')':<24} {'':>5}  {self.worst_jsd:<24.3f} {self.worst_w1:<24.3f}")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DistributionMetrics:
        """The inverse of ``to_dict`` (e.g. metrics read back from a checkpoint's meta.json)."""
        d = dict(d)
        for key in ("jsd", "w1"):
            d[key] = {c: Interval(**iv) for c, iv in d[key].items()}
        return cls(**d)


def _fmt(iv: Interval) -> str:
    return f"{iv.value:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def per_record_distances(predicted: Sequence[Sequence[float]], target: Sequence[Sequence[float]],
                         *, costs: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(jsd [N], w1 [N])`` for N (predicted, target) pairs of possibly different lengths."""
    if len(predicted) != len(target):
        raise UserInputError(f"{len(predicted)} predicted distributions but {len(target)} targets; give one per record")
    jsd = np.array([js_distance(p, q) for p, q in zip(predicted, target, strict=True)])
    w1 = np.array([
        wasserstein1(p, q, cost=None if costs is None else costs[i])
        for i, (p, q) in enumerate(zip(predicted, target, strict=True))
    ])
    return jsd, w1


def distribution_metrics(
    predicted: Sequence[Sequence[float]], target: Sequence[Sequence[float]], communities: Sequence[str],
    *, groups: Sequence[str] | None = None, costs: Sequence[np.ndarray] | None = None,
    n_boot: int = 1000, seed: int = 0,
) -> DistributionMetrics:
    """Per-community mean JSD and W1 with bootstrap 95% intervals (resampling ``groups`` if given).

    The worst community is the one with the highest mean JSD (JSD is the search objective).
    """
    if len(communities) != len(target) or (groups is not None and len(groups) != len(target)):
        raise UserInputError("communities (and groups) need one entry per record")
    if len(target) == 0:
        raise UserInputError("no evaluation distributions: every community needs records in the evaluated split")
    jsd, w1 = per_record_distances(predicted, target, costs=costs)
    comm = np.asarray(communities)
    grp = None if groups is None else np.asarray(groups)
    per_j: dict[str, Interval] = {}
    per_w: dict[str, Interval] = {}
    for k, c in enumerate(sorted(set(comm.tolist()))):
        m = comm == c
        g = None if grp is None else grp[m].tolist()
        per_j[c] = bootstrap_accuracy(jsd[m], groups=g, n_boot=n_boot, seed=seed + k)
        per_w[c] = bootstrap_accuracy(w1[m], groups=g, n_boot=n_boot, seed=seed + k)
    worst = max(per_j, key=lambda c: (per_j[c].value, c))
    return DistributionMetrics(
        jsd=per_j, w1=per_w, mean_jsd=float(np.mean([iv.value for iv in per_j.values()])),
        worst_jsd=per_j[worst].value, worst_community=worst,
        mean_w1=float(np.mean([iv.value for iv in per_w.values()])),
        worst_w1=float(max(iv.value for iv in per_w.values())),
    )
