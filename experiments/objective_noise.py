"""How noisy is each search objective? Seed noise and resampling noise against the spread between configurations.

A multi-objective search can only rank trials by an objective whose noise (the same configuration
trained with another seed; the same model scored on resampled validation questions) is smaller
than the spread between configurations. This script samples ``--configs`` configurations from a
search space (seeded random sampling), trains each with every ``--seeds`` seed at the space's
fixed budget (bare, no Ray; G and SCPO's margins computed once, as the search does), scores the
*validation* pairs only (nothing here reads test), and prints for each candidate objective
(``val/mean_acc``, ``val/worst_acc``, ``val/worst2_acc``, ``val/worst3_acc``, ``val/minority_acc``):

- seed SD: the within-configuration standard deviation over seeds, pooled over configurations;
- resample SD: the bootstrap standard deviation over validation questions of one trained model;
- spread: the standard deviation of the configurations' seed-mean objective across configurations;
- signal share: var(between) / (var(between) + var(seed)), the share of a trial's objective that is
  the configuration rather than the seed (0.5 means half of a trial-to-trial difference is noise).

    python experiments/objective_noise.py                               # scpo.yaml, 6 configs x 3 seeds
    python experiments/objective_noise.py --configs 8 --seeds 0 1 2 3

Numbers and the objectives chosen from them: docs/search-noise.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import torch

from raysearch.errors import UserInputError, run_cli
from raysearch.methods.pairwise.baselines import global_config
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import DATA_KEYS, TrainData, prepare_data
from raysearch.methods.pairwise.step import reference_margins, train_bare
from raysearch.metrics.accuracy import community_metrics, summary_resample_sd
from raysearch.models.scoring import RewardModel
from raysearch.train.checkpoint import MODEL_DIR
from raysearch.tune.space_files import builtin_space_path, load_space

CANDIDATES = ("mean_acc", "worst_acc", "worst2_acc", "worst3_acc", "minority_acc")


def candidates(correct: np.ndarray, comm: list[str], groups: list[str], *, n_boot: int, seed: int) -> dict:
    """Every candidate objective of one model's validation correctness, and its resampling SD."""
    flat = community_metrics(correct, comm, n_boot=1).flat()
    sd = summary_resample_sd(correct, comm, groups, n_boot=n_boot, seed=seed)
    return {**{c: flat[c] for c in CANDIDATES}, "resample_sd": {c: sd[c] for c in CANDIDATES}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--space", default=str(builtin_space_path("scpo")), help="search-space YAML (an scpo space)")
    p.add_argument("--configs", type=int, default=6, help="configurations sampled from the space")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds per configuration")
    p.add_argument("--n-boot", type=int, default=300, help="bootstrap resamples for the resample SD")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/objective_noise"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    space = load_space(a.space, valid_keys=None)
    if space.experiment != "scpo":
        raise UserInputError(f"--space {a.space}: experiment is {space.experiment!r}; this script measures scpo spaces")
    fixed = {k: v for k, v in space.fixed.items() if k not in DATA_KEYS}
    data = prepare_data("goqa", None, seed=space.seed, **{k: v for k, v in space.fixed.items() if k in DATA_KEYS})
    base = PairwiseConfig.from_dict({**fixed, "objective": "scpo", "seed": space.seed, "log_every": 10**9}).validate()
    assert data.global_pairs is not None
    t0 = time.perf_counter()
    a.out.mkdir(parents=True, exist_ok=True)
    evals = {"val": data.pairs.val}
    g_dir = a.out / "global"
    if not (g_dir / MODEL_DIR).is_dir():
        res = train_bare(global_config(base), TrainData(data.global_pairs.train, evals), workdir=str(a.out / "g-run"))
        assert res.checkpoint is not None
        os.replace(res.checkpoint, g_dir)
        shutil.rmtree(a.out / "g-run")
    g_path = str(g_dir / MODEL_DIR)
    margins = reference_margins(replace(base, reference=g_path), data.pairs.train)
    print(f"G and margins ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    sampler = optuna.samplers.RandomSampler(seed=space.seed + 1)
    study = optuna.create_study(sampler=sampler, directions=["maximize", "maximize"])
    configs = [study.ask(space.to_optuna_distributions()).params for _ in range(a.configs)]
    val = data.pairs.val
    comm = [r.community for r in val]
    groups = [r.group for r in val]
    train = TrainData(data.pairs.train, {}, global_train=data.global_pairs.train, margins=margins)
    rows: list[dict] = []
    for k, params in enumerate(configs):
        for seed in a.seeds:
            done = a.out / f"config{k}-seed{seed}.json"
            if done.exists():
                rows.append(json.loads(done.read_text()))
                continue
            cfg = PairwiseConfig.from_dict({**base.to_dict(), **params, "seed": seed, "init_from": g_path,
                                         "reference": g_path}).validate()
            t = time.perf_counter()
            res = train_bare(cfg, train, workdir=str(a.out / f"run-{k}-{seed}"))
            assert res.checkpoint is not None
            ok = RewardModel.load(Path(res.checkpoint) / MODEL_DIR).pair_correct(val, conditioned=True)
            row = {"config": k, "seed": seed, "params": params,
                   **candidates(ok, comm, groups, n_boot=a.n_boot, seed=seed)}
            shutil.rmtree(a.out / f"run-{k}-{seed}")  # the score is kept; the 100 MB checkpoint is not needed
            done.write_text(json.dumps(row))
            rows.append(row)
            print(f"config {k} seed {seed}: " + " ".join(f"{c} {row[c]:.3f}" for c in CANDIDATES)
                  + f" ({time.perf_counter() - t:.0f} s)", flush=True)
    table = noise_table(rows)
    text = (f"Objective noise: {a.configs} configurations of {a.space} (random sampler, seed {space.seed + 1}) x "
            f"seeds {' '.join(map(str, a.seeds))}, validation pairs only ({len(val)} pairs, "
            f"{len(set(groups))} questions).\n\n{table}\n\nWall time {time.perf_counter() - t0:.0f} s.\n")
    print(text)
    tmp = a.out / "noise.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, a.out / "noise.md")
    return 0


def noise_table(rows: list[dict]) -> str:
    """Markdown: per candidate objective, seed SD, resample SD, spread between configurations, signal share."""
    out = ["| objective | seed SD | resample SD | spread between configs (SD of seed means) | signal share |",
           "|---|---|---|---|---|"]
    configs = sorted({r["config"] for r in rows})
    for c in CANDIDATES:
        per = [np.array([r[c] for r in rows if r["config"] == k]) for k in configs]
        within = float(np.sqrt(np.mean([v.var(ddof=1) for v in per if v.size > 1])))
        means = np.array([v.mean() for v in per])
        n_seeds = float(np.mean([v.size for v in per]))
        # var of a seed mean = var_between + var_within / n: remove the noise the seed means still carry
        between_var = max(float(means.var(ddof=1)) - within**2 / n_seeds, 0.0)
        share = between_var / (between_var + within**2) if between_var + within**2 > 0 else float("nan")
        rs = float(np.mean([r["resample_sd"][c] for r in rows]))
        out.append(f"| val/{c} | {within:.4f} | {rs:.4f} | {float(means.std(ddof=1)):.4f} | {share:.2f} |")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
