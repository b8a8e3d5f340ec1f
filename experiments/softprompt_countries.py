"""Soft prompts toward several countries' Hofstede profiles: naive vs persona vs optimized, over seeds.

Runs the default soft-prompt search, ``python -m raysearch.softprompt``, for every country and
seed (expected mode: deterministic answers) and once per country in sample mode (answers drawn as
in the paper, then re-scored on fresh draws), each with the GlobalOpinionQA side check on every
question of the country in the bundled slice. It then writes one table:

- expected mode: the VSM 2013 L1 distance to the Hofstede targets of the plain model (naive), the
  persona prompt and the optimized soft prompt, with the optimized prompt's spread over seeds (the
  naive and persona prompts do not depend on the seed), and each dimension;
- sample mode: the fresh-draw means with 95% intervals and the paired differences;
- GlobalOpinionQA: the mean Jensen-Shannon distance to the country's answers and the paired
  difference optimized − persona over the same questions (per-question distances averaged over
  seeds, questions resampled).

Every run keeps its folder (``report.json``, the adapter) under ``--out``; a finished run is
reused, an unfinished one resumed, so countries and seeds can be split across sessions.

    python experiments/softprompt_countries.py
    python experiments/softprompt_countries.py --countries "U.S.A." China India "Arab countries" --seeds 0 1 2
    python experiments/softprompt_countries.py --summary          # the table from what is there
    python experiments/softprompt_countries.py --seeds --sample-seeds 0 1 2 --goqa 0 --search-draws 8 \
        --out runs/experiments/softprompt_countries-draws8 --against docs/results/softprompt-countries
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

COUNTRIES = ("U.S.A.", "China", "India", "Arab countries")
DIMS = ("PDI", "IDV", "MAS", "UAI", "LTO", "IVR")


def slug(country: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", country.lower()).strip("-")


def run_dir(out: Path, country: str, mode: str, seed: int) -> Path:
    return out / f"{slug(country)}-{mode}-seed{seed}"


def run_one(country: str, mode: str, seed: int, *, out: Path, goqa: int, workers: int, extra: list[str]) -> dict[str, Any]:
    """The CLI for one country, mode and seed (reused when finished, resumed when not); its report."""
    folder = run_dir(out, country, mode, seed)
    if (folder / "report.json").is_file():
        return json.loads((folder / "report.json").read_text())
    cmd = [sys.executable, "-m", "raysearch.softprompt", "--country", country, "--seed", str(seed), "--mode", mode,
           "--goqa", str(goqa), "--workers", str(workers), "--out", str(folder), *extra]
    if folder.exists():
        cmd.append("--resume")
    print(f"[softprompt-countries] {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with (out / f"{folder.name}.log").open("w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
    if rc != 0:
        raise SystemExit(f"{folder.name}: the run failed (exit {rc}); see {out / f'{folder.name}.log'}")
    report = json.loads((folder / "report.json").read_text())
    report["wall_s"] = time.perf_counter() - t0
    (folder / "wall_s.txt").write_text(f"{report['wall_s']:.1f}")
    return report


def _wall(folder: Path) -> float | None:
    f = folder / "wall_s.txt"
    return float(f.read_text()) if f.is_file() else None


def expected_table(reports: dict[int, dict[str, Any]], country: str) -> list[str]:
    seeds = sorted(reports)
    first = reports[seeds[0]]
    opt = np.array([reports[s]["l1"]["optimized"] for s in seeds])
    rows = [f"#### {country}, expected mode, seeds {' '.join(map(str, seeds))}", "",
            "| dimension | target | naive | persona | optimized, mean over seeds [min, max] |", "|---|---:|---:|---:|---:|"]
    for k, row in enumerate(first["table"]):
        vals = np.array([reports[s]["table"][k]["optimized"] for s in seeds])
        tgt = "–" if row["target"] is None else f"{row['target']:g}"
        rows.append(f"| {row['dimension']} | {tgt} | {row['naive']:.1f} | {row['persona']:.1f} | "
                    f"{vals.mean():.1f} [{vals.min():.1f}, {vals.max():.1f}] |")
    sd = f" ± {opt.std(ddof=1):.1f} (sd)" if len(seeds) > 1 else ""
    rows.append(f"| **L1** | | {first['l1']['naive']:.1f} | {first['l1']['persona']:.1f} | "
                f"**{opt.mean():.1f}**{sd} [{opt.min():.1f}, {opt.max():.1f}] |")
    rows += ["", "Optimized L1 per seed: " + ", ".join(f"{s}: {reports[s]['l1']['optimized']:.1f}" for s in seeds)
             + f"; below persona in {int((opt < first['l1']['persona']).sum())} of {len(seeds)} seeds."]
    return rows


def goqa_lines(reports: dict[int, dict[str, Any]]) -> tuple[list[str], str]:
    """The GlobalOpinionQA paragraph, and the overview's cell (optimized − persona with its interval)."""
    from raysearch.metrics.paired import paired_difference

    with_check = [r["goqa"] for r in reports.values() if "js_per_question" in r.get("goqa", {})]
    if not with_check:
        return ["GlobalOpinionQA check: not run."], "–"
    n = {len(g["js_per_question"]["optimized"]) for g in with_check}
    if len(n) != 1:
        return ["GlobalOpinionQA check: the seeds asked different numbers of questions; not pooled."], "–"
    per_q = {name: np.mean([g["js_per_question"][name] for g in with_check], axis=0) for name in ("naive", "persona", "optimized")}
    out = [f"GlobalOpinionQA check, {n.pop()} of the country's questions, per-question "
           f"JS distance averaged over {len(with_check)} seed(s): naive {per_q['naive'].mean():.3f}, persona "
           f"{per_q['persona'].mean():.3f}, optimized {per_q['optimized'].mean():.3f}."]
    cells = {}
    for a, b in (("optimized", "persona"), ("optimized", "naive"), ("persona", "naive")):
        iv = paired_difference(per_q[a], per_q[b], n_boot=2000, seed=0)
        cells[a, b] = f"{iv.value:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}]"
        out.append(f"- {a} − {b}: {cells[a, b]} (paired 95% interval over questions)")
    return out, cells["optimized", "persona"]


