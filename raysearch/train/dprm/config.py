"""The DPRM training config: ``TrainConfig``'s shared fields plus the distributional loss and smoothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from raysearch.errors import UserInputError
from raysearch.objectives.dprm import DEFAULT_ALPHA0, LOSSES
from raysearch.train.config import TrainConfig

#: tokens per (question, option) text: the shortest length at which no two questions of the SCPO countries in
#: the bundled GlobalOpinionQA slice are token-identical after truncation (``raysearch.train.dprm.collisions``;
#: 40 tokens made 104 of their 442 questions collide, 64 made 19); 45 of the 2,168 texts still lose a few tokens
DEFAULT_MAX_LENGTH = 96
#: AdamW learning rate when ``lr`` is not given: like BT, DPRM trains a new head and the upper layers
#: of the backbone from scratch, so it takes BT's 2e-4 rather than SCPO's gentle 2e-5.
DEFAULT_LR = 2e-4


@dataclass
class DprmConfig(TrainConfig):
    """One DPRM run: a steerable reward model whose option scores give a community's answer distribution.

    ``batch_size`` counts *records* (prompts with all their options) per optimizer step, summed over workers.
    """

    objective: Literal["dprm"] = field(
        default="dprm", metadata={"help": "loss family: dprm (distributional preference reward model)", "cli": False})
    max_length: int = field(default=DEFAULT_MAX_LENGTH, metadata={
        "help": "tokens per (question, option) text; the longer segment is cut first; 96 keeps every question of "
                "the SCPO countries distinct (the train command prints the collision count)"})
    lr: float | None = field(default=None, metadata={
        "help": f"AdamW learning rate (default {DEFAULT_LR}, as for BT: a new head and upper layers)"})
    dprm_loss: Literal["w1", "ot", "ce"] = field(default="w1", metadata={
        "help": "w1: closed-form 1-D Wasserstein over ordered options (paper); ot: POT with cost |i-j|; "
                "ce: cross-entropy (the ablation that ignores the order of the options)"})
    alpha0: float = field(default=DEFAULT_ALPHA0, metadata={
        "help": "Dirichlet prior pseudo-count per option for --smooth-n (1 = uniform prior, Laplace's rule)"})
    smooth_n: int = field(default=0, metadata={
        "help": "if > 0, read each training distribution as the shares of n respondents and smooth it with "
                "the Beta/Dirichlet posterior mean; 0 = no smoothing (GlobalOpinionQA gives shares, not counts)"})

    def validate(self) -> DprmConfig:
        """Raise ``UserInputError`` naming the bad field, its value and what is valid."""
        if self.objective != "dprm":
            raise UserInputError(f"objective {self.objective!r} is not dprm; DprmConfig trains DPRM only")
        super().validate()  # the shared fields (epochs, batch_size, lr, lora, freeze_layers, ...)
        if self.dprm_loss not in LOSSES:
            raise UserInputError(f"dprm_loss={self.dprm_loss!r} is unknown; valid: {', '.join(LOSSES)}")
        if not self.alpha0 > 0 or self.alpha0 != self.alpha0 or self.alpha0 == float("inf"):
            raise UserInputError(f"alpha0={self.alpha0} must be a finite number > 0 (prior pseudo-count), e.g. 1.0")
        if self.smooth_n < 0:
            raise UserInputError(f"smooth_n={self.smooth_n} must be >= 0 (0 = no smoothing; else respondents per record)")
        return self

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR
