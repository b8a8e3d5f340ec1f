"""One Tune trial: a run of the training loop with the sampled configuration.

A trial of one worker runs the loop in the Tune trial's own process, holding the worker's CPUs
and GPU (no Ray Train worker group: on a small machine its start-up and teardown cost more than a
small trial's training). A trial of several workers is a Ray Train run (the Ray 2.60 pattern: a
function trainable that fits a ``TorchTrainer`` and forwards its reports with ``TuneReportCallback``).
Either way the trial reports validation per epoch and, with ``eval_every``, within epochs (what an
early-stopping scheduler decides on), each epoch with the path of its checkpoint (``checkpoint_path``).
"""

from __future__ import annotations

from typing import Any

from raysearch.methods.registry import config_from_dict, get

CHECKPOINT_PATH = "checkpoint_path"  # the report key TuneReportCallback uses too


def trial_config(base: dict[str, Any], params: dict[str, Any]) -> Any:
    """The validated training config of a trial: fixed options overlaid with sampled ones."""
    return config_from_dict({**base, **params}).validate()


def trial_resources(resources: dict[str, Any]) -> dict[str, float]:
    """What Tune reserves for one trial: the worker's CPUs and GPUs for a one-worker trial (it trains
    in the trial's process); nothing for a Ray Train trial (its workers hold the resources)."""
    if resources["workers"] == 1:
        return {"CPU": float(resources["cpus_per_worker"]), "GPU": float(resources["gpus_per_worker"])}
    return {"CPU": 0, "memory": 256 * 1024**2}


def run_trial(params: dict[str, Any], *, base: dict[str, Any], data: Any, resources: dict[str, Any]) -> None:
    """Tune calls this with the sampled ``params``."""
    cfg = trial_config(base, params)
    if resources["workers"] == 1:
        _run_in_process(cfg, data, resources)
        return
    import ray.tune  # --- Ray ---
    from ray.tune.integration.ray_train import TuneReportCallback  # --- Ray ---

    from raysearch.train.ray_train import build_trainer

    trainer = build_trainer(
        get(cfg.objective), cfg, data, name=f"train-{ray.tune.get_context().get_trial_id()}",
        storage_path=resources["storage_path"], num_workers=resources["workers"],
        cpus_per_worker=resources["cpus_per_worker"], gpus_per_worker=resources["gpus_per_worker"],
        callbacks=[TuneReportCallback()], keep_checkpoints=1,
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error


def _run_in_process(cfg: Any, data: Any, resources: dict[str, Any]) -> None:
    """Train in this Tune trial process (``raysearch.train.ray_train.run_stored``). Each epoch's checkpoint
    goes to ``<storage>/<experiment>/checkpoints/<trial>/epoch-N`` (the previous one is then deleted); a
    trial restarted after the driver died resumes from the last complete one."""
    import ray  # --- Ray ---
    import ray.tune  # --- Ray ---
    import torch

    from raysearch.train.ray_train import run_stored

    ctx = ray.tune.get_context()
    node = ray.get_runtime_context().get_node_id()
    device = torch.device("cuda" if resources["gpus_per_worker"] > 0 and torch.cuda.is_available() else "cpu")

    def report(metrics: dict[str, Any], stored: str | None) -> None:
        ray.tune.report({**metrics, "ray/nodes": node, **({CHECKPOINT_PATH: stored} if stored else {})})  # --- Ray ---

    run_stored(get(cfg.objective), cfg, data, threads=resources["cpus_per_worker"], device=device, report=report,
               store_root=f"{resources['storage_path'].rstrip('/')}/{ctx.get_experiment_name()}/checkpoints/{ctx.get_trial_id()}")
