"""The NP-BTL run configuration: the common training fields (NP-BTL's defaults) plus users, model sizes and tasks.

NP-BTL trains small MLPs on cached features, so its optimizer budget differs from the
fine-tuning methods': lr 3e-3, no weight decay, 3 epochs of ``steps`` steps, 64 tasks per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from raysearch.data.goqa import DEFAULT_MARGIN
from raysearch.data.tasks import DEFAULT_MAX_CONTEXT, DEFAULT_N_TARGET
from raysearch.errors import UserInputError
from raysearch.methods.npbtl.losses import DEFAULT_KL_WEIGHT
from raysearch.methods.npbtl.model import NpbtlModelConfig
from raysearch.train.config import BaseConfig, option


@dataclass
class NpbtlConfig(BaseConfig):
    """One NP-BTL (or BTL / DPL baseline) run on cached features: model sizes, task sampling, optimizer, users."""

    # the common fields with NP-BTL's defaults: small MLPs on cached features, Adam (no weight decay)
    DEFAULTS = {"lr": 3e-3, "weight_decay": 0.0, "epochs": 3, "batch_size": 64, "max_length": 128, "log_every": 50}

    objective: Literal["npbtl"] = option("npbtl", "always npbtl (picks this config class in the registry)", cli=False)
    # NP-BTL's own
    model: Literal["npbtl", "btl", "dpl"] = option(
        "npbtl", "npbtl (context -> z -> r(y; z)), btl (r(y), no context) or dpl (mean/std head)")
    features: Literal["joint", "concat"] = option(
        "joint", "h(y) for text: joint = embedding of (prompt, option) as one input; concat = [h(prompt) || h(option)]")
    users: Literal["countries", "respondents"] = option(
        "countries", "GlobalOpinionQA users: countries, or simulated respondents sampled from a country's distributions")
    respondents_per_country: int = option(20, "simulated respondents per country (users=respondents)", ge=1)
    heldout_by: Literal["country", "respondent"] = option(
        "country", "users=respondents: hold out whole countries (unseen cultures) or respondents within every country")
    min_countries: int = option(
        1, "keep only questions asked in at least this many countries (shared questions let a context reveal a culture)",
        ge=1)
    pairs: Literal["all", "contested"] = option(
        "all", "users=countries: all of a country's pairs, or only contested ones (pairs the training countries "
               "order both ways; chosen without looking at held-out labels) - where a context can reveal a culture")
    margin: float = option(DEFAULT_MARGIN, "users=countries: min share gap between two options that makes a pair",
                           ge=0, lt=1)
    heldout_share: float = option(
        0.2, "share of users (countries; for respondents their countries) held out as unseen test users", gt=0, lt=1)
    val_share: float = option(0.15, "share of users (countries) for validation, disjoint from train and test",
                              gt=0, lt=1)
    synthetic_users: int = option(
        2000, "--data synthetic: simulated two-type users (40 pairs each), split like countries", ge=1)
    hidden: int = option(64, "width of every hidden layer of the encoder and reward MLPs", ge=1)
    latent_dim: int = option(8, "dimension of the user latent z", ge=1)
    heads: int = option(4, "attention heads across the context pairs (must divide hidden)", ge=1)
    encoder: Literal["attention", "factor"] = option(
        "attention", "NP-BTL context encoder: attention (the paper's: pair MLP -> self-attention -> mean) or factor "
                     "(each pair as U(chosen) - U(rejected) of the reward's own option factors, r = b(y) + z.U(y))")
    stochastic: bool = option(
        False, "Gaussian z with a KL term (conditional VAE) instead of a deterministic z (encoder=attention; ignored by factor)")
    kl_weight: float = option(DEFAULT_KL_WEIGHT, "weight of the KL term when stochastic", ge=0)
    kl_target: Literal["context_target", "prior"] = option(
        "context_target", "stochastic: KL(q(z|C) || q(z|C u T)), the paper's neural-process term (context_target), "
                          "or KL(q(z|C) || N(0, I)) (prior)")
    steps: int = option(200, "optimizer steps per epoch", ge=1)
    n_target: int = option(DEFAULT_N_TARGET, "target pairs scored per task (the paper: 20)", ge=1)
    max_context: int = option(DEFAULT_MAX_CONTEXT, "training tasks draw a context of 0..max_context of the user's other pairs",
                              ge=0)
    disjoint: Literal["question", "pair"] = option(
        "question", "context pairs come from other questions than the targets' (question), or only from other "
                    "pairs (pair: the older protocol, which leaks a target's question into its context)")
    eval_repeats: int = option(4, "evaluation tasks per user (different targets, same at every context size)", ge=1)

    def check(self) -> None:
        if self.hidden % self.heads:
            raise UserInputError(f"heads={self.heads} does not divide hidden={self.hidden}; pick heads dividing hidden")
        if self.pairs == "contested" and self.users != "countries":
            raise UserInputError("pairs=contested applies to users=countries; simulated respondents use all their pairs")
        if self.heldout_share + self.val_share >= 1:
            raise UserInputError(f"heldout_share + val_share = {self.heldout_share + self.val_share:g} leaves no "
                                 f"training users; keep the sum below 1 (e.g. 0.2 + 0.15)")

    def model_config(self, feature_dim: int, *, kind: str | None = None) -> NpbtlModelConfig:
        """The ``NpbtlModelConfig`` of this run for features of dimension ``feature_dim``."""
        k = kind or self.model
        gaussian = self.stochastic and k == "npbtl" and self.encoder == "attention"
        return NpbtlModelConfig(kind=k, feature_dim=feature_dim, hidden=self.hidden,  # type: ignore[arg-type]
                                latent_dim=self.latent_dim, heads=self.heads, stochastic=gaussian,
                                encoder=self.encoder, kl_target=self.kl_target)
