"""Data efficiency of SCPO against full-data fine-tuning from the same G, on GlobalOpinionQA countries.

"Steerable Cultural Preference Optimization" (SCPO) reports that full-data fine-tuning needs
170–280% of SCPO's community pairs to reach SCPO's accuracy. This script trains, bare (no Ray),
for each training seed and each share of the community training pairs (10/25/50/100% by default,
nested: every smaller share is a subset of the larger):

- fine-tuning from G: BT on the share's pairs, unweighted, community prefix;
- steerable SCPO: one SCPO model from G on the share's pairs (default τ, β), community prefix;

both from the same global reward model G (BT on all global training pairs), trained once per seed
(``--g-dir`` can share it with ``experiments/scpo_baselines.py``'s default-budget folder). The
budget is that script's default (the embedded search default: 1 epoch, 3 frozen MiniLM layers,
64 tokens, batch 32), except that the community pairs are the share of all of them. The split is
by question and fixed (``--data-seed``), so every seed and share is tested on the same pairs.

Per share it reports the mean accuracy over countries (minority and majority means too) with 95%
bootstrap intervals over questions, the paired difference SCPO − fine-tuning, and the pairs ratio:
how many times SCPO's pairs fine-tuning needs to equal SCPO's accuracy
(``raysearch.metrics.efficiency``), with a paired interval. Nothing is chosen on test: every
configuration is fixed in advance. Finished models are reused, so seeds can run as separate
processes into one ``--out`` and a last call assembles the table.

    python experiments/scpo_data_efficiency.py --seeds 0 1 2
    python experiments/scpo_data_efficiency.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from raysearch.errors import UserInputError, run_cli
from raysearch.io import atomic_write_text
from raysearch.methods.pairwise.baselines import FINETUNE, GLOBAL, finetune_config, global_config
from raysearch.methods.pairwise.comparison import (
    STEERABLE,
    fit_bare,
    pair_correct,
    pair_scores,
    steerable_config,
    training_seconds,
)
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.metrics.efficiency import pairs_ratio, ratio_interval
from raysearch.metrics.paired import interval, resample_stats
from raysearch.train.checkpoint import MODEL_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scpo_baselines import budget, check_common, check_g_dirs, override_suffix, train_minutes, with_overrides  # noqa: E402  (the same budget definition as the baselines table)

MODELS = (FINETUNE, STEERABLE)
STATS = ("mean", "minority", "majority", "worst")


def log(msg: str) -> None:
    print(f"[raysearch.efficiency] {msg}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0],
                   help="shares of the community training pairs, increasing, in (0, 1]")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (init, order, dropout)")
    p.add_argument("--data-seed", type=int, default=0,
                   help="seeds the split by question and the nested subsamples (fixed across training seeds)")
    p.add_argument("--communities", nargs="+", default=None, help="countries (default: the SCPO countries)")
    p.add_argument("--backbone", default=PairwiseConfig().backbone, help="reward-model backbone (name or local path)")
    p.add_argument("--g-dir", type=Path, default=None,
                   help="where each seed's G lives or is trained (<g-dir>/seed-<s>/global; default --out). A folder "
                   "of experiments/scpo_baselines.py at the same epochs and frozen layers shares its G (e.g. "
                   "runs/experiments/scpo_baselines/default; .../large-e4-f0 with --epochs 4 --freeze-layers 0); "
                   "a folder holding a G of another config is refused")
    p.add_argument("--epochs", type=int, default=None, help="override the budget's epochs (every model, G included)")
    p.add_argument("--freeze-layers", type=int, default=None,
                   help="override the budget's frozen lowest layers (0: train the whole backbone)")
    p.add_argument("--max-global-pairs", type=int, default=None, help="subsample G's pairs (quick checks only)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of questions")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=None,
                   help="models and results (default runs/experiments/scpo_data_efficiency, plus -e<epochs>/-f<layers> "
                   "when overridden)")
    p.add_argument("--plot", type=Path, default=None, help="also draw the learning curves into this PNG")
    p.add_argument("--smoke-test", action="store_true", help="tiny run (2 countries, 32 global pairs)")
    a = p.parse_args(argv)
    s = a.shares
    if any(not 0 < x <= 1 for x in s) or any(b <= x for x, b in zip(s, s[1:], strict=False)):
        raise UserInputError(f"--shares {' '.join(map(str, s))}: shares must increase within (0, 1], e.g. 0.1 0.25 0.5 1")
    check_common(a)
    if a.smoke_test:
        a.shares = [0.25, 1.0] if a.shares == [0.1, 0.25, 0.5, 1.0] else a.shares
    if a.out is None:  # its own folder per budget: a model folder of another config would be retrained
        a.out = Path("runs/experiments/scpo_data_efficiency" + ("-smoke-test" if a.smoke_test else override_suffix(a)))
    a.g_dir = a.g_dir or a.out
    return a


def nested_subsets(n: int, shares: list[float], seed: int) -> dict[float, np.ndarray]:
    """Indices of each share of ``n`` items: prefixes of one seeded permutation, so each is a subset of the next."""
    perm = np.random.default_rng(seed).permutation(n)
    return {f: np.sort(perm[:max(1, round(f * n))]) for f in shares}


def share_dir(f: float) -> str:
    return f"share-{f * 100:g}"


def run_seed(data: Any, base: PairwiseConfig, shares: list[float], subsets: dict[float, np.ndarray], *, g_dir: Path,
             out: Path) -> dict[str, Any]:
    """G (reused when trained), then per share fine-tuning from G and steerable SCPO; per-pair correctness."""
    import torch

    train = list(data.pairs.train)
    evals = {s: list(getattr(data.pairs, s)) for s in ("test", "val")}
    ml = base.max_length
    g = fit_bare(global_config(base), TrainData(list(data.global_pairs.train)), g_dir, log=log)
    g_model = str(g / MODEL_DIR)
    g_correct = {s: pair_correct(g, pairs, conditioned=False, max_length=ml) for s, pairs in evals.items()}
    rc, rr = pair_scores(g, train, conditioned=False, max_length=ml)  # SCPO's Δ under G, once for every share
    margins = rc - rr
    correct: dict[str, dict[str, dict[float, np.ndarray]]] = {s: {m: {} for m in MODELS} for s in evals}
    # each stage's recorded training time, whenever it was trained (None where not recorded)
    seconds: dict[str, float | None] = {GLOBAL: training_seconds(g)}
    for f in shares:
        idx = subsets[f]
        sub = [train[i] for i in idx]
        for name, cfg, td in (
            (FINETUNE, finetune_config(base, g_model), TrainData(sub)),
            (STEERABLE, steerable_config(base, g_model), TrainData(sub, margins=torch.tensor(margins[idx], dtype=torch.float32))),
        ):
            log(f"seed {base.seed}, share {f:g} ({len(sub)} pairs): {name}")
            ckpt = fit_bare(cfg, td, out / share_dir(f) / ("finetune" if name == FINETUNE else "steerable"), log=log)
            seconds[f"{name}/{f:g}"] = training_seconds(ckpt)
            for s, pairs in evals.items():
                correct[s][name][f] = pair_correct(ckpt, pairs, conditioned=True, max_length=ml)
    return {"correct": correct, "g": g_correct, "seconds": seconds}


def summarize(runs: list[dict[str, Any]], pairs: list, shares: list[float], *, n_boot: int, seed: int) -> dict[str, Any]:
    """Seed-averaged correctness -> per model and share: statistics with intervals; SCPO − FT; the pairs ratio."""
    keys = {f"{m}@{f:g}": (m, f) for m in MODELS for f in shares}
    avg = {k: np.mean([r["correct"][m][f].astype(float) for r in runs], axis=0) for k, (m, f) in keys.items()}
    avg[GLOBAL] = np.mean([r["g"].astype(float) for r in runs], axis=0)
    rs = resample_stats(avg, [p.community for p in pairs], [p.group for p in pairs], n_boot=n_boot, seed=seed)
    col = {s: rs.stats.index(s) for s in STATS}
    acc = {k: {s: interval(rs.point[k][c], rs.boot[k][:, c], rs.n_pairs[c]).__dict__ for s, c in col.items()}
           for k in avg}
    diff = {f"{f:g}": {s: interval(rs.point[f"{STEERABLE}@{f:g}"][c] - rs.point[f"{FINETUNE}@{f:g}"][c],
                                   rs.boot[f"{STEERABLE}@{f:g}"][:, c] - rs.boot[f"{FINETUNE}@{f:g}"][:, c],
                                   rs.n_pairs[c]).__dict__ for s, c in col.items()} for f in shares}
    ratios: dict[str, Any] = {}
    for s, c in col.items():
        ft = [rs.point[f"{FINETUNE}@{f:g}"][c] for f in shares]
        sc = [rs.point[f"{STEERABLE}@{f:g}"][c] for f in shares]
        ft_b = np.stack([rs.boot[f"{FINETUNE}@{f:g}"][:, c] for f in shares], axis=1)
        sc_b = np.stack([rs.boot[f"{STEERABLE}@{f:g}"][:, c] for f in shares], axis=1)
        iv = ratio_interval(shares, ft_b, sc_b)
        ratios[s] = [{"share": r.share, "value": r.value, "kind": r.kind, "text": r.fmt(),
                      "low": float(iv[j, 0]), "high": float(iv[j, 1])} for j, r in enumerate(pairs_ratio(shares, ft, sc))]
    return {"accuracy": acc, "scpo_minus_ft": diff, "ratio": ratios}


def _pct(v: float) -> str:
    return "∞" if v == np.inf else f"{v * 100:.0f}%"


def table(summary: dict[str, Any], shares: list[float], n_pairs: dict[float, int], stat: str) -> str:
    rows = ["| share (pairs) | fine-tuning from G | steerable SCPO | SCPO − FT | pairs FT needs to equal SCPO (95% interval) |",
            "|---|---|---|---|---|"]
    for j, f in enumerate(shares):
        ft, sc = summary["accuracy"][f"{FINETUNE}@{f:g}"][stat], summary["accuracy"][f"{STEERABLE}@{f:g}"][stat]
        d = summary["scpo_minus_ft"][f"{f:g}"][stat]
        r = summary["ratio"][stat][j]
        rows.append(f"| {f * 100:g}% ({n_pairs[f]}) | {ft['value'] * 100:.1f} [{ft['low'] * 100:.1f}, {ft['high'] * 100:.1f}] "
                    f"| {sc['value'] * 100:.1f} [{sc['low'] * 100:.1f}, {sc['high'] * 100:.1f}] "
                    f"| {d['value'] * 100:+.1f} [{d['low'] * 100:+.1f}, {d['high'] * 100:+.1f}] "
                    f"| {r['text']} [{_pct(r['low'])}, {_pct(r['high'])}] |")
    g = summary["accuracy"][GLOBAL][stat]
    rows.append(f"| G (0 community pairs) | {g['value'] * 100:.1f} [{g['low'] * 100:.1f}, {g['high'] * 100:.1f}] | | | |")
    return "\n".join(rows)


def plot(summary: dict[str, Any], shares: list[float], n_pairs: dict[float, int], path: Path, split: str) -> None:
    """Left: mean accuracy over countries against pairs (G as a line). Right: the paired difference SCPO − FT
    (mean and minority) with its 95% interval: the unpaired intervals overlap almost entirely, the paired do not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    xs = [n_pairs[f] for f in shares]
    for m, color in ((FINETUNE, "tab:gray"), (STEERABLE, "tab:blue")):
        a = [summary["accuracy"][f"{m}@{f:g}"]["mean"]["value"] * 100 for f in shares]
        left.plot(xs, a, "o-", color=color, label=m)
    left.axhline(summary["accuracy"][GLOBAL]["mean"]["value"] * 100, color="black", ls="--", lw=1,
                 label="G (no community pairs)")
    left.set_ylabel(f"{split} accuracy, mean over countries (%)")
    left.legend(fontsize=8)
    for k, (stat, color) in enumerate((("mean", "tab:blue"), ("minority", "tab:orange"))):
        d = [summary["scpo_minus_ft"][f"{f:g}"][stat] for f in shares]
        x = [v * (1.04 if k else 0.96) for v in xs]
        right.errorbar(x, [v["value"] * 100 for v in d],
                       yerr=[[(v["value"] - v["low"]) * 100 for v in d], [(v["high"] - v["value"]) * 100 for v in d]],
                       fmt="o", color=color, capsize=3, label=f"{stat} over countries")
    right.axhline(0, color="black", lw=1)
    right.set_ylabel("SCPO − fine-tuning from G (points)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(x) for x in xs])
        ax.set_xlabel("community training pairs")
        ax.grid(alpha=0.3)
    right.set_title("paired difference, 95% interval over questions", fontsize=9)
    fig.suptitle(f"SCPO vs fine-tuning from the same G against community pairs ({split})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import torch

    from raysearch.methods.pairwise.data import prepare_data

    a = parse_args(argv)
    b = with_overrides(budget("default", a.smoke_test), epochs=a.epochs, freeze_layers=a.freeze_layers)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    data = prepare_data("goqa", a.communities, seed=a.data_seed, max_train_pairs=None, max_global_pairs=a.max_global_pairs)
    if a.smoke_test:  # a handful of pairs per share
        from raysearch.data.splits import Split

        data = replace(data, pairs=Split(list(data.pairs.train)[:64], data.pairs.val, data.pairs.test))
    subsets = nested_subsets(len(data.pairs.train), a.shares, a.data_seed)
    n_pairs = {f: len(v) for f, v in subsets.items()}
    log(f"{len(data.pairs.train)} community training pairs; shares " +
        ", ".join(f"{f:g}: {n_pairs[f]}" for f in a.shares) + f"; G on {len(data.global_pairs.train)} global pairs")
    a.out.mkdir(parents=True, exist_ok=True)
    check_g_dirs(a, b, data.global_pairs.train)
    runs, secs = [], {}
    for seed in a.seeds:
        t0 = time.perf_counter()
        base = b.config(a.backbone, seed)
        runs.append(run_seed(data, base, a.shares, subsets, g_dir=a.g_dir / f"seed-{seed}" / "global",
                             out=a.out / f"seed-{seed}"))
        secs[seed] = time.perf_counter() - t0
        log(f"seed {seed} done in {secs[seed] / 60:.1f} min (load average {os.getloadavg()[0]:.1f})")
    wall = time.perf_counter() - t_start
    cmd = "python experiments/scpo_data_efficiency.py " + " ".join(argv if argv is not None else sys.argv[1:])
    summaries = {s: summarize([{"correct": r["correct"][s], "g": r["g"][s]} for r in runs], list(getattr(data.pairs, s)),
                              a.shares, n_boot=a.n_boot, seed=a.data_seed) for s in ("test", "val")}
    parts = ["## SCPO data efficiency against fine-tuning from G", "", f"Command: `{cmd.strip()}`", "",
             f"- Budget: {b.source}; every model {b.epochs} epoch(s) over its share, {b.freeze_layers} frozen layers. G on {len(data.global_pairs.train)} global "
             f"training pairs. Countries: {', '.join(data.communities)}; split by question (data seed {a.data_seed}); "
             f"training seeds {' '.join(map(str, a.seeds))}; per-pair correctness averaged over seeds.",
             f"- Wall time of this call {wall / 60:.1f} min ({a.threads} torch threads; reused models count about 0). "
             "Recorded training time of every model, whenever it was trained, per seed: " +
             ", ".join(f"{k}: {train_minutes(r['seconds'])}" for k, r in zip(a.seeds, runs, strict=True)) + ".",
             "- Pairs ratio: fine-tuning's pairs to equal SCPO's accuracy at that share, as a multiple of SCPO's pairs "
             "(its curve linear in log pairs between measured shares; ≤ and > where it lies outside them)."]
    for s in ("test", "val"):
        n = len(getattr(data.pairs, s))
        for stat in ("mean", "minority", "majority"):
            parts += ["", f"### {s} ({n} pairs), {stat} accuracy over countries (%), 95% intervals over questions", "",
                      table(summaries[s], a.shares, n_pairs, stat)]
    text = "\n".join(parts) + "\n"
    print(text, flush=True)
    res = {"command": cmd.strip(), "shares": a.shares, "n_pairs": {f"{f:g}": n for f, n in n_pairs.items()},
           "seeds": a.seeds, "data_seed": a.data_seed, "communities": data.communities, "wall_s": wall,
           "seed_wall_s": secs, "summaries": summaries,
           "train_seconds": {str(k): r["seconds"] for k, r in zip(a.seeds, runs, strict=True)}}
    atomic_write_text(a.out / "table.md", text)
    atomic_write_text(a.out / "results.json", json.dumps(res, indent=2, default=float))
    if a.plot:
        plot(summaries["test"], a.shares, n_pairs, a.plot, "test")
        log(f"wrote {a.plot}")
    log(f"wrote {a.out / 'table.md'} and {a.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
