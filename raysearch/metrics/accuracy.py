"""Per-community pairwise accuracy with bootstrap intervals, and the across-community summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from raysearch.data.goqa import MAJORITY_COUNTRIES

#: ``worst{k}_acc``: the mean accuracy of the k worst communities (of all, with k or fewer), a fairness
#: objective less noisy than the single worst community when one community has few evaluation pairs.
WORST_K = (2, 3)

#: PRISM's majority countries are written differently from GlobalOpinionQA's.
MAJORITY = frozenset(MAJORITY_COUNTRIES) | {"United Kingdom", "United States of America", "U.S.A."}


def pairwise_correct(r_chosen: np.ndarray, r_rejected: np.ndarray) -> np.ndarray:
    """True where the chosen response scores strictly higher (ties count wrong)."""
    return np.asarray(r_chosen) > np.asarray(r_rejected)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap 95% interval over ``n`` pairs."""

    value: float
    low: float
    high: float
    n: int

    def fmt(self, scale: float = 100.0) -> str:
        return f"{self.value * scale:.1f} [{self.low * scale:.1f}, {self.high * scale:.1f}]"


def bootstrap_accuracy(
    correct: np.ndarray, *, groups: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0
) -> Interval:
    """Accuracy of a boolean array (or the mean of any per-item values, e.g. paired differences) with a 95% bootstrap interval.

    With ``groups`` (e.g. the question of each pair) whole groups are resampled — pairs of one
    question are not independent, so this gives the honest, wider interval.
    """
    c = np.asarray(correct, dtype=float)
    if c.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, c.size, size=(n_boot, c.size))
        boots = c[idx].mean(axis=1)
    else:
        _, inv = np.unique(np.asarray(groups), return_inverse=True)
        sums = np.bincount(inv, weights=c)
        counts = np.bincount(inv).astype(float)
        pick = rng.integers(0, sums.size, size=(n_boot, sums.size))
        boots = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Interval(float(c.mean()), float(lo), float(hi), int(c.size))


@dataclass(frozen=True)
class CommunityMetrics:
    """Accuracy per community and the fairness summary across communities."""

    per_community: dict[str, Interval]
    mean: float
    worst: float
    worst_community: str
    disparity: float
    majority_mean: float | None
    minority_mean: float | None
    extra: dict[str, float] = field(default_factory=dict)

    def flat(self, prefix: str = "") -> dict[str, float]:
        """A flat dict for reporting to Ray / Optuna: ``{prefix}mean_acc``, ``{prefix}acc/<c>``, ..."""
        out: dict[str, float] = {
            f"{prefix}mean_acc": self.mean, f"{prefix}worst_acc": self.worst,
            f"{prefix}disparity": self.disparity,
        }
        if self.majority_mean is not None:
            out[f"{prefix}majority_acc"] = self.majority_mean
        if self.minority_mean is not None:
            out[f"{prefix}minority_acc"] = self.minority_mean
        ranked = sorted(iv.value for iv in self.per_community.values())
        for k in WORST_K:
            out[f"{prefix}worst{k}_acc"] = float(np.mean(ranked[:k]))
        for c, iv in self.per_community.items():
            out[f"{prefix}acc/{c}"] = iv.value
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CommunityMetrics:
        d = dict(d)
        d["per_community"] = {c: Interval(**iv) for c, iv in d["per_community"].items()}
        return cls(**d)


def community_metrics(
    correct: np.ndarray, communities: Sequence[str], *, groups: Sequence[str] | None = None,
    majority: frozenset[str] = MAJORITY, n_boot: int = 1000, seed: int = 0,
) -> CommunityMetrics:
    """Per-community accuracy (+ intervals), mean, worst, disparity, majority vs minority mean."""
    correct = np.asarray(correct, dtype=bool)
    comm = np.asarray(communities)
    grp = np.asarray(groups) if groups is not None else None
    if correct.size == 0:
        raise ValueError("no evaluation pairs: every community needs pairs in the evaluated split")
    per: dict[str, Interval] = {}
    for k, c in enumerate(sorted(set(comm.tolist()))):
        m = comm == c
        per[c] = bootstrap_accuracy(
            correct[m], groups=grp[m].tolist() if grp is not None else None, n_boot=n_boot, seed=seed + k
        )
    accs = {c: iv.value for c, iv in per.items()}
    worst_c = min(accs, key=lambda c: (accs[c], c))
    maj = [a for c, a in accs.items() if c in majority]
    mino = [a for c, a in accs.items() if c not in majority]
    return CommunityMetrics(
        per_community=per, mean=float(np.mean(list(accs.values()))), worst=accs[worst_c],
        worst_community=worst_c, disparity=float(max(accs.values()) - min(accs.values())),
        majority_mean=float(np.mean(maj)) if maj and mino else None,
        minority_mean=float(np.mean(mino)) if maj and mino else None,
    )


def summary_resample_sd(
    correct: np.ndarray, communities: Sequence[str], groups: Sequence[str], *, prefix: str = "",
    n_boot: int = 200, seed: int = 0,
) -> dict[str, float]:
    """Bootstrap SD of every summary of ``CommunityMetrics.flat`` (mean, worst, worst-k, ...) over resampled groups.

    The measurement noise of an objective from a finite evaluation set: one model's per-pair
    correctness (boolean), whole groups (questions) drawn with replacement. Resamples that miss a community
    are skipped (they have no worst community to compare). Per-community keys are left out.
    """
    correct = np.asarray(correct, dtype=bool)
    comm = np.asarray(communities)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(g == q) for q in range(int(g.max()) + 1)]
    n_comm = len(set(comm.tolist()))
    rng = np.random.default_rng(seed)
    vals: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = np.concatenate([members[q] for q in rng.integers(0, len(members), len(members))])
        if len(set(comm[idx].tolist())) < n_comm:
            continue
        flat = community_metrics(correct[idx], comm[idx].tolist(), n_boot=1, seed=0).flat(prefix)
        for k, v in flat.items():
            if not k.startswith(f"{prefix}acc/"):
                vals.setdefault(k, []).append(v)
    return {k: float(np.std(v, ddof=1)) for k, v in vals.items() if len(v) > 1}
