"""SCPO against its same-init baselines on GlobalOpinionQA countries, with paired bootstrap intervals.

"Steerable Cultural Preference Optimization" (SCPO) compares against full-data fine-tuning from the
same starting reward model G. This script trains, bare (no Ray), for each training seed:

- G, the global reward model (BT on all global training pairs, no community prefix);
- fine-tuning from G: BT on all community training pairs, unweighted, from G, community prefix;
- per-community SCPO (the paper's setting): one SCPO model per country from G on its own pairs;
- steerable SCPO: one SCPO model from G (default τ, β, no schedule), community prefix.

The data split (by question) and the training subsample are fixed (``--data-seed``) so every
seed is tested on the same pairs; the per-pair correctness of each model is averaged over seeds
and compared with G and with fine-tuning from G on the same resampled questions
(``raysearch.metrics.paired.paired_summary``). All configurations are fixed in advance (the
embedded defaults); nothing is chosen on validation or test.

    python experiments/scpo_baselines.py --budget default --seeds 0 1 2
    python experiments/scpo_baselines.py --budget large --seeds 0 1 2
    python experiments/scpo_baselines.py --smoke-test   # a few minutes

``--g-dir`` takes G from another run of the same budget instead of training it again (for example
``experiments/scpo_data_efficiency.py``'s folder at the same ``--epochs``/``--freeze-layers``); a
folder that holds a G of another config is refused before anything trains.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError, run_cli
from raysearch.methods.pairwise.baselines import FINETUNE, GLOBAL, global_config
from raysearch.methods.pairwise.comparison import (
    MODELS,
    SplitSummary,
    check_shared_g,
    excludes_zero,
    run_seed,
    summarize,
    summary_dict,
)
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.metrics.paired import paired_table

BUDGETS = ("default", "large")


@dataclass(frozen=True)
class Budget:
    """How much each model trains: community training pairs (None: all), epochs, frozen layers, text length."""

    name: str
    max_train_pairs: int | None
    epochs: int
    freeze_layers: int
    max_length: int
    source: str

    def config(self, backbone: str, seed: int) -> PairwiseConfig:
        """The training config of every model at this budget for one training seed."""
        return PairwiseConfig(backbone=backbone, epochs=self.epochs, freeze_layers=self.freeze_layers,
                              max_length=self.max_length, seed=seed, log_every=10).validate()

    def describe(self, n_train: int, n_global: int, data_seed: int) -> str:
        pairs = (f"{n_train} community training pairs (subsampled from all, data seed {data_seed})"
                 if self.max_train_pairs is not None else f"all {n_train} community training pairs")
        return (f"budget {self.name} ({self.source}): {pairs}; G on all {n_global} global training pairs; "
                f"{self.epochs} epoch(s) for every model (G included); freeze_layers {self.freeze_layers} "
                f"(embeddings + lowest {self.freeze_layers} MiniLM layers frozen); max_length {self.max_length}; "
                f"batch 32; lr G 2e-4 (BT default), fine-tuning from G and SCPO 2e-5 (SCPO default); "
                f"SCPO tau/beta at their defaults, no community schedule, no global mix-in")


def budget(name: str, smoke: bool = False) -> Budget:
    """``default``: the embedded search default (``search_spaces/scpo.yaml`` fixed block and the
    ``PairwiseConfig`` defaults it leaves alone); ``large``: all community training pairs, 2 epochs."""
    from raysearch.tune.space_files import builtin_space_path, load_space

    base = PairwiseConfig()
    if smoke:
        return Budget("smoke-test", 32, 1, base.freeze_layers, 32, "smoke test: 32 pairs, 1 epoch, 32 tokens")
    if name == "default":
        path = builtin_space_path("scpo")
        fixed = load_space(path, valid_keys=None).fixed
        return Budget("default", fixed.get("max_train_pairs"), int(fixed.get("epochs", base.epochs)),
                      int(fixed.get("freeze_layers", base.freeze_layers)), int(fixed.get("max_length", base.max_length)),
                      f"the embedded search default, search_spaces/scpo.yaml fixed {dict(fixed)}")
    if name == "large":
        return Budget("large", None, 2, base.freeze_layers, base.max_length, "a larger CPU budget")
    raise UserInputError(f"--budget {name!r} is unknown; valid: {', '.join(BUDGETS)}")


def check_common(a: argparse.Namespace) -> None:
    """The flags this script shares with ``scpo_data_efficiency.py``: one line per bad value; the smoke test's sizes."""
    if len(set(a.seeds)) != len(a.seeds) or min(a.seeds) < 0:
        raise UserInputError(f"--seeds {' '.join(map(str, a.seeds))}: seeds must be distinct and >= 0, e.g. --seeds 0 1 2")
    for flag, v in (("--threads", a.threads), ("--n-boot", a.n_boot), ("--max-global-pairs", a.max_global_pairs),
                    ("--epochs", a.epochs)):
        if v is not None and v < 1:
            raise UserInputError(f"{flag} {v} must be >= 1")
    if a.freeze_layers is not None and a.freeze_layers < 0:
        raise UserInputError(f"--freeze-layers {a.freeze_layers} must be >= 0")
    if a.smoke_test:
        a.communities = a.communities or ["United States", "Chile"]
        a.max_global_pairs = a.max_global_pairs or 32
        a.n_boot = min(a.n_boot, 200)


