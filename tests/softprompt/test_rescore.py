"""Sample mode: every prompt is re-scored on fresh draws, disjoint from the search's, shared by all prompts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from raysearch.softprompt.adapter import load_prompt
from raysearch.softprompt.config import SoftPromptConfig
from raysearch.softprompt.draws import (
    DRAW_SPACE,
    draw_record,
    eval_seed,
    fresh_seeds,
    rescore_plan,
    search_seeds,
)
from raysearch.softprompt.objective import SurveyObjective
from raysearch.softprompt.report import markdown
from raysearch.softprompt.rescore import PROMPTS, summarize
from raysearch.softprompt.runner import run_softprompt
from raysearch.softprompt.scorer import sample_answers


@pytest.fixture(scope="module")
def cfg(tiny_lm_dir: Path) -> SoftPromptConfig:
    return SoftPromptConfig(
        country="China",
        model=str(tiny_lm_dir),
        mode="sample",
        samples=2,
        budget=8,
        popsize=4,
        subspace_dim=4,
        workers=0,
        rescore_draws=6,
    )


@pytest.fixture(scope="module")
def objective(cfg: SoftPromptConfig, tiny_lm) -> SurveyObjective:
    return SurveyObjective(cfg, model=tiny_lm)


@pytest.fixture(scope="module")
def sample_run(cfg: SoftPromptConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("sample_run")
    return run_softprompt(dataclasses.replace(cfg, out=str(out)), log=lambda _: None), out


@pytest.mark.parametrize("seed", [0, 1, 12345])
@pytest.mark.parametrize("budget", [1, 96, 600])
def test_fresh_draws_never_coincide_with_a_search_draw(seed: int, budget: int) -> None:
    search, fresh = rescore_plan(seed, budget, 50)
    assert len(search) == budget + 2 and min(search) == -2 and max(search) == budget - 1
    assert not {s % DRAW_SPACE for s in search.values()} & {s % DRAW_SPACE for s in fresh}
    assert len({s % DRAW_SPACE for s in fresh}) == 50  # distinct among themselves too
    assert draw_record(search, fresh)["shared"] == 0


def test_a_fresh_candidate_equal_to_a_search_draw_is_skipped() -> None:
    plain = fresh_seeds(3, 4, exclude=[])
    assert fresh_seeds(3, 3, exclude=[plain[0]]) == plain[1:]
    # torch reads only the low 32 bits of a seed: a seed equal mod 2**32 is the same draw
    probs = torch.full((24, 5), 0.2)
    assert torch.equal(sample_answers(probs, 5, plain[0]), sample_answers(probs, 5, plain[0] + DRAW_SPACE))
    assert fresh_seeds(3, 3, exclude=[plain[0] + DRAW_SPACE]) == plain[1:]
    with pytest.raises(RuntimeError, match="reuse search draws"):
        draw_record({0: plain[0]}, plain[:2])


def test_same_seed_gives_the_same_rescored_numbers(cfg, objective, tiny_lm) -> None:
    assert rescore_plan(cfg.seed, cfg.budget, 6) == rescore_plan(cfg.seed, cfg.budget, 6)
    _, seeds = rescore_plan(cfg.seed, cfg.budget, 6)
    z = np.random.default_rng(0).normal(size=cfg.subspace_dim)
    again = SurveyObjective(cfg, model=tiny_lm)  # a fresh objective: nothing carried over
    assert objective.rescore(z, seeds) == again.rescore(z, seeds)
    other = objective.rescore(z, fresh_seeds(cfg.seed + 1, 6, exclude=[]))
    assert other["optimized"]["losses"] != objective.rescore(z, seeds)["optimized"]["losses"]


def test_every_prompt_is_rescored_on_the_same_draws(cfg, objective) -> None:
    _, seeds = rescore_plan(cfg.seed, cfg.budget, 6)
    z0 = np.zeros(cfg.subspace_dim)  # z = 0 is exactly the persona prompt
    per_draw = objective.rescore(z0, seeds)
    assert all(per_draw[name]["seeds"] == seeds for name in PROMPTS)
    # the same prompt on the same draws: identical per-draw losses, a paired difference of exactly 0
    assert per_draw["optimized"]["losses"] == per_draw["persona"]["losses"]
    summary = summarize(per_draw, ["PDI", "IDV", "MAS", "UAI", "LTO", "IVR"], seeds, seed=0)
    d = summary["paired"]["optimized - persona"]
    assert (d["mean"], d["low"], d["high"], d["n"]) == (0.0, 0.0, 0.0, 6)
    # ... which is not true of unpaired draws: the draws do vary
    unpaired = objective.rescore(z0, fresh_seeds(cfg.seed + 1, 6, exclude=[]))
    assert unpaired["persona"]["losses"] != per_draw["persona"]["losses"]
    # draw r of every prompt is exactly a sample-mode score with seed r
    prompt = objective.prompts_of(z0)["naive"]
    for r in (0, 5):
        one = objective.scorer.scores(prompt, mode="sample", samples=cfg.samples, seeds=[seeds[r]])
        assert float(objective.loss_of(one.indices)[0]) == per_draw["naive"]["losses"][r]


def test_sample_report_uses_fresh_draws_not_the_winners_own(cfg, sample_run, objective) -> None:
    """The old report re-scored the winner with the draw that made it the search minimum."""
    report, out = sample_run
    winner = report["search_time"]["optimized"]
    assert winner == min(report["history"])  # the search-time loss, kept and labelled
    fresh = report["fresh"]["prompts"]
    assert report["l1"]["optimized"] == pytest.approx(np.mean(fresh["optimized"]["draw_losses"]))
    assert report["l1"]["optimized"] != pytest.approx(winner, abs=1e-3)  # old: equal to the minimum
    assert report["l1"]["optimized"] > winner  # the winner's curse, removed: fresh draws score it worse
    best_eval = report["search_time"]["optimized_eval"]
    search = {eval_id: seed for eval_id, seed in report["draws"]["search"]}
    assert search == search_seeds(cfg.seed, cfg.budget) and search[best_eval] == eval_seed(cfg.seed, best_eval)
    assert not set(search.values()) & set(report["draws"]["fresh"])
    assert report["draws"]["fresh"] == report["fresh"]["seeds"] and len(report["fresh"]["seeds"]) == 6
    for name in PROMPTS:  # every prompt: 6 fresh draws, the table is their mean
        assert len(fresh[name]["draw_losses"]) == 6
        assert report["l1"][name] == pytest.approx(np.mean(fresh[name]["draw_losses"]))
        iv = fresh[name]["loss_interval"]
        assert iv["low"] <= iv["mean"] <= iv["high"]
    # the saved adapter + the recorded fresh seeds reproduce the reported optimized draws
    prompt, sidecar = load_prompt(objective.model, out / "adapter")
    assert sidecar["fresh_seeds"] == report["fresh"]["seeds"]
    again = objective.scorer.draw_scores(prompt[None], samples=cfg.samples, seeds=sidecar["fresh_seeds"])
    assert objective.loss_of(again.indices).tolist() == pytest.approx(fresh["optimized"]["draw_losses"], abs=1e-3)
    text = markdown(report)
    assert "Paired L1 differences over the same 6 fresh draws" in text and "Search time" in text
    assert "optimized − persona" in text


def test_expected_mode_report_has_no_fresh_draws(cfg, tmp_path: Path) -> None:
    expected = dataclasses.replace(cfg, mode="expected", out=str(tmp_path / "run"))
    report = run_softprompt(expected, log=lambda _: None)
    assert not {"fresh", "search_time", "draws"} & set(report)
    assert report["l1"]["optimized"] == pytest.approx(min(report["history"]), abs=1e-3)
    assert "fresh draws" not in markdown(report)
