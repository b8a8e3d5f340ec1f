"""The black-box objective: search point z -> soft prompt -> survey answers -> L1 to the country.

One ``SurveyObjective`` holds the model once (in the driver, or inside one Ray actor) and
answers every question the driver asks: losses of a population, scores of the baselines,
and saving the best prompt as a peft adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysearch.softprompt.adapter import save_adapter
from raysearch.softprompt.config import SoftPromptConfig
from raysearch.softprompt.draws import NAIVE_ID, PERSONA_ID, eval_seeds
from raysearch.softprompt.hofstede import country_targets
from raysearch.softprompt.lm import load_lm
from raysearch.softprompt.scorer import Scores, SurveyScorer, l1_loss
from raysearch.softprompt.subspace import Subspace, fit_tokens
from raysearch.softprompt.survey import Survey, load_survey


def survey_and_targets(cfg: SoftPromptConfig) -> tuple[Survey, dict[str, float]]:
    """Read and check the survey and the country's targets (fast: before any model loads)."""
    survey = load_survey(cfg.survey)
    survey = survey.with_constants({d.code: cfg.constant for d in survey.dimensions})
    targets = country_targets(cfg.country, path=cfg.targets, dimensions=[d.code for d in survey.dimensions])
    return survey, targets


class SurveyObjective:
    """Model + survey + targets + subspace for one configuration."""

    def __init__(
        self,
        cfg: SoftPromptConfig,
        *,
        device: str = "cpu",
        model: Any = None,
        scorer: SurveyScorer | None = None,
    ) -> None:
        """``model`` = (model, tokenizer) and ``scorer`` reuse what another objective loaded."""
        self.cfg = cfg
        self.survey, self.targets = survey_and_targets(cfg)
        codes = [d.code for d in self.survey.dimensions]
        self.target_vec = torch.tensor([self.targets.get(c, 0.0) for c in codes], dtype=torch.float64)
        self.target_mask = torch.tensor([c in self.targets for c in codes])
        if model is None:
            dtype = getattr(torch, cfg.dtype)
            self.model, self.tokenizer = load_lm(cfg.model, device=device, dtype=dtype)
        else:
            self.model, self.tokenizer = model
        self.scorer = scorer or SurveyScorer(
            self.model, self.tokenizer, self.survey, position=cfg.position, max_rows=cfg.max_rows
        )
        self.persona = self.scorer.text_embedding(self._persona_with_separator())
        n_tokens = cfg.n_tokens or self.persona.shape[0]
        weight = self.scorer.embeddings.weight
        self.subspace = Subspace(
            center=fit_tokens(self.persona, n_tokens),
            dim=cfg.subspace_dim,
            seed=cfg.seed,
            sigma=cfg.sigma,
            embed_std=float(weight.detach().float().std()),
        )

    def _persona_with_separator(self) -> str:
        text = self.cfg.persona_text()
        return text if self.cfg.position == "suffix" else text.rstrip() + "\n"

    @property
    def search_dim(self) -> int:
        return self.subspace.search_dim

    def loss_of(self, indices: torch.Tensor) -> torch.Tensor:
        return l1_loss(indices, self.target_vec, self.target_mask)

    def _scores(self, prompts: torch.Tensor, eval_ids: list[int]) -> list[Scores]:
        """Per prompt: its scores, one row per draw (expected mode: one row, no draw)."""
        if self.cfg.mode == "expected":
            scores = self.scorer.scores(prompts, mode="expected")
            return [Scores(scores.probs[p : p + 1], scores.means[p : p + 1], scores.indices[p : p + 1]) for p in range(len(prompts))]
        probs = self.scorer.answer_probs(prompts)
        return [
            self.scorer.sampled(p, samples=self.cfg.samples, seeds=eval_seeds(self.cfg.seed, i, self.cfg.search_draws))
            for p, i in zip(probs, eval_ids, strict=True)
        ]

    def losses(self, zs: np.ndarray, eval_ids: list[int]) -> np.ndarray:
        """L1 losses (P,) of search points zs (P, k), scored together in batched passes; in sample
        mode each is the mean L1 over its ``--search-draws`` draws."""
        per_prompt = self._scores(self.subspace.prompts(zs), eval_ids)
        return np.array([float(self.loss_of(s.indices).mean()) for s in per_prompt])

    def summary(self, prompts: torch.Tensor, eval_id: int) -> dict[str, Any]:
        """Indices, mean answers and loss of ONE prompt (1, n, d), scored on its own (sample mode:
        each the mean over the evaluation's draws, the loss the search saw)."""
        (scores,) = self._scores(prompts, [eval_id])
        codes = [d.code for d in self.survey.dimensions]
        return {
            "indices": dict(zip(codes, scores.indices.mean(0).tolist(), strict=True)),
            "means": dict(zip(self.survey.numbers, scores.means.mean(0).tolist(), strict=True)),
            "loss": float(self.loss_of(scores.indices).mean()),
        }

    def baseline(self, which: str) -> dict[str, Any]:
        """Scores of the plain model ('naive') or the persona text as real tokens ('persona')."""
        if which == "naive":
            empty = torch.zeros(1, 0, self.scorer.embed_dim)
            return self.summary(empty, NAIVE_ID)
        if which == "persona":
            return self.summary(self.persona[None], PERSONA_ID)
        raise ValueError(f"baseline {which!r} is not 'naive' or 'persona'")

    def prompts_of(self, z: np.ndarray) -> dict[str, torch.Tensor]:
        """The three prompts a run compares, each (1, n, d): naive (n = 0), persona, optimized z."""
        return {
            "naive": torch.zeros(1, 0, self.scorer.embed_dim),
            "persona": self.persona[None],
            "optimized": self.subspace.prompts(z),
        }

    def rescore(self, z: np.ndarray, seeds: list[int]) -> dict[str, dict[str, Any]]:
        """Naive, persona and optimized z, each scored on the SAME sampled draws ``seeds`` (paired).

        Per prompt: ``losses`` (R,) and ``indices`` (R, D) of each draw, ``means`` (I,) the mean
        answer per item over the draws, and the ``seeds`` used. Sample mode only.
        """
        out: dict[str, dict[str, Any]] = {}
        for name, prompt in self.prompts_of(z).items():
            scores = self.scorer.draw_scores(prompt, samples=self.cfg.samples, seeds=list(seeds))
            out[name] = {
                "losses": self.loss_of(scores.indices).tolist(),
                "indices": scores.indices.tolist(),
                "means": dict(zip(self.survey.numbers, scores.means.mean(0).tolist(), strict=True)),
                "seeds": list(seeds),
            }
        return out

    def point_summary(self, z: np.ndarray, eval_id: int) -> dict[str, Any]:
        return self.summary(self.subspace.prompts(z), eval_id)

    def goqa_check(self, z: np.ndarray, n_questions: int) -> dict[str, Any]:
        """JS distance to the country's GlobalOpinionQA answers, per question and mean: naive, persona,
        optimized, with paired intervals of their differences."""
        from raysearch.softprompt.goqa_check import goqa_report, goqa_survey, js_per_question

        survey, records = goqa_survey(self.cfg.country, n_questions, seed=self.cfg.seed)
        scorer = SurveyScorer(
            self.model,
            self.tokenizer,
            survey,
            position=self.cfg.position,
            max_rows=max(self.cfg.max_rows, len(survey.items)),
        )
        prompts = self.prompts_of(z)
        results = {name: js_per_question(scorer.answer_probs(p)[0], records) for name, p in prompts.items()}
        return goqa_report(results, len(records), seed=self.cfg.seed)

    def save(self, z: np.ndarray, folder: str | Path, meta: dict[str, Any]) -> Path:
        """Save prompt(z) as a peft prompt-tuning adapter folder."""
        prompt = self.subspace.prompts(z)[0]
        return save_adapter(self.model, prompt, folder, position=self.cfg.position, meta=meta)
