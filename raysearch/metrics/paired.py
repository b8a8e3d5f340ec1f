"""Paired comparisons of two models on the same evaluation pairs: differences with bootstrap intervals.

Two models scored on the same pairs are compared by resampling the *same* questions for both
(a paired bootstrap): the interval of the difference, not two overlapping intervals. Questions
(``groups``) are shared across communities in GlobalOpinionQA, so one resample of questions
moves every community's accuracy at once, and the summaries (mean over communities, worst
community, majority and minority means) are recomputed on each resample for both models.
The interval of a model against itself is exactly 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from raysearch.metrics.accuracy import MAJORITY, Interval, bootstrap_accuracy

#: Summary statistics over communities that ``paired_summary`` reports besides each community.
SUMMARIES = ("mean", "worst", "majority", "minority")


def paired_difference(a: np.ndarray, b: np.ndarray, *, groups: Sequence[str] | None = None,
                      n_boot: int = 2000, seed: int = 0) -> Interval:
    """Mean of ``a - b`` (per-item values of two models on the same items) with a paired 95% bootstrap interval.

    ``groups`` resamples whole groups (e.g. questions) for both models at once.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same items: shapes {a.shape} and {b.shape}")
    return bootstrap_accuracy(a - b, groups=groups, n_boot=n_boot, seed=seed)


@dataclass(frozen=True)
class PairedSummary:
    """Per community and across communities: each model's accuracy and each model's difference to the reference.

    ``accuracy[model][stat]`` and ``difference[model][stat]`` (``model`` minus ``reference``) are
    ``Interval`` s; ``stat`` is a community name or one of ``SUMMARIES``.
    """

    reference: str
    stats: tuple[str, ...]
    accuracy: dict[str, dict[str, Interval]]
    difference: dict[str, dict[str, Interval]]


def _stats(acc: np.ndarray, names: list[str], majority: frozenset[str]) -> np.ndarray:
    """``acc [..., C]`` per community -> ``[..., C + 4]``: communities, mean, worst, majority, minority."""
    maj = np.array([c in majority for c in names])
    both = maj.any() and (~maj).any()
    nan = np.full(acc.shape[:-1], np.nan)
    extra = [np.nanmean(acc, axis=-1), np.nanmin(acc, axis=-1),
             np.nanmean(acc[..., maj], axis=-1) if both else nan,
             np.nanmean(acc[..., ~maj], axis=-1) if both else nan]
    return np.concatenate([acc, np.stack(extra, axis=-1)], axis=-1)


@dataclass(frozen=True)
class Resampled:
    """Per model, the statistics (``stats``: each community, then ``SUMMARIES``) on the data and on
    each bootstrap resample of questions; the same resamples for every model."""

    stats: tuple[str, ...]
    n_pairs: tuple[int, ...]
    point: dict[str, np.ndarray]  # model -> [len(stats)]
    boot: dict[str, np.ndarray]  # model -> [n_boot, len(stats)], NaN where a resample drew none of a community's questions