def override_suffix(a: argparse.Namespace) -> str:
    """``-e<epochs>`` / ``-f<frozen layers>`` for the overridden parts of the budget ('' when none)."""
    return (f"-e{a.epochs}" if a.epochs is not None else "") + (f"-f{a.freeze_layers}" if a.freeze_layers is not None else "")


def with_overrides(b: Budget, *, epochs: int | None, freeze_layers: int | None) -> Budget:
    """``b`` with the epochs and frozen layers given on the command line (None keeps the budget's)."""
    if epochs is None and freeze_layers is None:
        return b
    new = replace(b, epochs=b.epochs if epochs is None else epochs,
                  freeze_layers=b.freeze_layers if freeze_layers is None else freeze_layers)
    return replace(new, name=f"{b.name} (epochs {new.epochs}, freeze_layers {new.freeze_layers})",
                   source=f"{b.source}; overridden: epochs {new.epochs}, freeze_layers {new.freeze_layers}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--budget", default="default", help=f"training budget: {' or '.join(BUDGETS)} (see the docstring)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="training seeds (model init, data order, dropout); one run of the four models each")
    p.add_argument("--data-seed", type=int, default=0, help="seeds the split by question and the training subsample "
                   "(fixed across training seeds, so every seed is tested on the same pairs)")
    p.add_argument("--communities", nargs="+", default=None, help="countries (default: the SCPO countries)")
    p.add_argument("--backbone", default=PairwiseConfig().backbone, help="reward-model backbone (name or local path)")
    p.add_argument("--g-dir", type=Path, default=None,
                   help="where each seed's G lives or is trained (<g-dir>/seed-<s>/global; default --out). "
                   "runs/experiments/scpo_data_efficiency-e4-f0 shares G with experiments/scpo_data_efficiency.py "
                   "at the same --epochs/--freeze-layers; a folder holding a G of another config is refused")
    p.add_argument("--epochs", type=int, default=None, help="override the budget's epochs (every model, G included)")
    p.add_argument("--freeze-layers", type=int, default=None,
                   help="override the budget's frozen lowest layers (0: train the whole backbone)")
    p.add_argument("--max-global-pairs", type=int, default=None, help="subsample G's global training pairs "
                   "(default: all; for quick checks only)")
    p.add_argument("--n-boot", type=int, default=2000, help="paired bootstrap resamples of questions")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoints and results (default runs/experiments/scpo_baselines/BUDGET)")
    p.add_argument("--smoke-test", action="store_true", help="tiny run (2 countries, 32 pairs) to check the script")
    a = p.parse_args(argv)
    if a.budget not in BUDGETS:
        raise UserInputError(f"--budget {a.budget!r} is unknown; valid: {', '.join(BUDGETS)}")
    check_common(a)
    if a.out is None:  # an overridden budget gets its own folder: a stage folder of another config is retrained
        a.out = Path("runs/experiments/scpo_baselines") / ("smoke-test" if a.smoke_test else a.budget + override_suffix(a))
    a.g_dir = a.g_dir or a.out
    return a


def _std_table(s: SplitSummary) -> str:
    rows = ["| model | mean accuracy per seed | std (mean) | worst accuracy per seed | std (worst) |", "|---|---|---|---|---|"]
    for m in MODELS:
        per = s.per_seed[m]
        means = " / ".join(f"{per[k]['mean'] * 100:.1f}" for k in s.seeds)
        worst = " / ".join(f"{per[k]['worst'] * 100:.1f}" for k in s.seeds)
        rows.append(f"| {m} | {means} | {s.seed_std[m]['mean'] * 100:.2f} | {worst} | {s.seed_std[m]['worst'] * 100:.2f} |")
    return "\n".join(rows)


def _reading(s: SplitSummary) -> str:
    lines = []
    for ref, summ in ((GLOBAL, s.vs_global), (FINETUNE, s.vs_finetune)):
        for m in MODELS:
            if m == ref:
                continue
            ex = excludes_zero(summ, m)
            txt = ", ".join(f"{k} {v}" for k, v in ex.items()) or "none (every interval contains 0)"
            lines.append(f"- {m} − {ref}: 95% interval excludes 0 for: {txt}")
    return "\n".join(lines)


def split_section(s: SplitSummary, n_pairs: int) -> str:
    """Markdown for one split: the two paired tables, the seed spread and where intervals exclude 0."""
    seeds = " ".join(map(str, s.seeds))
    return "\n\n".join([
        f"### {s.split} split ({n_pairs} pairs), per-pair correctness averaged over seeds {seeds}",
        f"Accuracy (%) with 95% paired bootstrap intervals over questions; differences against **{GLOBAL}**:",
        paired_table(s.vs_global, models=list(MODELS)),
        f"Differences against **{FINETUNE}** (same resamples):",
        paired_table(s.vs_finetune, models=list(MODELS)),
        "Seed-to-seed spread (accuracy %, each seed alone; std with ddof 1):",
        _std_table(s),
        "Intervals that exclude 0:",
        _reading(s),
    ])


def train_minutes(seconds: dict[str, float | None]) -> str:
    """The summed recorded training time of a seed's stages (None: not recorded), in minutes."""
    known = [v for v in seconds.values() if v is not None]
    missing = len(seconds) - len(known)
    return f"{sum(known) / 60:.1f} min" + (f" (+{missing} stage(s) not recorded)" if missing else "")


def check_g_dirs(a: argparse.Namespace, b: Budget, global_pairs: Any) -> None:
    """Before any training: refuse a shared ``<g-dir>/seed-<s>/global`` holding a G of another config
    (training there would overwrite the G another run's models started from)."""
    from raysearch.methods.pairwise.data import TrainData

    g_data = TrainData(list(global_pairs))
    for seed in a.seeds:
        check_shared_g(global_config(b.config(a.backbone, seed)), g_data, a.g_dir / f"seed-{seed}" / "global")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    import torch

    from raysearch.methods.pairwise.data import prepare_data

    a = parse_args(argv)
    b = with_overrides(budget(a.budget, a.smoke_test), epochs=a.epochs, freeze_layers=a.freeze_layers)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    data = prepare_data("goqa", a.communities, seed=a.data_seed, max_train_pairs=b.max_train_pairs,
                        max_global_pairs=a.max_global_pairs)
    assert data.global_pairs is not None
    for n in data.notes:
        print(n, flush=True)
    sizes = {c: s for c, *s in data.size_table()}
    print("pairs per country (train/val/test): " + ", ".join(f"{c} {x}/{y}/{z}" for c, (x, y, z) in sizes.items()))
    desc = b.describe(len(data.pairs.train), len(data.global_pairs.train), a.data_seed)
    print(desc, flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    check_g_dirs(a, b, data.global_pairs.train)
    runs, secs = [], {}
    for seed in a.seeds:
        t0 = time.perf_counter()
        base = b.config(a.backbone, seed)
        runs.append(run_seed(data, base, a.out / f"seed-{seed}", g_dir=a.g_dir / f"seed-{seed}" / "global"))
        secs[seed] = time.perf_counter() - t0
        print(f"[raysearch.compare] seed {seed} done in {secs[seed] / 60:.1f} min "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    splits = {s: summarize(runs, getattr(data.pairs, s), s, n_boot=a.n_boot, seed=a.data_seed) for s in ("test", "val")}
    wall = time.perf_counter() - t_start
    cmd = "python experiments/scpo_baselines.py " + " ".join(argv if argv is not None else sys.argv[1:])
    head = "\n".join([
        f"## SCPO vs same-init baselines — budget {b.name}", "",
        f"Command: `{cmd.strip()}`", "",
        f"- {desc}.",
        f"- Countries: {', '.join(data.communities)}; split by question (70/15/15, data seed {a.data_seed}); "
        f"training seeds {' '.join(map(str, a.seeds))} (model init, data order, dropout).",
        "- All configurations are fixed in advance (embedded defaults of `raysearch.methods.pairwise.baselines.py` and "
        "`PairwiseConfig`); nothing was chosen on validation or test.",
        f"- Per-community SCPO: one model per country from G on that country's training pairs "
        f"({', '.join(f'{c} {sizes[c][0]}' for c in data.communities)}); each country's pairs are scored by its own model.",
        f"- This call: wall {wall / 60:.1f} min (per seed: {', '.join(f'{k}: {v / 60:.1f}' for k, v in secs.items())} min; "
        f"stages reused from earlier calls count about 0), {a.threads} torch threads, load average at the end "
        f"{os.getloadavg()[0]:.1f}. Recorded training time of every stage, whenever it was trained, per seed: "
        + ", ".join(f"{r.seed}: {train_minutes(r.train_seconds)}" for r in runs) + ".",
    ])
    table = head + "\n\n" + "\n\n".join(split_section(splits[s], len(getattr(data.pairs, s))) for s in ("test", "val")) + "\n"
    print(table, flush=True)
    results: dict[str, Any] = {
        "command": cmd.strip(), "budget": b.__dict__, "budget_text": desc, "communities": data.communities,
        "data_seed": a.data_seed, "seeds": a.seeds, "wall_s": wall, "seed_wall_s": secs,
        "sizes": sizes, "n_global_train": len(data.global_pairs.train),
        "splits": {s: {"vs_global": summary_dict(v.vs_global), "vs_finetune": summary_dict(v.vs_finetune),
                       "per_seed": {m: {str(k): x for k, x in d.items()} for m, d in v.per_seed.items()},
                       "seed_std": v.seed_std} for s, v in splits.items()},
        "runs": [{"seed": r.seed, "checkpoints": r.checkpoints, "trained_on": r.trained_on, "n_train": r.n_train,
                  "seconds": r.seconds, "train_seconds": r.train_seconds} for r in runs],
    }
    _write(a.out / "table.md", table)
    _write(a.out / "results.json", json.dumps(results, indent=2, default=float))
    print(f"wrote {a.out / 'table.md'} and {a.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
