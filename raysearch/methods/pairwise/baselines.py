"""The baselines every SCPO result is compared with, as training configs: G and full-data fine-tuning from G.

- **G**, the global (unified) reward model: Bradley–Terry on the global pairs (the unweighted
  mean distribution over countries), scoring prompts without a community, from the backbone.
- **Full-data fine-tuning from G** (the SCPO paper's baseline): Bradley–Terry on *every*
  community training pair, unfiltered and unweighted, starting from G, with the same input
  (community prefix), learning rate, epochs and data budget as the steerable SCPO model, so the
  only difference to SCPO is SCPO's filter, weights and community schedule.
- **Per-community SCPO** (the paper's setting): one SCPO model per community, from G, on that
  community's pairs only, scoring without a prefix.
"""

from __future__ import annotations

from dataclasses import replace

from raysearch.methods.pairwise.config import PairwiseConfig

#: Report names of the baselines, used as keys in search outputs and experiment tables.
GLOBAL = "global model G"
FINETUNE = "fine-tuning from G"
PER_COMMUNITY = "per-community SCPO"


def _plain(cfg: PairwiseConfig) -> PairwiseConfig:
    """No SCPO schedule and no global mix-in: every pair alike."""
    return replace(cfg, gamma_start=0.0, gamma_end=0.0, shape="constant", global_share=0.0)


def global_config(base: PairwiseConfig) -> PairwiseConfig:
    """G: BT on the global pairs from the backbone, unsteered."""
    return replace(_plain(base), objective="bt", init_from=None, reference=None, condition_on_community=False)


def finetune_config(base: PairwiseConfig, g_path: str) -> PairwiseConfig:
    """Full-data fine-tuning from G: BT on all community pairs, from G, at SCPO's learning rate."""
    return replace(_plain(base), objective="bt", init_from=g_path, reference=None, condition_on_community=True,
                   lr=replace(base, objective="scpo").learning_rate)


def per_community_config(base: PairwiseConfig, g_path: str) -> PairwiseConfig:
    """One community's SCPO model from G (the caller passes only that community's pairs), unsteered."""
    return replace(base, objective="scpo", init_from=g_path, reference=g_path, condition_on_community=False,
                   gamma_start=0.0, gamma_end=0.0, shape="constant", global_share=0.0)