def sample_lines(report: dict[str, Any], country: str, seed: int) -> list[str]:
    fresh = report.get("fresh")
    if not fresh:
        return []
    l1 = {name: fresh["prompts"][name] for name in ("naive", "persona", "optimized")}

    def iv(d: dict[str, Any], signed: bool = False) -> str:
        f = "{:+.1f}" if signed else "{:.1f}"
        return f"{f.format(d['mean'])} [{f.format(d['low'])}, {f.format(d['high'])}]"

    cells = []
    for name in ("naive", "persona", "optimized"):
        ci = l1[name].get("loss_interval") or {}
        cells.append(f"{name} {l1[name]['loss']:.1f}" + (f" [{ci['low']:.1f}, {ci['high']:.1f}]" if ci else ""))
    out = [f"Sample mode (seed {seed}, fresh draws): L1 " + ", ".join(cells) + "; paired: "
           + ", ".join(f"{k} {iv(v, True)}" for k, v in fresh["paired"].items()) + "."]
    return out


def summary(out: Path, countries: list[str], seeds: list[int], sample_seeds: list[int], against: Path | None = None) -> str:
    parts = ["## Soft prompts per country: naive vs persona vs optimized (`experiments/softprompt_countries.py`)", ""]
    overview = ["| country | naive L1 | persona L1 | optimized L1, mean ± sd over seeds | seeds | GOQA JSD optimized − persona |",
                "|---|---:|---:|---:|---|---|"]
    expected_run = False
    for c in countries:
        reports = {s: json.loads((run_dir(out, c, "expected", s) / "report.json").read_text())
                   for s in seeds if (run_dir(out, c, "expected", s) / "report.json").is_file()}
        if not reports:
            overview.append(f"| {c} | not run | | | | |")
        else:
            expected_run = True
            opt = np.array([r["l1"]["optimized"] for r in reports.values()])
            first = next(iter(reports.values()))
            g, gcell = goqa_lines(reports)
            sd = f" ± {opt.std(ddof=1):.1f}" if len(opt) > 1 else ""
            overview.append(f"| {c} | {first['l1']['naive']:.1f} | {first['l1']['persona']:.1f} | {opt.mean():.1f}{sd} | "
                            f"{' '.join(map(str, sorted(reports)))} | {gcell} |")
            parts += [*expected_table(reports, c), "", *g, ""]
            walls = [w for s in reports if (w := _wall(run_dir(out, c, "expected", s))) is not None]
            if walls:
                parts += [f"Wall time per run: {min(walls) / 60:.1f}–{max(walls) / 60:.1f} min.", ""]
        sampled = []
        for s in sample_seeds:
            report = _sample_report(out, c, s)
            if report is not None:
                wall = _wall(run_dir(out, c, "sample", s))
                sampled += [*sample_lines(report, c, s),
                            *([f"Wall time: {wall / 60:.1f} min."] if wall is not None else []), ""]
        parts += [f"#### {c}, sample mode", "", *sampled] if sampled and not reports else sampled
    if against is not None:
        parts += against_lines(out, against, countries, sample_seeds)
    if not expected_run:  # sample runs only: no expected-mode table
        overview = []
    return "\n".join([*parts[:2], *overview, "", *parts[2:]]) + "\n"


def _sample_report(folder: Path, country: str, seed: int) -> dict[str, Any] | None:
    """A sample run's report: a run folder's report.json, or a copy named <run folder>.json."""
    run = run_dir(folder, country, "sample", seed)
    for f in (run / "report.json", run.with_suffix(".json")):
        if f.is_file():
            return json.loads(f.read_text())
    return None


