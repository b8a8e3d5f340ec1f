"""The NP-BTL run configuration: one typed dataclass whose field help feeds the CLI, the search and the docs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from raysearch.data.goqa import DEFAULT_MARGIN
from raysearch.data.tasks import DEFAULT_MAX_CONTEXT, DEFAULT_N_TARGET, DISJOINT
from raysearch.errors import UserInputError
from raysearch.models.npbtl import ENCODERS, KL_TARGETS, MODEL_KINDS, NpbtlModelConfig
from raysearch.objectives.npbtl import DEFAULT_KL_WEIGHT

USERS = ("countries", "respondents")
FEATURES = ("joint", "concat")
PAIRS = ("all", "contested")


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class NpbtlConfig:
    """One NP-BTL (or BTL / DPL baseline) run on cached features: model sizes, task sampling, optimizer, users."""

    objective: Literal["npbtl"] = _f("npbtl", "always npbtl (picks this config class in the registry)", cli=False)
    model: Literal["npbtl", "btl", "dpl"] = _f("npbtl", "npbtl (context -> z -> r(y; z)), btl (r(y), no context) or dpl (mean/std head)")
    backbone: str = _f("all-MiniLM-L6-v2", "frozen text backbone; only used once, to embed every distinct text")
    features: Literal["joint", "concat"] = _f(
        "joint", "h(y) for text: joint = embedding of (prompt, option) as one input; concat = [h(prompt) || h(option)]")
    users: Literal["countries", "respondents"] = _f(
        "countries", "GlobalOpinionQA users: countries, or simulated respondents sampled from a country's distributions")
    respondents_per_country: int = _f(20, "simulated respondents per country (users=respondents)")
    heldout_by: Literal["country", "respondent"] = _f(
        "country", "users=respondents: hold out whole countries (unseen cultures) or respondents within every country")
    min_countries: int = _f(
        1, "keep only questions asked in at least this many countries (shared questions let a context reveal a culture)")
    pairs: Literal["all", "contested"] = _f(
        "all", "users=countries: all of a country's pairs, or only contested ones (pairs the training countries "
               "order both ways; chosen without looking at held-out labels) - where a context can reveal a culture")
    margin: float = _f(DEFAULT_MARGIN, "users=countries: min share gap between two options that makes a pair")
    heldout_share: float = _f(0.2, "share of users (countries; for respondents their countries) held out as unseen test users")
    val_share: float = _f(0.15, "share of users (countries) for validation, disjoint from train and test")
    synthetic_users: int = _f(2000, "--data synthetic: simulated two-type users (40 pairs each), split like countries")
    hidden: int = _f(64, "width of every hidden layer of the encoder and reward MLPs")
    latent_dim: int = _f(8, "dimension of the user latent z")
    heads: int = _f(4, "attention heads across the context pairs (must divide hidden)")
    encoder: Literal["attention", "factor"] = _f(
        "attention", "NP-BTL context encoder: attention (the paper's: pair MLP -> self-attention -> mean) or factor "
                     "(each pair as U(chosen) - U(rejected) of the reward's own option factors, r = b(y) + z.U(y))")
    stochastic: bool = _f(False, "Gaussian z with a KL term (conditional VAE) instead of a deterministic z (encoder=attention; ignored by factor)")
    kl_weight: float = _f(DEFAULT_KL_WEIGHT, "weight of the KL term when stochastic")
    kl_target: Literal["context_target", "prior"] = _f(
        "context_target", "stochastic: KL(q(z|C) || q(z|C u T)), the paper's neural-process term (context_target), "
                          "or KL(q(z|C) || N(0, I)) (prior)")
    lr: float = _f(3e-3, "Adam learning rate (small MLPs on cached features)")
    weight_decay: float = _f(0.0, "AdamW (decoupled) weight decay; 0 is plain Adam")
    steps: int = _f(200, "optimizer steps per epoch")
    epochs: int = _f(3, "epochs: each ends with a validation pass and a checkpoint")
    batch_size: int = _f(64, "tasks per optimizer step, summed over all workers")
    n_target: int = _f(DEFAULT_N_TARGET, "target pairs scored per task (the paper: 20)")
    max_context: int = _f(DEFAULT_MAX_CONTEXT, "training tasks draw a context of 0..max_context of the user's other pairs")
    disjoint: Literal["question", "pair"] = _f(
        "question", "context pairs come from other questions than the targets' (question), or only from other "
                    "pairs (pair: the older protocol, which leaks a target's question into its context)")
    eval_repeats: int = _f(4, "evaluation tasks per user (different targets, same at every context size)")
    max_length: int = _f(128, "tokens per embedded text (the prompt is cut before the option)")
    n_boot: int = _f(1000, "bootstrap resamples (over users) for accuracy intervals")
    seed: int = _f(0, "seed for the user split, respondents, model init and task sampling")
    log_every: int = _f(50, "print a progress line every this many steps (rank 0)")

    def model_config(self, feature_dim: int, *, kind: str | None = None) -> NpbtlModelConfig:
        """The ``NpbtlModelConfig`` of this run for features of dimension ``feature_dim``."""
        k = kind or self.model
        gaussian = self.stochastic and k == "npbtl" and self.encoder == "attention"
        return NpbtlModelConfig(kind=k, feature_dim=feature_dim, hidden=self.hidden,  # type: ignore[arg-type]
                                latent_dim=self.latent_dim, heads=self.heads, stochastic=gaussian,
                                encoder=self.encoder, kl_target=self.kl_target)

    def validate(self) -> NpbtlConfig:
        """Raise ``UserInputError`` naming the bad field, its value and what is valid."""
        choices = {"objective": ("npbtl",), "model": MODEL_KINDS, "users": USERS, "features": FEATURES,
                   "heldout_by": ("country", "respondent"), "pairs": PAIRS, "encoder": ENCODERS,
                   "kl_target": KL_TARGETS, "disjoint": DISJOINT}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise UserInputError(f"{name}={getattr(self, name)!r} is invalid; valid: {', '.join(valid)}")
        for name in ("respondents_per_country", "min_countries", "synthetic_users", "hidden", "latent_dim", "heads", "steps", "epochs",
                     "batch_size", "n_target", "eval_repeats", "max_length", "n_boot", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserInputError(f"{name}={v!r} is invalid; it must be an integer >= 1")
        if self.hidden % self.heads:
            raise UserInputError(f"heads={self.heads} does not divide hidden={self.hidden}; pick heads dividing hidden")
        if not isinstance(self.max_context, int) or self.max_context < 0:
            raise UserInputError(f"max_context={self.max_context!r} is invalid; it must be an integer >= 0")
        if not self.lr > 0:
            raise UserInputError(f"lr={self.lr} is invalid; it must be > 0, e.g. 3e-3")
        if self.kl_weight < 0 or self.weight_decay < 0:
            raise UserInputError(f"kl_weight={self.kl_weight}, weight_decay={self.weight_decay}: both must be >= 0")
        if self.pairs == "contested" and self.users != "countries":
            raise UserInputError("pairs=contested applies to users=countries; simulated respondents use all their pairs")
        if not 0 <= self.margin < 1:
            raise UserInputError(f"margin={self.margin} is invalid; it must be in [0, 1)")
        for name in ("heldout_share", "val_share"):
            if not 0 < getattr(self, name) < 1:
                raise UserInputError(f"{name}={getattr(self, name)} is invalid; it must be in (0, 1)")
        if self.heldout_share + self.val_share >= 1:
            raise UserInputError(f"heldout_share + val_share = {self.heldout_share + self.val_share:g} leaves no "
                                 f"training users; keep the sum below 1 (e.g. 0.2 + 0.15)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NpbtlConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserInputError(f"unknown NP-BTL option {unknown[0]!r}; valid: {', '.join(sorted(names))}")
        return cls(**d)
