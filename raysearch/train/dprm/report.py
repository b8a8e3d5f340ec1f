"""DPRM results as plain data (per community: the model's and the references' JSD and W1), then rendered.

Compute first, then render: ``comparison`` builds the rows, ``markdown``/``print_rich`` only draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from raysearch.metrics.accuracy import MAJORITY, Interval
from raysearch.metrics.distribution import DistributionMetrics


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
