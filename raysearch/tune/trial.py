"""One Tune trial = one Ray Train run (the Ray 2.60 pattern: a function trainable that fits a
TorchTrainer and forwards its reports to Tune with ``TuneReportCallback``)."""

from __future__ import annotations

from typing import Any

from raysearch.train.registry import config_from_dict


def trial_config(base: dict[str, Any], params: dict[str, Any]) -> Any:
    """The validated training config of a trial: fixed options overlaid with sampled ones."""
    return config_from_dict({**base, **params}).validate()


def run_trial(params: dict[str, Any], *, base: dict[str, Any], data: Any, resources: dict[str, Any]) -> None:
    """Tune calls this with the sampled ``params``; metrics reach Tune per epoch via the callback."""
    import ray.tune  # --- Ray ---
    from ray.train import FailureConfig, LoggingConfig, RunConfig, ScalingConfig  # --- Ray ---
    from ray.train.torch import TorchTrainer  # --- Ray ---
    from ray.tune.integration.ray_train import TuneReportCallback  # --- Ray ---

    from raysearch.train.ray_train import _train_fn

    cfg = trial_config(base, params)
    gpus = resources["gpus_per_worker"]
    ctx = ray.tune.get_context()  # --- Ray ---
    trainer = TorchTrainer(
        _train_fn,  # type: ignore[arg-type]
        train_loop_config={"config": cfg.to_dict(), "data": data, "threads": resources["cpus_per_worker"]},
        scaling_config=ScalingConfig(
            num_workers=resources["workers"], use_gpu=gpus > 0,
            resources_per_worker={"CPU": resources["cpus_per_worker"], **({"GPU": gpus} if gpus > 0 else {})},
        ),
        run_config=RunConfig(  # type: ignore[call-arg]  # V2 RunConfig; the stubs mypy sees are V1
            name=f"train-{ctx.get_trial_id()}", storage_path=resources["storage_path"],
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]
            failure_config=FailureConfig(max_failures=1),
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
