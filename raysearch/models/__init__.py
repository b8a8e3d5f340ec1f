"""Reward models: backbone loading (full or LoRA), the text format, scoring, model cards, the Hugging Face Hub."""

from raysearch.models.backbone import (
    DEFAULT_BACKBONE,
    load_reward_model,
    resolve_backbone,
    save_reward_model,
)
from raysearch.models.hub import push_to_hub
from raysearch.models.scoring import RewardModel

__all__ = [
    "DEFAULT_BACKBONE", "RewardModel", "load_reward_model", "push_to_hub", "resolve_backbone", "save_reward_model",
]
