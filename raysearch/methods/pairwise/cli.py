"""``python -m raysearch.train {bt,scpo}``: the global model G, then the BT or SCPO model, compared per community."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from raysearch.data.goqa_files import STRICT_HELP
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import prepare
from raysearch.train.config import add_config_flags, add_run_flags, config_from_cli

#: ``--smoke-test``: a tiny run
SMOKE = {"max_train_pairs": 48, "epochs": 1, "max_length": 32, "n_boot": 100, "log_every": 2}


def add_cli(p: argparse.ArgumentParser) -> None:
    """Flags of ``python -m raysearch.train {bt,scpo}``."""
    p.add_argument("--data", default="goqa", help="goqa (bundled slice), prism (Hugging Face), a GlobalOpinionQA file "
                   "(.json, .jsonl, .csv, .parquet), or a PRISM folder")
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    p.add_argument("--communities", nargs="+", default=None, metavar="NAME",
                   help="communities to train on (default: the SCPO countries present)")
    p.add_argument("--margin", type=float, default=0.05, help="GlobalOpinionQA: min share gap that makes a pair")
    p.add_argument("--max-train-pairs", type=int, default=None,
                   help="subsample the training pairs, community and global (seeded)")
    add_run_flags(p, out_help="output folder (a stage whose config and data are unchanged is reused)",
                  smoke_help="tiny run: 48 pairs, 1 epoch, 32 tokens")
    add_config_flags(p, PairwiseConfig)


def run_cli(args: argparse.Namespace) -> int:
    """Train G, then the BT or SCPO model, on Ray Train; print the per-community table."""
    cfg = config_from_cli(args, PairwiseConfig, smoke=SMOKE, objective=args.objective)
    # Validate everything before anything is written or Ray is started.
    from raysearch.models.backbone import resolve_backbone

    resolve_backbone(cfg.backbone)
    if cfg.reference is not None:
        cfg.reference = resolve_backbone(cfg.reference)
    data, notes = prepare(args.data, args.communities, cfg, seed=cfg.seed, strict=args.strict,
                          max_train_pairs=args.max_train_pairs,
                          max_global_pairs=args.max_train_pairs, margin=args.margin)
    for note in notes:
        print(f"[raysearch.train] {note}", flush=True)
    print("[raysearch.train] pairs per community (train/val/test): " + ", ".join(
        f"{c} {a}/{b}/{t}" for c, a, b, t in data.size_table()), flush=True)

    from raysearch.methods.pairwise.experiment import run_experiment
    from raysearch.methods.pairwise.report import markdown_table, print_table
    from raysearch.ray_env import init_ray

    out = Path(args.out)
    t0 = time.perf_counter()
    mode = init_ray(num_cpus=None)
    print(f"[raysearch.train] Ray: {mode}; {args.workers} worker(s), gpu={args.gpu}", flush=True)
    res = run_experiment(cfg, data, out=out, workers=args.workers, gpu=args.gpu, reference=cfg.reference,
                         cpus=args.cpus_per_worker)
    minutes = (time.perf_counter() - t0) / 60
    print_table(res)
    (out / "table.md").write_text(markdown_table(res) + f"\nWall time: {minutes:.1f} min.\n")
    (out / "config.json").write_text(json.dumps({"args": dict(vars(args)), "config": cfg.to_dict()}, indent=2, default=str))
    if res.extra.get("scpo/n_kept") is not None:
        print(f"SCPO kept {int(res.extra['scpo/n_kept'])}/{int(res.extra['scpo/n_pairs'])} training pairs.")
    print(f"Model: {res.model_path} (load with raysearch.models.RewardModel.load); table: {out / 'table.md'}; "
          f"{minutes:.1f} min")
    return 0
