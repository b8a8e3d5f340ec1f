"""NP-BTL, the few-shot steerable reward model, behind the objective interface of ``raysearch.train.registry``.

Objective and model: ``raysearch.objectives.npbtl``, ``raysearch.models.npbtl`` (Kobalczyk et al.
2024, arXiv:2412.13998). Data: ``raysearch.train.npbtl_data`` (countries, simulated respondents or
synthetic two-type users; held-out users; features embedded once). Loop: ``raysearch.train.npbtl_loop``.
Single run (``python -m raysearch.train npbtl``): NP-BTL on Ray Train workers, the BTL and DPL
baselines bare (small MLPs on cached features), and the paper's table: held-out accuracy against
context size. Search (``python -m raysearch.tune npbtl``): trials share the prepared data; the
Pareto plot's reference point is BTL (no context).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from raysearch.data.tasks import EVAL_CONTEXT_SIZES
from raysearch.errors import UserInputError
from raysearch.metrics.accuracy import Interval, bootstrap_accuracy
from raysearch.train.config import add_config_flags, config_from_args
from raysearch.train.npbtl_config import NpbtlConfig
from raysearch.train.npbtl_data import DATA_KEYS, SOURCES, NpbtlData, prepare
from raysearch.train.npbtl_loop import META_FILE, load_model, run_loop

__all__ = ["CONFIG_CLS", "DATA_KEYS", "PER_COMMUNITY_PREFIX", "NpbtlConfig", "NpbtlData", "add_cli", "load_model",
           "prepare", "prepare_trials", "run_cli", "run_loop"]

CONFIG_CLS = NpbtlConfig
PER_COMMUNITY_PREFIX = "val/acc_ctx5/"
NAMES = {"npbtl": "NP-BTL", "btl": "BTL", "dpl": "DPL"}
SMOKE = {"steps": 20, "epochs": 1, "n_boot": 100, "log_every": 10, "synthetic_users": 120, "eval_repeats": 1,
         "respondents_per_country": 3, "max_length": 32}
#: ``python -m raysearch.tune npbtl --smoke-test``: short trials
SMOKE_FIXED = {"steps": 20, "epochs": 1, "n_boot": 100, "eval_repeats": 1}
#: --smoke-test on GlobalOpinionQA: a few countries with many questions (embedding every country takes minutes)
SMOKE_COUNTRIES = ["Britain", "Mexico", "Nigeria", "Pakistan", "Russia", "United States"]


# ----------------------------------------------------------------------------- search
def prepare_trials(space: Any, data: NpbtlData, base: NpbtlConfig, paths: Any
                   ) -> tuple[dict[str, Any], NpbtlData, dict[str, tuple[float, float]]]:
    """Trials share ``data`` (features already cached); baseline: BTL (no context) trained bare, once."""
    objectives = [o.metric for o in space.objectives]
    cache = Path(paths.root) / "baseline-btl.json"
    btl = replace(base, model="btl", stochastic=False)
    if cache.exists() and json.loads(cache.read_text()).get("config") == btl.to_dict():
        flat = json.loads(cache.read_text())["flat"]
    else:
        print("[raysearch.tune] BTL baseline (no context) on the cached features", flush=True)
        flat = run_loop(btl, data, workdir=str(Path(paths.root) / "baseline-btl-ckpt")).flat
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"config": btl.to_dict(), "flat": flat}, indent=2))
    missing = [m for m in objectives if m not in flat]
    if missing:
        raise UserInputError(f"objective {missing[0]!r} is not an NP-BTL metric; valid: "
                             f"{', '.join(k for k in flat if k.startswith('val/') and k.count('/') == 1)}")
    trial_base = {**base.to_dict(), **({"users": data.users} if data.users in ("countries", "respondents") else {})}
    return trial_base, data, {"BTL (no context)": (flat[objectives[0]], flat[objectives[1]])}


# ----------------------------------------------------------------------------- results table
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


# ----------------------------------------------------------------------------- CLI
def add_cli(parser: argparse.ArgumentParser) -> None:
    """Flags of ``python -m raysearch.train npbtl``: data, users, Ray workers, output, and every config field."""
    parser.add_argument("--data", default="goqa", help=f"NP-BTL users from: {SOURCES}")
    parser.add_argument("--communities", nargs="+", default=None, metavar="NAME",
                        help="GlobalOpinionQA countries to use (default: all with enough pairs)")
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers (DDP) for NP-BTL")
    parser.add_argument("--gpu", action="store_true", help="one GPU per worker")
    parser.add_argument("--out", default="runs/train", help="output folder: npbtl/, btl/, dpl/, table.md, results.json")
    parser.add_argument("--smoke-test", action="store_true",
                        help="tiny run: 1 epoch of 20 steps; goqa: 6 countries, 32 tokens; synthetic: 120 users")
    add_config_flags(parser, NpbtlConfig, objective="npbtl")


def _copy(src: str, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def run_cli(args: argparse.Namespace) -> int:
    """NP-BTL on Ray Train, BTL and DPL bare; print and write the held-out accuracy table."""
    if args.smoke_test:
        for k, v in SMOKE.items():
            if not hasattr(args, k):
                setattr(args, k, v)
        if args.data != "synthetic" and not args.communities:
            args.communities = SMOKE_COUNTRIES
    cfg: NpbtlConfig = config_from_args(args, NpbtlConfig, objective="npbtl")
    if args.workers < 1:
        raise UserInputError(f"--workers {args.workers} must be >= 1")
    if args.data != "synthetic":  # validate everything before anything is written or Ray is started
        from raysearch.models.backbone import resolve_backbone

        resolve_backbone(cfg.backbone)
    t0 = time.perf_counter()
    data, notes = prepare(args.data, args.communities, cfg, seed=cfg.seed)
    for note in notes:
        print(f"[raysearch.train] {note}", flush=True)
    print("[raysearch.train] users / pairs (train, val, held-out test): " + ", ".join(
        f"{s} {u}/{n}" for s, u, n in data.size_table()), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from raysearch.ray_env import init_ray
    from raysearch.train.ray_train import fit_with_ray

    mode = init_ray(num_cpus=None)
    print(f"[raysearch.train] Ray: {mode}; NP-BTL on {args.workers} worker(s), gpu={args.gpu}", flush=True)
    model_cfg = replace(cfg, model="npbtl")
    fit_with_ray(model_cfg, data, name="npbtl", storage_path=str((out / "ray").resolve()), num_workers=args.workers,
                 use_gpu=args.gpu, out_dir=out / "npbtl")
    shutil.rmtree(out / "ray", ignore_errors=True)
    npbtl_meta = json.loads((out / "npbtl" / META_FILE).read_text())
    results = {"npbtl": heldout_intervals(npbtl_meta)}
    gains = {"npbtl": heldout_gains(npbtl_meta)}
    for kind in ("btl", "dpl"):
        print(f"[raysearch.train] baseline {NAMES[kind]} (bare loop, no Ray)", flush=True)
        res = run_loop(replace(cfg, model=kind, stochastic=False), data, workdir=str(out / f".{kind}-work"))
        assert res.checkpoint is not None
        _copy(res.checkpoint, out / kind)
        shutil.rmtree(out / f".{kind}-work", ignore_errors=True)
        results[kind] = heldout_intervals(json.loads((out / kind / META_FILE).read_text()))
    minutes = (time.perf_counter() - t0) / 60
    users = {"countries": "countries", "respondents": "simulated respondents of countries",
             "synthetic": "synthetic users"}[data.users]
    n_test = data.size_table()[2][1]
    caption = (f"Held-out accuracy (%) on target pairs of {n_test} unseen test {users} ({args.data}), against the "
               f"number of context pairs; 95% interval: bootstrap over users. Ties count wrong.")
    caption += " Gain: accuracy minus accuracy with no context on the same targets (paired bootstrap over users)."
    print_table(results, title="NP-BTL vs BTL vs DPL: held-out accuracy against context size", caption=caption,
                gains=gains)
    (out / "table.md").write_text(markdown_table(results, caption=caption, gains=gains)
                                  + f"\nWall time: {minutes:.1f} min.\n")
    (out / "results.json").write_text(json.dumps({
        "data": args.data, "users": data.users, "config": cfg.to_dict(), "notes": notes, "wall_min": minutes,
        "accuracy": {k: {str(c): iv.__dict__ for c, iv in r.items()} for k, r in results.items()},
        "gain_vs_no_context": {k: {str(c): iv.__dict__ for c, iv in r.items()} for k, r in gains.items()}}, indent=2))
    print(f"Models: {out / 'npbtl'}, {out / 'btl'}, {out / 'dpl'} (raysearch.train.npbtl.load_model); "
          f"table: {out / 'table.md'}; {minutes:.1f} min")
    return 0
