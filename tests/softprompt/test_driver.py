"""Nevergrad ask/tell loop: checkpoint every generation; a killed run resumes to the same result."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from raysearch.errors import UserInputError
from raysearch.softprompt.config import SoftPromptConfig
from raysearch.softprompt.driver import CHECKPOINT, load_checkpoint, run_search, save_checkpoint
from raysearch.softprompt.objective import SurveyObjective


@pytest.fixture(scope="module")
def cfg(tiny_lm_dir: Path) -> SoftPromptConfig:
    return SoftPromptConfig(
        country="China",
        model=str(tiny_lm_dir),
        budget=16,
        popsize=4,
        subspace_dim=8,
        workers=0,
        n_tokens=3,
    )


@pytest.fixture(scope="module")
def objective(cfg: SoftPromptConfig) -> SurveyObjective:
    return SurveyObjective(cfg)


def test_first_candidate_is_the_persona_prompt(cfg, objective, tmp_path: Path) -> None:
    state = run_search(cfg, objective, dim=objective.search_dim, folder=tmp_path, stop_after=1)
    assert state.evaluations == 4 and (tmp_path / CHECKPOINT).exists()
    persona_z_loss = objective.losses(np.zeros((1, 8)), [0])[0]
    assert state.history[0] == pytest.approx(persona_z_loss, abs=1e-3)  # batch shape noise


@pytest.mark.parametrize("kill_after", [1, 3])
def test_resume_after_kill_gives_identical_best(cfg, objective, tmp_path: Path, kill_after) -> None:
    whole = run_search(cfg, objective, dim=objective.search_dim, folder=tmp_path / "whole")
    part = tmp_path / "killed"
    run_search(cfg, objective, dim=objective.search_dim, folder=part, stop_after=kill_after)
    state = load_checkpoint(part, dataclasses.replace(cfg, resume=True))  # fresh unpickle
    assert state.evaluations == 4 * kill_after
    resumed = run_search(cfg, objective, dim=objective.search_dim, folder=part, state=state)
    assert resumed.best_loss == whole.best_loss
    assert resumed.history == whole.history
    assert np.array_equal(resumed.best_z, whole.best_z)
    assert whole.evaluations == resumed.evaluations == 16


def test_resume_refuses_other_settings(cfg, objective, tmp_path: Path) -> None:
    run_search(cfg, objective, dim=objective.search_dim, folder=tmp_path, stop_after=1)
    other = dataclasses.replace(cfg, seed=1, resume=True)
    with pytest.raises(UserInputError, match="seed=0"):
        load_checkpoint(tmp_path, other)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "empty", cfg)


def test_a_checkpoint_older_than_a_setting_resumes_with_its_default(cfg, objective, tmp_path: Path) -> None:
    """A run checkpointed before --search-draws existed searched with one draw: it resumes as 1."""
    state = run_search(cfg, objective, dim=objective.search_dim, folder=tmp_path, stop_after=1)
    del state.config["search_draws"]
    save_checkpoint(state, tmp_path)
    assert load_checkpoint(tmp_path, dataclasses.replace(cfg, resume=True)).evaluations == state.evaluations
    with pytest.raises(UserInputError, match="search_draws=1, not 2"):
        load_checkpoint(tmp_path, dataclasses.replace(cfg, search_draws=2, resume=True))


@pytest.mark.parametrize("optimizer", ["de", "cma", "random"])
def test_other_optimizers_run_and_improve_or_keep(cfg, objective, tmp_path, optimizer) -> None:
    other = dataclasses.replace(cfg, optimizer=optimizer, budget=8)
    state = run_search(other, objective, dim=objective.search_dim, folder=tmp_path)
    assert state.evaluations == 8 and state.best_loss <= state.history[0]


def test_full_space_search(cfg, tiny_lm, tmp_path: Path) -> None:
    full = dataclasses.replace(cfg, subspace_dim=0, budget=8)
    objective = SurveyObjective(full, model=tiny_lm)
    assert objective.search_dim == 3 * 32
    state = run_search(full, objective, dim=objective.search_dim, folder=tmp_path)
    assert np.isfinite(state.best_loss)


def test_sample_mode_is_reproducible(cfg, tiny_lm, tmp_path: Path) -> None:
    sampled = dataclasses.replace(cfg, mode="sample", samples=4, budget=8)
    objective = SurveyObjective(sampled, model=tiny_lm)
    a = run_search(sampled, objective, dim=objective.search_dim, folder=tmp_path / "a")
    b = run_search(sampled, objective, dim=objective.search_dim, folder=tmp_path / "b")
    assert a.history == b.history
