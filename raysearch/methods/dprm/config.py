"""The DPRM training config: the fine-tuning fields plus the distributional loss and its smoothing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from raysearch.errors import UserInputError
from raysearch.methods.dprm.losses import DEFAULT_ALPHA0, DprmLoss
from raysearch.train.config import FineTuneConfig, option

#: tokens per (question, option) text: the shortest length at which no two questions of the SCPO countries in
#: the bundled GlobalOpinionQA slice are token-identical after truncation (``raysearch.methods.dprm.collisions``;
#: 40 tokens made 104 of their 442 questions collide, 64 made 19); 45 of the 2,168 texts still lose a few tokens
DEFAULT_MAX_LENGTH = 96
#: AdamW learning rate when ``lr`` is not given: like BT, DPRM trains a new head and the upper layers
#: of the backbone from scratch, so it takes BT's 2e-4 rather than SCPO's gentle 2e-5.
DEFAULT_LR = 2e-4


@dataclass
class DprmConfig(FineTuneConfig):
    """One DPRM run: a steerable reward model whose option scores give a community's answer distribution.

    ``batch_size`` counts *records* (prompts with all their options) per optimizer step, summed over workers.
    """

    objective: Literal["dprm"] = option("dprm", "loss family: dprm (distributional preference reward model)", cli=False)
    max_length: int = option(
        DEFAULT_MAX_LENGTH, "tokens per (question, option) text; the longer segment is cut first; 96 keeps every "
        "question of the SCPO countries distinct (the train command prints the collision count)", ge=1)
    dprm_loss: DprmLoss = option(
        "w1", "w1: closed-form 1-D Wasserstein over ordered options (paper); ot: POT with cost |i-j|; "
        "ce: cross-entropy (the ablation that ignores the order of the options)")
    alpha0: float = option(
        DEFAULT_ALPHA0, "Dirichlet prior pseudo-count per option for --smooth-n (1 = uniform prior, Laplace's rule)",
        gt=0)
    smooth_n: int = option(
        0, "if > 0, read each training distribution as the shares of n respondents and smooth it with the "
        "Beta/Dirichlet posterior mean; 0 = no smoothing (GlobalOpinionQA gives shares, not counts)", ge=0)

    def check(self) -> None:
        if not math.isfinite(self.alpha0):
            raise UserInputError(f"alpha0={self.alpha0} must be a finite number > 0 (prior pseudo-count), e.g. 1.0")

    def default_lr(self) -> float:
        """2e-4 (``DEFAULT_LR``): a new head and the upper layers are trained from scratch, as for BT."""
        return DEFAULT_LR