def resample_stats(correct: Mapping[str, np.ndarray], communities: Sequence[str], groups: Sequence[str], *,
                   majority: frozenset[str] = MAJORITY, n_boot: int = 2000, seed: int = 0) -> Resampled:
    """Accuracy per community and summarized, for every model, on the data and on ``n_boot`` resamples.

    ``correct[model]`` holds per-pair values (booleans, or seed-averaged fractions) over the same
    evaluation pairs; ``communities`` and ``groups`` give each pair's community and question. One
    resample draws questions with replacement and applies to every model and community alike, so
    any function of several models' statistics (a difference, a ratio) can be bootstrapped paired.
    """
    comm = np.asarray(communities)
    names = sorted(set(comm.tolist()))
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(g.max()) + 1 if g.size else 0
    cidx = np.searchsorted(names, comm)
    # per community: number of pairs and of correct pairs in each question
    count = np.zeros((len(names), n_groups))
    np.add.at(count, (cidx, g), 1.0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    mult = np.zeros((n_boot, n_groups))
    np.add.at(mult, (np.arange(n_boot)[:, None].repeat(n_groups, 1), draws), 1.0)
    den = mult @ count.T  # [n_boot, C]
    point: dict[str, np.ndarray] = {}
    boot: dict[str, np.ndarray] = {}
    for model, ok in correct.items():
        ok = np.asarray(ok, dtype=float)
        if ok.shape != comm.shape:
            raise ValueError(f"model {model!r} has {ok.size} results for {comm.size} evaluation pairs")
        hit = np.zeros((len(names), n_groups))
        np.add.at(hit, (cidx, g), ok)
        with np.errstate(invalid="ignore", divide="ignore"):
            b = (mult @ hit.T) / den
        point[model] = _stats(hit.sum(1) / count.sum(1), names, majority)
        boot[model] = _stats(b, names, majority)
    n_pairs = tuple([int(count[k].sum()) for k in range(len(names))] + [int(comm.size)] * len(SUMMARIES))
    return Resampled(stats=(*names, *SUMMARIES), n_pairs=n_pairs, point=point, boot=boot)


def t_half_width(per_seed: np.ndarray) -> np.ndarray | float:
    """Half width of a 95% Student-t interval of the mean over seeds (axis 0: one row per seed); 0 with one seed.

    For repeats of a whole experiment (each seed a search, a split), where the seed is the unit."""
    per_seed = np.asarray(per_seed, dtype=float)
    n = per_seed.shape[0]
    if n < 2:
        return np.zeros(per_seed.shape[1:]) if per_seed.ndim > 1 else 0.0
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1)) * per_seed.std(axis=0, ddof=1) / np.sqrt(n)


def interval(value: float, boots: np.ndarray, n: int) -> Interval:
    """``value`` with the 2.5 and 97.5 percentiles of its resampled values (NaN ones ignored)."""
    lo, hi = np.nanpercentile(boots, [2.5, 97.5]) if np.isfinite(boots).any() else (np.nan, np.nan)
    return Interval(float(value), float(lo), float(hi), n)


def paired_summary(correct: Mapping[str, np.ndarray], communities: Sequence[str], groups: Sequence[str], *,
                   reference: str, majority: frozenset[str] = MAJORITY, n_boot: int = 2000,
                   seed: int = 0) -> PairedSummary:
    """Accuracy of every model and its paired difference to ``reference``, per community and summarized.

    ``correct[model]`` is a boolean array over the same evaluation pairs (``communities`` and
    ``groups`` give each pair's community and question). One bootstrap resample draws questions
    with replacement and applies to every model and community alike (``resample_stats``).
    """
    if reference not in correct:
        raise ValueError(f"reference {reference!r} is not among the models: {', '.join(correct)}")
    r = resample_stats(correct, communities, groups, majority=majority, n_boot=n_boot, seed=seed)
    stats, n_pairs, out_stats, out_boot = r.stats, r.n_pairs, r.point, r.boot
    acc = {m: {s: interval(out_stats[m][k], out_boot[m][:, k], n_pairs[k]) for k, s in enumerate(stats)}
           for m in correct}
    diff = {m: {s: interval(out_stats[m][k] - out_stats[reference][k], out_boot[m][:, k] - out_boot[reference][:, k],
                            n_pairs[k]) for k, s in enumerate(stats)}
            for m in correct}
    return PairedSummary(reference=reference, stats=stats, accuracy=acc, difference=diff)


def paired_table(summary: PairedSummary, *, models: Sequence[str] | None = None, scale: float = 100.0) -> str:
    """Markdown: one row per statistic; per model its accuracy and (except the reference) its paired difference."""
    models = list(models or summary.accuracy)
    head = ["", *[f"{m}" for m in models], *[f"{m} − {summary.reference}" for m in models if m != summary.reference]]
    rows = []
    for s in summary.stats:
        label = s if s not in SUMMARIES else f"**{s}**" if s != "worst" else "**worst community**"
        cells = [summary.accuracy[m][s].fmt(scale) for m in models]
        cells += [_signed(summary.difference[m][s], scale) for m in models if m != summary.reference]
        rows.append([label, *cells])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _signed(iv: Interval, scale: float) -> str:
    if not np.isfinite(iv.value):
        return "—"
    return f"{iv.value * scale:+.1f} [{iv.low * scale:+.1f}, {iv.high * scale:+.1f}]"
