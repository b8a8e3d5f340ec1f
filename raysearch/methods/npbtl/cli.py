"""``python -m raysearch.train npbtl``: NP-BTL on Ray Train workers, the BTL and DPL baselines bare
(small MLPs on cached features, through the same runner), and the paper's table: held-out accuracy
against context size."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from raysearch.data.goqa_files import STRICT_HELP
from raysearch.io import atomic_dir, atomic_write_text
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import SOURCES, prepare
from raysearch.methods.npbtl.report import NAMES, heldout_gains, heldout_intervals, markdown_table, print_table
from raysearch.train.checkpoint import read_meta
from raysearch.train.config import add_config_flags, add_run_flags, config_from_cli

#: ``--smoke-test``: a tiny run
SMOKE = {"steps": 20, "epochs": 1, "n_boot": 100, "log_every": 10, "synthetic_users": 120, "eval_repeats": 1,
         "respondents_per_country": 3, "max_length": 32}
#: --smoke-test on GlobalOpinionQA: a few countries with many questions (embedding every country takes minutes)
SMOKE_COUNTRIES = ["Britain", "Mexico", "Nigeria", "Pakistan", "Russia", "United States"]


def add_cli(parser: argparse.ArgumentParser) -> None:
    """Flags of ``python -m raysearch.train npbtl``: data, users, Ray workers, output, and every config field."""
    parser.add_argument("--data", default="goqa", help=f"NP-BTL users from: {SOURCES}")
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    parser.add_argument("--communities", nargs="+", default=None, metavar="NAME",
                        help="GlobalOpinionQA countries to use (default: all with enough pairs)")
    add_run_flags(parser, out_help="output folder: npbtl/, btl/, dpl/, table.md, results.json",
                  smoke_help="tiny run: 1 epoch of 20 steps; goqa: 6 countries, 32 tokens; synthetic: 120 users")
    add_config_flags(parser, NpbtlConfig)


def run_cli(args: argparse.Namespace) -> int:
    """NP-BTL on Ray Train, BTL and DPL bare; print and write the held-out accuracy table."""
    if args.smoke_test and args.data != "synthetic" and not args.communities:
        args.communities = SMOKE_COUNTRIES
    cfg: NpbtlConfig = config_from_cli(args, NpbtlConfig, smoke=SMOKE, objective="npbtl")
    if args.data != "synthetic":  # validate everything before anything is written or Ray is started
        from raysearch.models.backbone import resolve_backbone

        resolve_backbone(cfg.backbone)
    t0 = time.perf_counter()
    data, notes = prepare(args.data, args.communities, cfg, seed=cfg.seed, strict=args.strict)
    for note in notes:
        print(f"[raysearch.train] {note}", flush=True)
    print("[raysearch.train] users / pairs (train, val, held-out test): " + ", ".join(
        f"{s} {u}/{n}" for s, u, n in data.size_table()), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from raysearch.methods.npbtl import METHOD
    from raysearch.ray_env import init_ray
    from raysearch.train.ray_train import fit_with_ray
    from raysearch.train.runner import run

    mode = init_ray(num_cpus=None)
    print(f"[raysearch.train] Ray: {mode}; NP-BTL on {args.workers} worker(s), gpu={args.gpu}", flush=True)
    fit_with_ray(replace(cfg, model="npbtl"), data, name="npbtl", storage_path=str((out / "ray").resolve()),
                 num_workers=args.workers, use_gpu=args.gpu, out_dir=out / "npbtl", method=METHOD,
                 cpus_per_worker=args.cpus_per_worker)
    shutil.rmtree(out / "ray", ignore_errors=True)
    npbtl_meta = read_meta(out / "npbtl")
    results = {"npbtl": heldout_intervals(npbtl_meta)}
    gains = {"npbtl": heldout_gains(npbtl_meta)}
    for kind in ("btl", "dpl"):
        print(f"[raysearch.train] baseline {NAMES[kind]} (bare, no Ray)", flush=True)
        work = out / f".{kind}-work"
        res = run(METHOD, replace(cfg, model=kind, stochastic=False), data, workdir=str(work))
        assert res.checkpoint is not None
        with atomic_dir(out / kind) as tmp:
            shutil.copytree(res.checkpoint, tmp, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        results[kind] = heldout_intervals(read_meta(out / kind))
    minutes = (time.perf_counter() - t0) / 60
    users = {"countries": "countries", "respondents": "simulated respondents of countries",
             "synthetic": "synthetic users"}[data.users]
    n_test = data.size_table()[2][1]
    caption = (f"Held-out accuracy (%) on target pairs of {n_test} unseen test {users} ({args.data}), against the "
               f"number of context pairs; 95% interval: bootstrap over users. Ties count wrong.")
    caption += " Gain: accuracy minus accuracy with no context on the same targets (paired bootstrap over users)."
    print_table(results, title="NP-BTL vs BTL vs DPL: held-out accuracy against context size", caption=caption,
                gains=gains)
    atomic_write_text(out / "table.md", markdown_table(results, caption=caption, gains=gains)
                      + f"\nWall time: {minutes:.1f} min.\n")
    atomic_write_text(out / "results.json", json.dumps({
        "data": args.data, "users": data.users, "config": cfg.to_dict(), "notes": notes, "wall_min": minutes,
        "accuracy": {k: {str(c): iv.__dict__ for c, iv in r.items()} for k, r in results.items()},
        "gain_vs_no_context": {k: {str(c): iv.__dict__ for c, iv in r.items()} for k, r in gains.items()}}, indent=2))
    print(f"Models: {out / 'npbtl'}, {out / 'btl'}, {out / 'dpl'} (raysearch.methods.npbtl.METHOD.load_model); "
          f"table: {out / 'table.md'}; {minutes:.1f} min")
    return 0
