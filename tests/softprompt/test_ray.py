"""The Ray shell: one actor scores a population exactly like the in-process objective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raysearch.softprompt.config import SoftPromptConfig
from raysearch.softprompt.objective import SurveyObjective


@pytest.mark.slow
def test_actor_pool_matches_in_process_objective(tiny_lm_dir: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from raysearch.softprompt.actors import ActorPool

    cfg = SoftPromptConfig(country="China", model=str(tiny_lm_dir), subspace_dim=5, n_tokens=2, popsize=4, workers=2)
    z = np.random.default_rng(0).normal(size=(4, 5))
    local = SurveyObjective(cfg)
    try:
        pool = ActorPool(cfg, workers=2)
        assert pool.search_dim == local.search_dim
        # two actors, two candidates each: same losses as one in-process batch (float noise only)
        assert np.allclose(pool.losses(z, [0, 1, 2, 3]), local.losses(z, [0, 1, 2, 3]), atol=1e-3)
        remote, here = pool.baseline("persona"), local.baseline("persona")
        assert remote.keys() == here.keys()
        for key, value in here.items():  # nested dicts (indices, answers): compare level by level
            if isinstance(value, dict):
                assert remote[key] == pytest.approx(value, abs=1e-3), key
            elif isinstance(value, float):
                assert remote[key] == pytest.approx(value, abs=1e-3), key
        seeds = [11, 12, 13]
        remote_draws, local_draws = pool.rescore(z[0], seeds), local.rescore(z[0], seeds)
        for name, here in local_draws.items():
            assert remote_draws[name]["seeds"] == seeds
            assert remote_draws[name]["losses"] == pytest.approx(here["losses"], abs=1e-3), name
        saved = pool.save(z[:1], tmp_path / "adapter", {})
        assert (saved / "adapter_config.json").exists()
        pool.shutdown()
    finally:
        ray.shutdown()


def test_local_ray_failure_falls_back_to_in_process(tiny_lm_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import raysearch.softprompt.actors as actors
    from raysearch.softprompt.runner import run_softprompt

    class Broken:
        def __init__(self, *args, **kwargs) -> None:
            raise RuntimeError("The current node timed out during startup.")

    monkeypatch.setattr(actors, "ActorPool", Broken)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = SoftPromptConfig(
        country="China",
        model=str(tiny_lm_dir),
        subspace_dim=3,
        n_tokens=2,
        popsize=4,
        budget=4,
        workers=1,
        out=str(tmp_path / "run"),
    )
    lines: list[str] = []
    report = run_softprompt(cfg, log=lines.append)
    assert any("scoring in this process" in line for line in lines)
    assert report["evaluations"] == 4
