"""The run report: per dimension target vs naive vs persona vs optimized, totals, convergence.

In sample mode the numbers are the fresh-draw re-scoring (``raysearch.softprompt.rescore``)
with 95% intervals and paired differences; the search-time losses are shown apart, labelled.

Compute first, then render: ``build_report`` returns plain data; the Markdown table, the JSON
file, the convergence plot and the dimensions chart (``dimension_chart`` -> ``plot_dimensions``)
are drawn from it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from raysearch.io import atomic_write_bytes

ROWS = ("naive", "persona", "optimized")


def build_report(
    *,
    country: str,
    targets: dict[str, float],
    dimensions: list[str],
    results: dict[str, dict[str, Any]],
    history: list[float],
    config: dict[str, Any],
    elapsed_s: float,
    fresh: dict[str, Any] | None = None,
    search_time: dict[str, Any] | None = None,
    draws: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Plain data: results maps 'naive'/'persona'/'optimized' to {indices, means, loss}.

    Sample mode passes ``fresh`` (``raysearch.softprompt.rescore.summarize``): the table and
    the L1 row then come from the fresh draws, ``search_time`` keeps the losses the search saw
    (the winner's is its own draw, biased low) and ``draws`` records both seed sets.
    ``optimized_beats_both`` is then "the paired 95% interval of optimized minus naive and of
    optimized minus persona lies below 0"; in expected mode it is a plain comparison.
    """
    if fresh is not None:
        results = fresh["prompts"]
    table = []
    for code in dimensions:
        row: dict[str, Any] = {"dimension": code, "target": targets.get(code)}
        for name in ROWS:
            row[name] = results[name]["indices"][code]
        table.append(row)
    totals = {name: results[name]["loss"] for name in ROWS}
    if fresh is None:
        beats = totals["optimized"] < min(totals["naive"], totals["persona"])
    else:
        paired = fresh["paired"]
        beats = paired["optimized - naive"]["high"] < 0 and paired["optimized - persona"]["high"] < 0
    best_so_far = np.minimum.accumulate(np.asarray(history, dtype=float)).tolist() if history else []
    report = {
        "country": country,
        "table": table,
        "l1": totals,
        "optimized_beats_both": bool(beats),
        "history": history,
        "best_so_far": best_so_far,
        "evaluations": len(history),
        "elapsed_s": elapsed_s,
        "means": {name: results[name]["means"] for name in ROWS},
        "config": config,
    }
    if fresh is not None:
        report["fresh"] = fresh
        report["search_time"] = search_time or {}
        report["draws"] = draws or {}
    return report


def _per_eval(report: dict[str, Any]) -> str:
    n = int((report.get("config") or {}).get("search_draws", 1))
    return "one draw each" if n == 1 else f"mean over {n} draws each"


def _fresh_lines(report: dict[str, Any]) -> list[str]:
    """Sample mode: the paired differences, the search-time losses and the draw record."""
    fresh, search = report["fresh"], report["search_time"]
    r = fresh["draws"]
    lines = [
        "",
        f"Sample mode: every cell above is the mean over the same {r} fresh draws for all three "
        "prompts (seeds disjoint from every search draw), with a 95% bootstrap interval over draws.",
        "",
        f"Paired L1 differences over the same {r} fresh draws (negative = the first is closer; "
        "95% paired bootstrap interval):",
        "",
        "| comparison | mean | 95% interval |",
        "| --- | ---: | --- |",
    ]
    for key, d in fresh["paired"].items():
        lines.append(f"| {key.replace(' - ', ' − ')} | {d['mean']:+.1f} | [{d['low']:+.1f}, {d['high']:+.1f}] |")
    std = {name: fresh["prompts"][name]["loss_interval"]["std"] for name in ROWS}
    lines += [
        "",
        "Standard deviation of the L1 of one draw: " + ", ".join(f"{n} {std[n]:.1f}" for n in ROWS) + ".",
    ]
    if search:
        lines += [
            "",
            f"Search time ({_per_eval(report)}, not used in the table): "
            f"naive {search['naive']:.1f}, persona {search['persona']:.1f}, optimized "
            f"{search['optimized']:.1f} (evaluation {search['optimized_eval']}: the minimum over "
            f"{report['evaluations']} noisy evaluations, so biased low).",
        ]
    draws = report.get("draws") or {}
    if draws:
        lines.append(
            f"Draws: {len(draws['search'])} search seeds and {len(draws['fresh'])} fresh seeds, "
            f"{draws['shared']} shared (both lists in report.json)."
        )
    return lines


def _cell(report: dict[str, Any], name: str, row: dict[str, Any] | None) -> str:
    """A cell of a dimension ``row`` (None = the L1 row); in sample mode with its 95% interval."""
    if "fresh" not in report:
        return f"{(report['l1'] if row is None else row)[name]:.1f}"
    entry = report["fresh"]["prompts"][name]
    iv = entry["loss_interval"] if row is None else entry["indices_interval"][row["dimension"]]
    return f"{iv['mean']:.1f} [{iv['low']:.1f}, {iv['high']:.1f}]"


