"""The one place the project starts or joins Ray (environment defaults for Ray 2.60)."""

from __future__ import annotations

import logging
import os


def ray_env_defaults() -> None:
    """No usage stats; token auth off unless the caller chose a mode (must match `ray start`)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    # Ray forwards the driver's env to local workers; keep tokenizers from forking threads.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def init_ray(*, num_cpus: int | None = None, quiet: bool = True, log_to_driver: bool = True) -> str:
    """Join the cluster in ``RAY_ADDRESS`` (``ray job submit`` sets it) or start a local one.

    ``log_to_driver=False`` keeps the workers' output off the driver's console.
    Returns ``"cluster"`` or ``"local"``.
    """
    ray_env_defaults()
    import ray

    if ray.is_initialized():
        return "cluster" if os.environ.get("RAY_ADDRESS") else "local"
    address = os.environ.get("RAY_ADDRESS")
    runtime_env = {"env_vars": {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "RAY_TRAIN_V2_ENABLED")}}
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=log_to_driver)
        return "cluster"
    # The dashboard serves the State API that Ray Train's placement-group cleaner polls.
    ray.init(num_cpus=num_cpus, dashboard_host="127.0.0.1", runtime_env=runtime_env,
             log_to_driver=True, logging_level=logging.WARNING if quiet else logging.INFO)
    return "local"
