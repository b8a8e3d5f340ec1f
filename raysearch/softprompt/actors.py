"""The Ray shell: actors that each load the model once and score slices of a population.

All Ray calls of the soft-prompt search live here. ``ActorPool`` has the same methods as
``SurveyObjective`` that the driver and the report use, so ``--workers 0`` (no Ray) and
``--workers N`` run the same code path. On a cluster, ``ray.init()`` joins ``RAY_ADDRESS``;
locally it starts Ray with the machine's CPUs (``raysearch.ray_env.init_ray``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from raysearch.ray_env import init_ray
from raysearch.softprompt.config import SoftPromptConfig


class _Scorer:
    """Actor body: one ``SurveyObjective`` (the model, loaded once) per actor process."""

    def __init__(self, cfg_dict: dict[str, Any], threads: int, device: str) -> None:
        import torch

        from raysearch.softprompt.objective import SurveyObjective

        torch.set_num_threads(max(1, threads))
        self.objective = SurveyObjective(SoftPromptConfig(**cfg_dict), device=device)

    def search_dim(self) -> int:
        return self.objective.search_dim

    def losses(self, zs: np.ndarray, eval_ids: list[int]) -> np.ndarray:
        return self.objective.losses(zs, eval_ids)

    def baseline(self, which: str) -> dict[str, Any]:
        return self.objective.baseline(which)

    def point_summary(self, z: np.ndarray, eval_id: int) -> dict[str, Any]:
        return self.objective.point_summary(z, eval_id)

    def goqa_check(self, z: np.ndarray, n_questions: int) -> dict[str, Any]:
        return self.objective.goqa_check(z, n_questions)

    def rescore(self, z: np.ndarray, seeds: list[int]) -> dict[str, dict[str, Any]]:
        return self.objective.rescore(z, seeds)

    def save(self, z: np.ndarray, folder: str, meta: dict[str, Any]) -> str:
        return str(self.objective.save(z, folder, meta))


class ActorPool:
    """N Ray actors; a population is split into contiguous slices, one per actor."""

    def __init__(self, cfg: SoftPromptConfig, *, workers: int, gpu: bool = False) -> None:
        import ray

        cpus = os.cpu_count() or 1
        init_ray(num_cpus=cpus, log_to_driver=False)
        per_actor = max(1, int(ray.available_resources().get("CPU", cpus)) // workers)
        remote = ray.remote(_Scorer).options(num_cpus=per_actor, num_gpus=1 if gpu else 0, max_restarts=0)
        device = "cuda" if gpu else "cpu"
        self.actors: list[Any] = [remote.remote(cfg.to_dict(), per_actor, device) for _ in range(workers)]
        self._ray: Any = ray
        self.search_dim = int(ray.get(self.actors[0].search_dim.remote()))
        ray.get([a.search_dim.remote() for a in self.actors[1:]])  # wait until all loaded

    def losses(self, zs: np.ndarray, eval_ids: list[int]) -> np.ndarray:
        slices = np.array_split(np.arange(len(zs)), len(self.actors))
        futures = [
            actor.losses.remote(zs[idx], [eval_ids[i] for i in idx])
            for actor, idx in zip(self.actors, slices, strict=True)
            if len(idx)
        ]
        return np.concatenate(self._ray.get(futures))

    def baseline(self, which: str) -> dict[str, Any]:
        return self._ray.get(self.actors[0].baseline.remote(which))

    def point_summary(self, z: np.ndarray, eval_id: int) -> dict[str, Any]:
        return self._ray.get(self.actors[0].point_summary.remote(z, eval_id))

    def goqa_check(self, z: np.ndarray, n_questions: int) -> dict[str, Any]:
        return self._ray.get(self.actors[0].goqa_check.remote(z, n_questions))

    def rescore(self, z: np.ndarray, seeds: list[int]) -> dict[str, dict[str, Any]]:
        return self._ray.get(self.actors[0].rescore.remote(z, seeds))

    def save(self, z: np.ndarray, folder: str | Path, meta: dict[str, Any]) -> Path:
        return Path(self._ray.get(self.actors[0].save.remote(z, str(Path(folder).resolve()), meta)))

    def shutdown(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
