"""DPRM results as plain data (per community: the model's and the references' JSD and W1), then rendered.

Compute first, then render: ``comparison`` and ``paired_rows`` build the rows, ``markdown``,
``paired_markdown`` and ``print_rich`` only draw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from raysearch.metrics.accuracy import MAJORITY, Interval
from raysearch.metrics.distribution import DistributionMetrics
from raysearch.metrics.paired import paired_difference


@dataclass(frozen=True)
class Row:
    """One community (or a summary row): ``cells[name] = (JSD, W1)`` per compared predictor."""

    label: str
    n: int | None
    cells: dict[str, tuple[Interval | float, Interval | float]]


@dataclass(frozen=True)
class Comparison:
    """Per-community JSD and W1 of several predictors on one split, plus mean and worst rows."""

    split: str
    names: list[str]
    rows: list[Row]

    def to_dict(self) -> dict:
        return asdict(self)


def comparison(results: dict[str, DistributionMetrics], *, split: str = "test") -> Comparison:
    """Rows for every community of the first predictor, then ``mean`` and ``worst`` rows."""
    names = list(results)
    first = results[names[0]]
    rows = []
    for c, iv in first.jsd.items():
        rows.append(Row(c + (" (majority)" if c in MAJORITY else ""), iv.n,
                        {k: (m.jsd[c], m.w1[c]) for k, m in results.items()}))
    rows.append(Row("mean", None, {k: (m.mean_jsd, m.mean_w1) for k, m in results.items()}))
    rows.append(Row("worst community", None, {k: (m.worst_jsd, m.worst_w1) for k, m in results.items()}))
    return Comparison(split=split, names=names, rows=rows)


def _fmt(v: Interval | float) -> str:
    if isinstance(v, Interval):
        return f"{v.value:.3f} [{v.low:.3f}, {v.high:.3f}]"
    return f"{v:.3f}"


def header(cmp: Comparison) -> list[str]:
    return ["community", f"{cmp.split} records"] + [f"{n} {m}" for n in cmp.names for m in ("JSD", "W1")]


def cells(cmp: Comparison) -> list[list[str]]:
    return [[r.label, "" if r.n is None else str(r.n)] + [_fmt(x) for n in cmp.names for x in r.cells[n]]
            for r in cmp.rows]


CAPTION = ("Jensen–Shannon distance (base 2, 0..1) and Wasserstein-1 (ordinal options, unit spacing) "
           "to each community's answer distribution; lower is better; [95% bootstrap interval over questions].")


def markdown(cmp: Comparison, *, notes: Sequence[str] = ()) -> str:
    head = header(cmp)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in cells(cmp)]
    return "\n".join([*lines, "", CAPTION, *notes]) + "\n"


def print_rich(cmp: Comparison, *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, caption=CAPTION)
    for i, h in enumerate(header(cmp)):
        t.add_column(h, justify="left" if i == 0 else "right")
    rows = cells(cmp)
    for i, r in enumerate(rows):
        t.add_row(*r, end_section=i == len(rows) - 3)
    Console(width=max(Console().width, 140)).print(t)


@dataclass(frozen=True)
class PairedRow:
    """``a`` minus ``b`` on the same records: mean per-record JSD and W1 differences with paired intervals."""

    a: str
    b: str
    subset: str
    jsd: Interval
    w1: Interval


def paired_rows(
    jsd: Mapping[str, np.ndarray], w1: Mapping[str, np.ndarray], groups: Sequence[str],
    comparisons: Sequence[tuple[str, str]], *, keep: np.ndarray | None = None, subset: str = "all",
    n_boot: int = 2000, seed: int = 0,
) -> list[PairedRow]:
    """Per comparison (a, b): mean of ``x[a] - x[b]`` over records with a paired bootstrap over ``groups``.

    ``jsd[name]`` and ``w1[name]`` are ``[N]`` per-record distances of each predictor on the same N
    records, ``groups`` ``[N]`` their questions (resampled whole, for both predictors at once);
    ``keep`` ``[N]`` (bool) restricts to a subset named ``subset``. Negative: ``a`` is closer.
    """
    m = np.ones(len(groups), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    g = [x for x, k in zip(groups, m, strict=True) if k]
    return [PairedRow(a, b, subset,
                      paired_difference(jsd[a][m], jsd[b][m], groups=g, n_boot=n_boot, seed=seed),
                      paired_difference(w1[a][m], w1[b][m], groups=g, n_boot=n_boot, seed=seed))
            for a, b in comparisons]


PAIRED_CAPTION = ("Paired differences on the same test records: mean over records of (A − B) per-record JSD "
                  "and W1, [95% paired bootstrap interval resampling questions]; negative: A is closer to the "
                  "countries' distributions. An interval that excludes 0 is a difference these records support.")


def paired_markdown(rows: Sequence[PairedRow]) -> str:
    """A markdown table of ``paired_rows`` with its caption."""
    lines = ["| A − B | records | ΔJSD | ΔW1 |", "|---|---|---|---|"]
    lines += [f"| {r.a} − {r.b} | {r.jsd.n} ({r.subset}) | {_signed(r.jsd)} | {_signed(r.w1)} |" for r in rows]
    return "\n".join([*lines, "", PAIRED_CAPTION]) + "\n"


def _signed(iv: Interval) -> str:
    return f"{iv.value:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}]"
