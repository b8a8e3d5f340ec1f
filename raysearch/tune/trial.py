"""One Tune trial = one Ray Train run (the Ray 2.60 pattern: a function trainable that fits a
TorchTrainer and forwards its reports to Tune with ``TuneReportCallback``)."""

from __future__ import annotations

from typing import Any

from raysearch.methods.registry import config_from_dict, get


def trial_config(base: dict[str, Any], params: dict[str, Any]) -> Any:
    """The validated training config of a trial: fixed options overlaid with sampled ones."""
    return config_from_dict({**base, **params}).validate()


def run_trial(params: dict[str, Any], *, base: dict[str, Any], data: Any, resources: dict[str, Any]) -> None:
    """Tune calls this with the sampled ``params``; metrics reach Tune via the callback, per epoch and, with
    ``eval_every``, within epochs (what an early-stopping scheduler decides on)."""
    import ray.tune  # --- Ray ---
    from ray.tune.integration.ray_train import TuneReportCallback  # --- Ray ---

    from raysearch.train.ray_train import build_trainer

    cfg = trial_config(base, params)
    trainer = build_trainer(
        get(cfg.objective), cfg, data, name=f"train-{ray.tune.get_context().get_trial_id()}",
        storage_path=resources["storage_path"], num_workers=resources["workers"],
        cpus_per_worker=resources["cpus_per_worker"], gpus_per_worker=resources["gpus_per_worker"],
        callbacks=[TuneReportCallback()],
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
