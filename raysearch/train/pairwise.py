"""BT and SCPO, the pairwise objectives, behind the objective interface of ``raysearch.train.registry``.

Data: community preference pairs (``raysearch.data.prepare``). Loop: ``raysearch.train.loop``.
Single run: the global model G, then the BT or SCPO model (``raysearch.train.experiment``).
Search: G and the same-init baseline (fine-tuning from G) are trained once; SCPO's reference margins are
scored once; after the trials the front and the baselines are retrained with more seeds and read on test.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from raysearch.data.prepare import PreferenceData, prepare_data
from raysearch.errors import UserInputError
from raysearch.metrics.accuracy import CommunityMetrics
from raysearch.train.baselines import FINETUNE, GLOBAL, finetune_config, global_config
from raysearch.train.checkpoint import MODEL_DIR, read_meta
from raysearch.train.config import TrainConfig, add_config_flags, config_from_args
from raysearch.train.loop import TrainData, run_training

CONFIG_CLS = TrainConfig
DATA_KEYS = ("max_train_pairs", "max_global_pairs", "margin")
PER_COMMUNITY_PREFIX = "val/acc/"
run_loop = run_training
SMOKE = {"max_train_pairs": 48, "epochs": 1, "max_length": 32, "n_boot": 100, "log_every": 2}


def prepare(source: str, communities: list[str] | None, cfg: TrainConfig, *, seed: int,
            max_train_pairs: int | None = None, max_global_pairs: int | None = None,
            margin: float = 0.05) -> tuple[PreferenceData, list[str]]:
    """Community pairs (and GlobalOpinionQA's global pairs), split by question or user."""
    data = prepare_data(source, communities, margin=margin, seed=seed, max_train_pairs=max_train_pairs,
                        max_global_pairs=max_global_pairs)
    return data, data.notes


def load_model(path: str | Path) -> Any:
    """A trained reward model (a checkpoint folder or its ``model/``), ready to ``score``."""
    from raysearch.models.scoring import RewardModel

    p = Path(path)
    return RewardModel.load(p / MODEL_DIR if (p / MODEL_DIR).is_dir() else p)


# ----------------------------------------------------------------------------- search
def _metrics_point(metrics: CommunityMetrics, objectives: list[str], split: str = "val") -> tuple[float, float]:
    flat = metrics.flat(prefix=f"{split}/")
    return (flat[objectives[0]], flat[objectives[1]])


@dataclass(frozen=True)
class Stage:
    """A model trained outside the trials (G, a baseline): its config, its training data, its folder under the run."""

    cfg: TrainConfig
    data: TrainData
    folder: str


def global_stage(base: TrainConfig, data: PreferenceData) -> Stage | None:
    """G on the global pairs, or None where the source has none (PRISM: G is given with --reference)."""
    if data.global_pairs is None:
        return None
    return Stage(global_config(base), TrainData(data.global_pairs.train, _evals(data)), "global")


def baseline_stage(base: TrainConfig, data: PreferenceData, *, experiment: str, g_path: str | None) -> tuple[str, Stage]:
    """The same-init baseline of the trials: fine-tuning from G for scpo, plain BT from the backbone for bt."""
    if experiment == "scpo":
        assert g_path is not None
        return FINETUNE, Stage(finetune_config(base, g_path), TrainData(data.pairs.train, _evals(data)), "baseline-ft")
    bt_cfg = replace(base, objective="bt", gamma_start=0.0, gamma_end=0.0, shape="constant", global_share=0.0)
    return "BT baseline", Stage(bt_cfg, TrainData(data.pairs.train, _evals(data)), "baseline-bt")


def _evals(data: PreferenceData) -> dict[str, list]:
    return {"val": data.pairs.val, "test": data.pairs.test}


def fit(stage: Stage, *, root: Path, workers: int, gpu: bool, seed: int | None = None) -> str:
    """Train ``stage`` under Ray Train into ``root/folder`` (or ``root/reruns/folder/seed<k>``); reused if unchanged."""
    from raysearch.train.experiment import fit_stage

    cfg, out, name = stage.cfg, root / stage.folder, stage.folder
    if seed is not None and seed != cfg.seed:
        cfg, out, name = replace(cfg, seed=seed), root / "reruns" / stage.folder / f"seed{seed}", f"{name}-seed{seed}"
    path, _ = fit_stage(cfg, stage.data, name=name, out=out, workers=workers, gpu=gpu)
    return path


def prepare_trials(
    space: Any, data: PreferenceData, base: TrainConfig, paths: Any, *, reference: str | None = None,
) -> tuple[dict[str, Any], TrainData, dict[str, tuple[float, float]]]:
    """Train (or reuse) G and the same-init baseline; return the trials' base config, their data, baselines.

    The baseline of an scpo search is full-data fine-tuning from G (``raysearch.train.baselines``):
    the same starting model, data and budget as the trials, without SCPO's filter, weights and schedule.
    """
    import torch

    from raysearch.train.loop import reference_margins

    res = space.resources
    workers, gpu = res.workers, res.gpus_per_worker > 0
    objectives = [o.metric for o in space.objectives]
    baselines: dict[str, tuple[float, float]] = {}
    g_path = reference
    g_stage = global_stage(base, data) if reference is None else None
    if g_stage is not None:
        print(f"[raysearch.tune] global model G on {len(g_stage.data.train)} global pairs", flush=True)
        g_path = fit(g_stage, root=paths.root, workers=workers, gpu=gpu)
        baselines[GLOBAL] = _metrics_point(
            CommunityMetrics.from_dict(read_meta(paths.root / g_stage.folder)["metrics"]["val"]), objectives)
    if g_path is not None and "://" in paths.ray_storage:  # trials on other nodes read G from storage
        from raysearch.train.ray_train import upload

        g_path = upload(g_path, f"{paths.ray_storage.rstrip('/')}/{paths.name}/shared/global-model")
    if space.experiment == "scpo" and g_path is None:
        raise UserInputError(f"{data.kind} has no global preference to train G from; pass --reference PATH")
    name, stage = baseline_stage(base, data, experiment=space.experiment, g_path=g_path)
    print(f"[raysearch.tune] {name} on {len(data.pairs.train)} community pairs", flush=True)
    fit(stage, root=paths.root, workers=workers, gpu=gpu)
    baselines[name] = _metrics_point(
        CommunityMetrics.from_dict(read_meta(paths.root / stage.folder)["metrics"]["val"]), objectives)
    trial_base = base.to_dict()
    margins = None
    if space.experiment == "scpo":
        trial_base.update(init_from=g_path, reference=g_path)
        cache = paths.root / "margins.pt"
        if cache.exists():
            margins = torch.load(cache)
        else:
            print("[raysearch.tune] scoring the training pairs with G once (SCPO margins)", flush=True)
            from raysearch.train.ray_train import local_copy

            g_cfg = TrainConfig.from_dict({**trial_base, "reference": local_copy(g_path)})
            margins = reference_margins(g_cfg, data.pairs.train)
            torch.save(margins, cache)
    glob = data.global_pairs.train if data.global_pairs is not None else []
    return trial_base, TrainData(data.pairs.train, _evals(data), global_train=glob, margins=margins), baselines


def confirm_trials(front: Any, space: Any, data: PreferenceData, base: TrainConfig, paths: Any, *,
                   trial_base: dict[str, Any], trial_data: TrainData, reference: str | None = None) -> Any:
    """Seed reruns and the test read of the Pareto trials and baselines (``raysearch.tune.confirm``)."""
    from raysearch.tune.confirm import confirm_front
    from raysearch.tune.trial import trial_config

    res = space.resources
    workers, gpu = res.workers, res.gpus_per_worker > 0
    trials = {p.trial_id: (Stage(trial_config(trial_base, p.params), trial_data, f"trial-{p.trial_id}"),
                           paths.root / "pareto" / p.trial_id / MODEL_DIR)
              for p in front.points if (paths.root / "pareto" / p.trial_id / MODEL_DIR).is_dir()}
    baselines: dict[str, Any] = {}
    g_stage = global_stage(base, data) if reference is None else None
    if g_stage is not None:
        baselines[GLOBAL] = (g_stage, paths.root / g_stage.folder / MODEL_DIR)
    name, stage = baseline_stage(base, data, experiment=space.experiment, g_path=trial_base.get("init_from"))
    baselines[name] = (stage, paths.root / stage.folder / MODEL_DIR)

    def rerun(stage: Stage, seed: int) -> str:
        print(f"[raysearch.tune] rerun {stage.folder} with seed {seed}", flush=True)
        return fit(stage, root=paths.root, workers=workers, gpu=gpu, seed=seed)

    return confirm_front(front, trials=trials, baselines=baselines, splits=_evals(data), root=paths.root,
                         base_seed=base.seed, reruns=space.seed_reruns, fit=rerun)


# ----------------------------------------------------------------------------- single run (CLI)
def add_cli(p: argparse.ArgumentParser, objective: str) -> None:
    """Flags of ``python -m raysearch.train {bt,scpo}``."""
    p.add_argument("--data", default="goqa", help="goqa (bundled slice), prism (Hugging Face), a GlobalOpinionQA .json, or a PRISM folder")
    p.add_argument("--communities", nargs="+", default=None, metavar="NAME",
                   help="communities to train on (default: the SCPO countries present)")
    p.add_argument("--margin", type=float, default=0.05, help="GlobalOpinionQA: min share gap that makes a pair")
    p.add_argument("--max-train-pairs", type=int, default=None,
                   help="subsample the training pairs, community and global (seeded)")
    p.add_argument("--workers", type=int, default=2, help="Ray Train workers (DDP)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker")
    p.add_argument("--out", default="runs/train", help="output folder (a stage whose config and data are unchanged is reused)")
    p.add_argument("--smoke-test", action="store_true", help="tiny run: 48 pairs, 1 epoch, 32 tokens")
    add_config_flags(p, TrainConfig, objective=objective)


def run_cli(args: argparse.Namespace) -> int:
    """Train G, then the BT or SCPO model, on Ray Train; print the per-community table."""
    if args.smoke_test:
        for k, v in SMOKE.items():
            if k == "max_train_pairs":
                args.max_train_pairs = args.max_train_pairs or v
            elif not hasattr(args, k):
                setattr(args, k, v)
    cfg = config_from_args(args, TrainConfig, objective=args.objective)
    if args.workers < 1:
        raise UserInputError(f"--workers {args.workers} must be >= 1")
    # Validate everything before anything is written or Ray is started.
    from raysearch.models.backbone import resolve_backbone

    resolve_backbone(cfg.backbone)
    if cfg.reference is not None:
        cfg.reference = resolve_backbone(cfg.reference)
    data, notes = prepare(args.data, args.communities, cfg, seed=cfg.seed, max_train_pairs=args.max_train_pairs,
                          max_global_pairs=args.max_train_pairs, margin=args.margin)
    for note in notes:
        print(f"[raysearch.train] {note}", flush=True)
    print("[raysearch.train] pairs per community (train/val/test): " + ", ".join(
        f"{c} {a}/{b}/{t}" for c, a, b, t in data.size_table()), flush=True)

    from raysearch.ray_env import init_ray
    from raysearch.train.experiment import run_experiment
    from raysearch.train.report import markdown_table, print_table

    out = Path(args.out)
    t0 = time.perf_counter()
    mode = init_ray(num_cpus=None)
    print(f"[raysearch.train] Ray: {mode}; {args.workers} worker(s), gpu={args.gpu}", flush=True)
    res = run_experiment(cfg, data, out=out, workers=args.workers, gpu=args.gpu, reference=cfg.reference)
    minutes = (time.perf_counter() - t0) / 60
    print_table(res)
    (out / "table.md").write_text(markdown_table(res) + f"\nWall time: {minutes:.1f} min.\n")
    (out / "config.json").write_text(json.dumps({"args": dict(vars(args)), "config": cfg.to_dict()}, indent=2, default=str))
    if res.extra.get("scpo/n_kept") is not None:
        print(f"SCPO kept {int(res.extra['scpo/n_kept'])}/{int(res.extra['scpo/n_pairs'])} training pairs.")
    print(f"Model: {res.model_path} (load with raysearch.models.RewardModel.load); table: {out / 'table.md'}; "
          f"{minutes:.1f} min")
    return 0