def markdown(report: dict[str, Any]) -> str:
    """The table as Markdown: one row per dimension, then total L1 (lower is better)."""
    lines = [
        f"### {report['country']}: VSM 2013 indices, target vs LM",
        "",
        "| dimension | target | naive | persona | optimized |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in report["table"]:
        target = "–" if row["target"] is None else f"{row['target']:.0f}"
        cells = " | ".join(_cell(report, name, row) for name in ROWS)
        lines.append(f"| {row['dimension']} | {target} | {cells} |")
    lines.append("| **L1** |  | " + " | ".join(_cell(report, name, None) for name in ROWS) + " |")
    if "fresh" in report:
        lines += _fresh_lines(report)
    cfg = report["config"]
    lines += [
        "",
        f"{report['evaluations']} evaluations, {cfg.get('optimizer')} "
        f"popsize {cfg.get('popsize')}, "
        f"subspace k={cfg.get('subspace_dim')}, position {cfg.get('position')}, "
        f"search time {report['elapsed_s']:.0f} s. Targets: Hofstede, Hofstede & Minkov (2010).",
    ]
    if "goqa" in report:
        js = report["goqa"]["mean_js_distance"]
        lines += [
            "",
            f"GlobalOpinionQA check ({report['goqa']['questions']} of the country's questions, "
            "mean Jensen-Shannon distance to its answers, lower is closer): "
            + ", ".join(f"{name} {js[name]:.3f}" for name in ROWS)
            + "".join(f"; {k} {d['value']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
                      for k, d in report["goqa"].get("paired_difference", {}).items())
            + " (paired 95% intervals over questions)",
        ]
    return "\n".join(lines) + "\n"


def plot_convergence(report: dict[str, Any], path: Path) -> Path:
    """Loss of every evaluation and the best so far, against evaluations (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(1, len(report["history"]) + 1)
    ax.scatter(x, report["history"], s=6, alpha=0.4, label="candidate")
    ax.plot(x, report["best_so_far"], color="C1", label="best so far")
    fresh = "fresh" in report
    suffix = f" (mean of {report['fresh']['draws']} fresh draws)" if fresh else ""
    for name, style in (("naive", ":"), ("persona", "--")):
        ax.axhline(report["l1"][name], color="gray", linestyle=style, label=name + suffix)
    if fresh:  # the winner re-scored: the gap to "best so far" is the winner's curse
        ax.axhline(report["l1"]["optimized"], color="C2", linestyle="-.", label="optimized" + suffix)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("L1 to Hofstede targets")
    ax.set_title(f"soft prompt search: {report['country']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


#: colours of the three prompts in the dimensions chart (the target is black)
_PROMPT_COLORS = {"naive": "0.65", "persona": "tab:orange", "optimized": "tab:blue"}


def dimension_chart(report: dict[str, Any]) -> dict[str, Any]:
    """What ``plot_dimensions`` draws, as plain data: per dimension the target and each prompt's index.

    ``{"dimensions", "target" (None where the country has no score), "prompts": {name: {"value", "low",
    "high"}}, "interval", "l1"}``. In sample mode ``low``/``high`` are the 95% bootstrap interval over the
    fresh draws (the table's); in expected mode the answers are deterministic and there is no interval
    (``low``/``high`` None).
    """
    dims = [row["dimension"] for row in report["table"]]
    fresh = report.get("fresh")
    prompts: dict[str, dict[str, Any]] = {}
    for name in ROWS:
        value = [float(row[name]) for row in report["table"]]
        low = high = None
        if fresh is not None:
            iv = fresh["prompts"][name]["indices_interval"]
            low, high = [float(iv[d]["low"]) for d in dims], [float(iv[d]["high"]) for d in dims]
        prompts[name] = {"value": value, "low": low, "high": high}
    interval = (f"mean of {fresh['draws']} fresh draws, whiskers: 95% bootstrap interval over draws"
                if fresh is not None else "expected answers (deterministic): no interval")
    return {"dimensions": dims, "target": [row["target"] for row in report["table"]], "prompts": prompts,
            "interval": interval, "l1": dict(report["l1"])}


def plot_dimensions(report: dict[str, Any], path: Path) -> Path:
    """The six cultural dimensions as a PNG: per dimension a bar for naive, persona and optimized, the target a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chart = dimension_chart(report)
    fig = Figure(figsize=(8.0, 4.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(chart["dimensions"]), dtype=float)
    width = 0.26
    for k, name in enumerate(ROWS):
        p = chart["prompts"][name]
        v = np.asarray(p["value"])
        err = None if p["low"] is None else np.vstack([v - np.asarray(p["low"]), np.asarray(p["high"]) - v])
        ax.bar(x + (k - 1) * width, v, width * 0.92, yerr=err, capsize=2.5, color=_PROMPT_COLORS[name],
               edgecolor="black", lw=0.4, error_kw={"elinewidth": 0.9}, zorder=2,
               label=f"{name} (L1 {chart['l1'][name]:.1f})")
    labelled = False
    for i, t in enumerate(chart["target"]):
        if t is not None:
            ax.hlines(t, i - 1.6 * width, i + 1.6 * width, color="black", lw=2.2, zorder=3,
                      label="_" if labelled else "Hofstede target")
            labelled = True
    ax.set_xticks(x)
    ax.set_xticklabels(chart["dimensions"])
    ax.set_ylabel("VSM 2013 index")
    ax.grid(True, axis="y", color="0.92", zorder=0)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    cfg = report.get("config", {})
    ax.set_title(f"{report['country']}: six cultural dimensions, target vs LM ({cfg.get('model', 'LM')}, "
                 f"{report['evaluations']} evaluations)\n"
                 f"bars: {chart['interval']}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def write_report(report: dict[str, Any], folder: Path) -> dict[str, Path]:
    """report.json, report.md, convergence.png and dimensions.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "report.json",
        "markdown": folder / "report.md",
        "plot": folder / "convergence.png",
        "dimensions": folder / "dimensions.png",
    }
    paths["json"].write_text(json.dumps(report, indent=2, default=str) + "\n")
    paths["markdown"].write_text(markdown(report))
    plot_convergence(report, paths["plot"])
    plot_dimensions(report, paths["dimensions"])
    return paths
