"""Searches over the pairwise methods: what the trials share, their baselines, and the confirmation.

G and the same-init baseline (fine-tuning from G for scpo, BT from the backbone for bt) are
trained once before the trials; SCPO's reference margins are scored once; after the trials the
front and the baselines are retrained with more seeds and read on test (``raysearch.tune.confirm``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from raysearch.data.records import PairRecord
from raysearch.errors import UserInputError
from raysearch.methods.pairwise.baselines import FINETUNE, GLOBAL, finetune_config, global_config
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import PreferenceData, TrainData, evals
from raysearch.metrics.accuracy import CommunityMetrics
from raysearch.train.checkpoint import MODEL_DIR, read_meta


def _metrics_point(metrics: CommunityMetrics, objectives: list[str], split: str = "val") -> tuple[float, float]:
    flat = metrics.flat(prefix=f"{split}/")
    return (flat[objectives[0]], flat[objectives[1]])


def val_only(data: PreferenceData) -> dict[str, list[PairRecord]]:
    """What every training run of a search scores: validation. The search chooses on it, and the
    confirmation scores test once in the driver (``confirm_trials``), so a run's own test scores would
    be work nobody reads (about half of a small trial's evaluation)."""
    return {"val": data.pairs.val}


@dataclass(frozen=True)
class Stage:
    """A model trained outside the trials (G, a baseline): its config, its training data, its folder under the run."""

    cfg: PairwiseConfig
    data: TrainData
    folder: str


def global_stage(base: PairwiseConfig, data: PreferenceData) -> Stage | None:
    """G on the global pairs, or None where the source has none (PRISM: G is given with --reference)."""
    if data.global_pairs is None:
        return None
    return Stage(global_config(base), TrainData(data.global_pairs.train, val_only(data), source=data.source), "global")


def baseline_stage(base: PairwiseConfig, data: PreferenceData, *, experiment: str, g_path: str | None) -> tuple[str, Stage]:
    """The same-init baseline of the trials: fine-tuning from G for scpo, plain BT from the backbone for bt."""
    if experiment == "scpo":
        assert g_path is not None
        ft = TrainData(data.pairs.train, val_only(data), source=data.source)
        return FINETUNE, Stage(finetune_config(base, g_path), ft, "baseline-ft")
    bt_cfg = replace(base, objective="bt", gamma_start=0.0, gamma_end=0.0, shape="constant", global_share=0.0)
    return "BT baseline", Stage(bt_cfg, TrainData(data.pairs.train, val_only(data), source=data.source), "baseline-bt")


def fit(stage: Stage, *, root: Path, workers: int, gpu: bool, seed: int | None = None, cpus: float = 1) -> str:
    """Train ``stage`` under Ray Train into ``root/folder`` (or ``root/reruns/folder/seed<k>``); reused if unchanged."""
    from raysearch.methods.pairwise.experiment import fingerprint
    from raysearch.train.ray_train import fit_or_reuse

    cfg, out, name = stage.cfg, root / stage.folder, stage.folder
    if seed is not None and seed != cfg.seed:
        cfg, out, name = replace(cfg, seed=seed), root / "reruns" / stage.folder / f"seed{seed}", f"{name}-seed{seed}"
    fit_or_reuse(cfg, stage.data, out=out, name=name, fingerprint=fingerprint(cfg, stage.data), workers=workers,
                 gpu=gpu, cpus_per_worker=cpus)
    return str(out / MODEL_DIR)


def prepare_trials(
    space: Any, data: PreferenceData, base: PairwiseConfig, paths: Any, *, reference: str | None = None,
) -> tuple[dict[str, Any], TrainData, dict[str, tuple[float, float]]]:
    """Train (or reuse) G and the same-init baseline; return the trials' base config, their data, baselines.

    The baseline of an scpo search is full-data fine-tuning from G (``raysearch.methods.pairwise.baselines``):
    the same starting model, data and budget as the trials, without SCPO's filter, weights and schedule.
    """
    import torch

    from raysearch.methods.pairwise.step import reference_margins

    res = space.resources
    workers, gpu = res.workers, res.gpus_per_worker > 0
    objectives = [o.metric for o in space.objectives]
    baselines: dict[str, tuple[float, float]] = {}
    g_path = reference
    g_stage = global_stage(base, data) if reference is None else None
    if g_stage is not None:
        print(f"[raysearch.tune] global model G on {len(g_stage.data.train)} global pairs", flush=True)
        g_path = fit(g_stage, root=paths.root, workers=workers, gpu=gpu, cpus=res.cpus_per_worker)
        baselines[GLOBAL] = _metrics_point(
            CommunityMetrics.from_dict(read_meta(paths.root / g_stage.folder)["metrics"]["val"]), objectives)
    if g_path is not None and "://" in paths.ray_storage:  # trials on other nodes read G from storage
        from raysearch.train.ray_train import upload

        g_path = upload(g_path, f"{paths.ray_storage.rstrip('/')}/{paths.name}/shared/global-model")
    if space.experiment == "scpo" and g_path is None:
        raise UserInputError(f"{data.kind} has no global preference to train G from; pass --reference PATH")
    name, stage = baseline_stage(base, data, experiment=space.experiment, g_path=g_path)
    print(f"[raysearch.tune] {name} on {len(data.pairs.train)} community pairs", flush=True)
    fit(stage, root=paths.root, workers=workers, gpu=gpu, cpus=res.cpus_per_worker)
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

            g_cfg = PairwiseConfig.from_dict({**trial_base, "reference": local_copy(g_path)})
            margins = reference_margins(g_cfg, data.pairs.train)
            torch.save(margins, cache)
    glob = data.global_pairs.train if data.global_pairs is not None else []
    return trial_base, TrainData(data.pairs.train, val_only(data), global_train=glob, margins=margins,
                                  source=data.source), baselines


def confirm_trials(front: Any, space: Any, data: PreferenceData, base: PairwiseConfig, paths: Any, *,
                   trial_base: dict[str, Any], trial_data: TrainData, reference: str | None = None) -> Any:
    """Seed reruns and the test read of the Pareto trials and baselines (``raysearch.tune.confirm``)."""
    from raysearch.tune.confirm import confirm_front
    from raysearch.tune.trial import trial_config

    print(f"[raysearch.tune] confirming the front: {space.seed_reruns} more seed(s) per Pareto trial and "
          "baseline, then test", flush=True)
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
        return fit(stage, root=paths.root, workers=workers, gpu=gpu, seed=seed, cpus=res.cpus_per_worker)

    return confirm_front(front, trials=trials, baselines=baselines, splits=evals(data), root=paths.root,
                         base_seed=base.seed, reruns=space.seed_reruns, fit=rerun)


