"""Training configuration: one typed dataclass whose field help feeds the CLI and the docs."""

from __future__ import annotations

import argparse
import dataclasses
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from raysearch.errors import UserInputError
from raysearch.objectives.scpo import DEFAULT_BETA, DEFAULT_TAU, check_scpo_params

Objective = Literal["bt", "scpo", "dprm"]
DEFAULT_LR = {"bt": 2e-4, "scpo": 2e-5, "dprm": 2e-4}
#: objectives that train on preference pairs (this config's own fields apply to them all)
PAIRWISE = ("bt", "scpo")


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """Everything one reward-model training run needs (no data, no Ray)."""

    objective: Objective = _f("bt", "loss: bt (Bradley–Terry) or scpo (filtered, re-weighted BT)", cli=False)
    backbone: str = _f("all-MiniLM-L6-v2", "Hugging Face backbone name or local path")
    init_from: str | None = _f(None, "checkpoint folder to start from (SCPO starts from the global model)", cli=False)
    reference: str | None = _f(None, "global reference reward model G for SCPO (a save_pretrained folder)",
                               objectives=PAIRWISE)
    condition_on_community: bool = _f(True, "prefix each prompt with its community (steerable model)", cli=False)
    tau: float = _f(DEFAULT_TAU, "SCPO filter: keep a pair iff sigmoid(delta) < tau, tau in (0, 1]", objectives=PAIRWISE)
    beta: float = _f(DEFAULT_BETA, "SCPO weight temperature: w = min(exp(delta/beta), 1), beta > 0", objectives=PAIRWISE)
    normalize: Literal["batch", "weights"] = _f("batch", "SCPO loss normalization: batch size or sum of weights", objectives=PAIRWISE)
    gamma_start: float = _f(0.0, "community weighting alpha_c ~ n_c^-gamma: gamma at the start (0 = every pair alike)", objectives=PAIRWISE)
    gamma_end: float = _f(0.0, "gamma at the end of training (1 = every community the same total weight)", objectives=PAIRWISE)
    shape: Literal["constant", "linear", "cosine", "step"] = _f("constant", "how gamma moves from start to end", objectives=PAIRWISE)
    global_share: float = _f(0.0, "share of global (unified) pairs mixed into training, in [0, 1)", objectives=PAIRWISE)
    lr: float | None = _f(None, "AdamW learning rate (default: 2e-4 for bt from the backbone, 2e-5 for scpo from G)")
    weight_decay: float = _f(0.01, "AdamW weight decay")
    warmup_ratio: float = _f(0.1, "share of steps with linear learning-rate warm-up")
    epochs: int = _f(2, "passes over the training pairs")
    batch_size: int = _f(32, "pairs per optimizer step, summed over all workers")
    eval_batch_size: int = _f(128, "texts per forward pass when scoring")
    max_length: int = _f(64, "tokens per (prompt, response) text; the longer segment is cut first")
    lora_r: int = _f(0, "LoRA rank (0 = full fine-tuning)")
    lora_alpha: int | None = _f(None, "LoRA alpha (default 2 * rank)")
    freeze_layers: int = _f(3, "freeze the embeddings and this many lowest transformer layers (CPU speed; 0 trains all)")
    grad_clip: float = _f(1.0, "gradient-norm clip")
    n_boot: int = _f(1000, "bootstrap resamples for accuracy intervals")
    seed: int = _f(0, "seed for model init, data order and bootstrap")
    log_every: int = _f(10, "print a progress line every this many steps (rank 0)")

    def validate(self) -> TrainConfig:
        """Raise ``UserInputError`` naming the bad field, its value and what is valid."""
        if self.objective not in DEFAULT_LR:
            raise UserInputError(f"objective {self.objective!r} is unknown; valid: {', '.join(DEFAULT_LR)}")
        check_scpo_params(self.tau, self.beta)
        if self.normalize not in ("batch", "weights"):
            raise UserInputError(f"normalize={self.normalize!r} is invalid; valid: batch, weights")
        for name in ("epochs", "batch_size", "eval_batch_size", "max_length", "n_boot", "log_every"):
            if getattr(self, name) < 1:
                raise UserInputError(f"{name}={getattr(self, name)} must be >= 1")
        if self.lr is not None and not self.lr > 0:
            raise UserInputError(f"lr={self.lr} must be > 0, e.g. 5e-5")
        if self.lora_r < 0 or self.freeze_layers < 0:
            raise UserInputError(f"lora_r={self.lora_r} and freeze_layers={self.freeze_layers} must be >= 0")
        if not 0 <= self.global_share < 1:
            raise UserInputError(f"global_share={self.global_share} must be in [0, 1); it is the share of global pairs")
        if self.shape not in ("constant", "linear", "cosine", "step"):
            raise UserInputError(f"shape={self.shape!r} is unknown; valid: constant, linear, cosine, step")
        for name in ("gamma_start", "gamma_end"):
            if not -1.0 <= getattr(self, name) <= 2.0:
                raise UserInputError(f"{name}={getattr(self, name)} must be in [-1, 2] (0: pairs alike, 1: communities alike)")
        if not 0 <= self.warmup_ratio < 1:
            raise UserInputError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        return self

    @property
    def learning_rate(self) -> float:
        """``lr``, or the objective's default: BT trains the backbone's new head and upper layers
        (2e-4); SCPO fine-tunes G gently (2e-5; the paper used 1e-6 on DeBERTa-v3-base), since
        it sees only the pairs G gets wrong or weakly right and would otherwise forget the rest."""
        if self.lr is not None:
            return self.lr
        return DEFAULT_LR[self.objective]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserInputError(f"unknown training option {unknown[0]!r}; valid: {', '.join(sorted(names))}")
        return cls(**d)


def _flag_kwargs(t: Any) -> dict[str, Any]:
    if get_origin(t) in (Union, types.UnionType):
        t = next(a for a in get_args(t) if a is not type(None))
    if get_origin(t) is Literal:
        return {"choices": list(get_args(t)), "type": str}
    if t is bool:
        return {"action": argparse.BooleanOptionalAction}
    return {"type": t}


def add_config_flags(parser: argparse.ArgumentParser, cls: type = TrainConfig, *, objective: str | None = None) -> None:
    """One ``--flag`` per dataclass field marked for the CLI, with the field's help text.

    With ``objective``, a field whose metadata names ``objectives`` gets a flag only for those.
    """
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        if objective is not None and objective not in f.metadata.get("objectives", (objective,)):
            continue
        parser.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=argparse.SUPPRESS,
            help=f"{f.metadata['help']} (default: {f.default})", **_flag_kwargs(hints[f.name]),
        )


def config_from_args(args: argparse.Namespace, cls: type = TrainConfig, **fixed: Any) -> Any:
    """A validated ``cls`` config from parsed flags plus fields the command fixes itself."""
    names = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**given, **fixed}).validate()