def against_lines(out: Path, other: Path, countries: list[str], seeds: list[int]) -> list[str]:
    """Sample runs here against the runs of the same country and seed in ``other`` (the same init,
    subspace and optimizer seed; e.g. one search draw there, several here).

    Per run: the optimized prompt here minus the one there in fresh-draw L1. Runs of one seed share
    their fresh draws (both exclude their search draws, which almost never meet a fresh seed), so
    the difference is paired over the same draws, with a bootstrap interval. Where the draws differ,
    the baselines (the same prompts in both runs) are the control instead: the difference of the
    gaps optimized − persona, without a per-run interval. Pooled: the mean over runs, with a t
    interval over runs, and how often each side's optimized prompt beats both baselines."""
    from raysearch.metrics.paired import paired_difference, t_half_width

    rows = ["| country | seed | optimized L1 here | there | here − there | same fresh draws |", "|---|---:|---:|---:|---:|---|"]
    diffs: list[float] = []
    counts = {"here": {"both": 0, "worse": 0}, "there": {"both": 0, "worse": 0}}
    for c in countries:
        for s in seeds:
            a, b = _sample_report(out, c, s), _sample_report(other, c, s)
            if a is None or b is None or "fresh" not in a or "fresh" not in b:
                continue
            fa, fb = a["fresh"], b["fresh"]
            for side, f in (("here", fa), ("there", fb)):
                p = f["paired"]
                counts[side]["both"] += p["optimized - persona"]["high"] < 0 and p["optimized - naive"]["high"] < 0
                counts[side]["worse"] += p["optimized - naive"]["low"] > 0
            if fa["seeds"] == fb["seeds"]:
                iv = paired_difference(fa["prompts"]["optimized"]["draw_losses"], fb["prompts"]["optimized"]["draw_losses"])
                diffs.append(iv.value)
                cell, same = f"{iv.value:+.1f} [{iv.low:+.1f}, {iv.high:+.1f}]", "yes"
            else:
                gap = [f["paired"]["optimized - persona"]["mean"] for f in (fa, fb)]
                diffs.append(gap[0] - gap[1])
                cell, same = f"{diffs[-1]:+.1f}", "no: gap to persona"
            rows.append(f"| {c} | {s} | {fa['prompts']['optimized']['loss']:.1f} | {fb['prompts']['optimized']['loss']:.1f} "
                        f"| {cell} | {same} |")
    n = len(diffs)
    if not n:
        return [f"No sample run here has a partner in {other}.", ""]
    d = np.array(diffs)
    iv = f" [{d.mean() - t_half_width(d):+.1f}, {d.mean() + t_half_width(d):+.1f}] (95% t interval over runs)" if n > 1 else ""
    here, there = counts["here"], counts["there"]
    return [f"### Sample runs here against {other}", "",
            "Optimized prompt's fresh-draw L1, here and there, and their difference (negative: here is closer; "
            "95% paired bootstrap interval over the shared draws):", "", *rows, "",
            f"- here − there, mean over {n} runs: {d.mean():+.1f}{iv}",
            f"- optimized below both baselines (both paired intervals under 0): {here['both']} of {n} here, "
            f"{there['both']} of {n} there",
            f"- optimized above the plain model (interval over 0): {here['worse']} of {n} here, {there['worse']} of {n} there", ""]


def main(argv: list[str] | None = None) -> int:
    from raysearch.errors import UserInputError
    from raysearch.io import atomic_write_text

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--countries", nargs="+", default=list(COUNTRIES), help="Hofstede names (default: %(default)s)")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="expected-mode seeds (none: skip)")
    p.add_argument("--sample-seeds", type=int, nargs="*", default=[0], help="sample-mode seeds (none: skip)")
    p.add_argument("--goqa", type=int, default=500, help="GlobalOpinionQA questions per country (more than any "
                   "country has: all of them)")
    p.add_argument("--workers", type=int, default=0, help="Ray scoring actors per run (0: in process)")
    p.add_argument("--out", type=Path, default=Path("runs/experiments/softprompt_countries"))
    p.add_argument("--summary", action="store_true", help="only write the table from finished runs")
    p.add_argument("--against", type=Path, help="compare the sample runs with those of the same country and seed "
                   "in this folder (run folders, or report copies named like them, e.g. docs/results/softprompt-countries)")
    a, extra = p.parse_known_args(argv)
    if extra and a.summary:
        raise UserInputError(f"--summary takes no run flags: {' '.join(extra)}")
    a.out.mkdir(parents=True, exist_ok=True)
    if not a.summary:
        for mode, seeds in (("expected", a.seeds), ("sample", a.sample_seeds)):
            for s in seeds:
                for c in a.countries:
                    run_one(c, mode, s, out=a.out, goqa=a.goqa, workers=a.workers, extra=extra)
                    atomic_write_text(a.out / "table.md", summary(a.out, a.countries, a.seeds, a.sample_seeds, a.against))
    text = summary(a.out, a.countries, a.seeds, a.sample_seeds, a.against)
    atomic_write_text(a.out / "table.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    from raysearch.errors import run_cli

    raise SystemExit(run_cli(main))
