"""NP-BTL result tables: held-out accuracy against context size (the paper's layout), with intervals and gains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from raysearch.data.tasks import EVAL_CONTEXT_SIZES
from raysearch.metrics.accuracy import Interval, bootstrap_accuracy

NAMES = {"npbtl": "NP-BTL", "btl": "BTL", "dpl": "DPL"}


def heldout_intervals(meta: dict[str, Any]) -> dict[int, Interval]:
    """Held-out accuracy per context size, with its interval, from a checkpoint's ``meta.json``."""
    out = {}
    for c in EVAL_CONTEXT_SIZES:
        e = meta["metrics"][f"test/ctx{c}"]["extra"]
        out[c] = Interval(e["acc"], e["low"], e["high"], int(e["n"]))
    return out


def heldout_gains(meta: dict[str, Any]) -> dict[int, Interval]:
    """Held-out accuracy gain over no context, per context size > 0, on the same target pairs (paired bootstrap)."""
    out = {}
    for c in EVAL_CONTEXT_SIZES[1:]:
        e = meta["metrics"][f"test/ctx{c}"]["extra"]
        if "gain" in e:
            out[c] = Interval(e["gain"], e["gain_low"], e["gain_high"], int(e["n"]))
    return out


def pooled_curve(ok: dict[int, np.ndarray], groups: Sequence[str], *, n_boot: int = 2000, seed: int = 0,
                 ) -> tuple[dict[int, Interval], dict[int, Interval]]:
    """Accuracy per context size and its gain over size 0, from per-target correctness on the same targets.

    ``ok[c]`` is a bool array over the same target pairs at every size ``c``; ``groups`` names each
    target's resampling unit (a user or country). Intervals: 95% bootstrap over groups, the gain paired.
    """
    acc = {c: bootstrap_accuracy(v, groups=groups, n_boot=n_boot, seed=seed) for c, v in ok.items()}
    gain = {c: bootstrap_accuracy(ok[c].astype(float) - ok[0], groups=groups, n_boot=n_boot, seed=seed)
            for c in EVAL_CONTEXT_SIZES[1:]}
    return acc, gain


def table_rows(results: dict[str, dict[int, Interval]], gains: dict[str, dict[int, Interval]] | None = None,
               ) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The paper's layout: header, accuracy rows (model, % per context size), 95% interval rows.

    ``gains`` (model -> context size -> gain over size 0) adds one row per model: the gain in
    points with its paired 95% interval.
    """
    head = ["model"] + [str(c) for c in EVAL_CONTEXT_SIZES]
    acc = [[NAMES.get(k, k)] + [f"{100 * r[c].value:.1f}" for c in EVAL_CONTEXT_SIZES] for k, r in results.items()]
    ci = [[NAMES.get(k, k) + " 95%"] + [f"{100 * r[c].low:.1f}–{100 * r[c].high:.1f}" for c in EVAL_CONTEXT_SIZES]
          for k, r in results.items()]
    for k, g in (gains or {}).items():
        ci.append([NAMES.get(k, k) + " gain vs 0 (95%)"] + ["—"] + [
            f"{100 * g[c].value:+.1f} ({100 * g[c].low:+.1f}, {100 * g[c].high:+.1f})" if c in g else "—"
            for c in EVAL_CONTEXT_SIZES[1:]])
    return head, acc, ci


def markdown_table(results: dict[str, dict[int, Interval]], *, caption: str,
                   gains: dict[str, dict[int, Interval]] | None = None) -> str:
    head, acc, ci = table_rows(results, gains)
    lines = ["| context size | " + " | ".join(head[1:]) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in acc + ci]
    return "\n".join(lines) + f"\n\n{caption}\n"


def print_table(results: dict[str, dict[int, Interval]], *, title: str, caption: str,
                gains: dict[str, dict[int, Interval]] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    head, acc, ci = table_rows(results, gains)
    t = Table(title=title, caption=caption)
    t.add_column("context size")
    for h in head[1:]:
        t.add_column(h, justify="right")
    for i, r in enumerate(acc + ci):
        t.add_row(*r, end_section=i == len(acc) - 1)
    Console(width=max(Console().width, 100)).print(t)
