"""The pairwise (BT, SCPO) training config: the fine-tuning fields plus SCPO's filter and the community schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from raysearch.methods.pairwise.losses import DEFAULT_BETA, DEFAULT_TAU, check_scpo_params
from raysearch.train.config import FineTuneConfig, option

#: learning rate when ``lr`` is not given, per objective (see ``PairwiseConfig.default_lr``)
DEFAULT_LR = {"bt": 2e-4, "scpo": 2e-5}


@dataclass
class PairwiseConfig(FineTuneConfig):
    """One BT or SCPO run on community preference pairs (``batch_size`` counts pairs).

    Two defaults differ from the other fine-tuning methods', each chosen on validation by
    ``experiments/precision_check.py`` (the steerable BT model, one epoch of 1,024 GlobalOpinionQA
    pairs, 3 seeds, paired; docs/BENCHMARKS.md):

    - dropout off: 5.0 points (95% interval +1.3 to +9.5) more accurate on validation (TRL's
      ``RewardTrainer`` defaults to it off too);
    - ``precision="auto"``: bf16 autocast where the CPU has native bf16, which was as accurate as fp32
      (+0.0, interval -0.2 to +0.3) and faster; fp32 elsewhere.

    ``length_buckets=2`` (the same rewards with less padding) trained 1.28x faster in
    ``benchmarks/bench_train.py``."""

    DEFAULTS: ClassVar[dict[str, Any]] = {"dropout": False, "precision": "auto", "length_buckets": 2}

    objective: Literal["bt", "scpo"] = option("bt", "loss: bt (Bradley–Terry) or scpo (filtered, re-weighted BT)", cli=False)
    reference: str | None = option(None, "global reference reward model G for SCPO (a save_pretrained folder)")
    tau: float = option(DEFAULT_TAU, "SCPO filter: keep a pair iff sigmoid(delta) < tau, tau in (0, 1]", gt=0, le=1)
    beta: float = option(DEFAULT_BETA, "SCPO weight temperature: w = min(exp(delta/beta), 1), beta > 0", gt=0)
    normalize: Literal["batch", "weights"] = option("batch", "SCPO loss normalization: batch size or sum of weights")
    gamma_start: float = option(0.0, "community weighting alpha_c ~ n_c^-gamma: gamma at the start (0 = every pair alike)",
                                ge=-1, le=2)
    gamma_end: float = option(0.0, "gamma at the end of training (1 = every community the same total weight)", ge=-1, le=2)
    shape: Literal["constant", "linear", "cosine", "step"] = option("constant", "how gamma moves from start to end")
    global_share: float = option(0.0, "share of global (unified) pairs mixed into training, in [0, 1)", ge=0, lt=1)
    dedup: bool = option(True, "score each distinct text of a batch once (training, evaluation, SCPO margins); "
                               "--no-dedup encodes both sides of every pair")
    group_by_prompt: bool = option(False, "shuffle whole prompt groups (pairs of one question and community, "
                                          "which share texts) into batches, so a batch repeats texts")

    def check(self) -> None:
        check_scpo_params(self.tau, self.beta)  # also rejects an infinite beta

    def default_lr(self) -> float:
        """BT trains the backbone's new head and upper layers (2e-4); SCPO fine-tunes G gently (2e-5;
        the paper used 1e-6 on DeBERTa-v3-base), since it sees only the pairs G gets wrong or weakly
        right and would otherwise forget the rest."""
        return DEFAULT_LR[self.objective]
