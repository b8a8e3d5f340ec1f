"""DPRM objective (registry interface): a steerable reward model trained on communities' answer distributions.

Li et al. (2024), "Aligning Crowd Feedback via Distributional Preference Reward Modeling"
(arXiv:2402.09764); the maths is ``raysearch.objectives.dprm``. The model scores
``format_query(prompt, community)`` / option for every option of a GlobalOpinionQA question;
the softmax over the options is the predicted answer distribution of that community, trained by
optimal transport (1-D Wasserstein) to the observed one, cross-entropy being the ablation.

The registry interface (``raysearch.train.registry``): ``CONFIG_CLS``, ``DATA_KEYS``, ``prepare``,
``run_loop``, ``prepare_trials``, ``PER_COMMUNITY_PREFIX``, ``load_model``, ``add_cli``, ``run_cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysearch.models.scoring import RewardModel
from raysearch.train.checkpoint import MODEL_DIR
from raysearch.train.dprm.cli import add_cli, run_cli
from raysearch.train.dprm.config import DprmConfig
from raysearch.train.dprm.data import LOO_GLOBAL, DprmData, prepare, reference_predictors
from raysearch.train.dprm.evaluate import flatten, reference_metrics
from raysearch.train.dprm.loop import run_loop

CONFIG_CLS = DprmConfig
#: search-space ``fixed`` options that shape the data (passed to ``prepare``), not the training config
DATA_KEYS = ("max_train_records", "margin")
PER_COMMUNITY_PREFIX = "val/jsd/"
#: model-free reference predictors, by the label the report and the Pareto plot show; the global one is
#: leave-one-out (the mean over the *other* countries that answered the question, uniform if none did)
REFERENCES = (LOO_GLOBAL, "uniform")


def load_model(path: str | Path) -> RewardModel:
    """A checkpoint's model (``path/model``) or a model folder itself, ready to score."""
    p = Path(path)
    return RewardModel.load(p / MODEL_DIR if (p / MODEL_DIR).is_dir() else p)


def reference_flat(data: DprmData, *, split: str, n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Flat ``{split}/...`` metrics of the leave-one-out global and uniform predictors on ``split``."""
    records, pairs = data.eval_splits()[split], getattr(data.pairs, split)
    predictors = reference_predictors(data)
    return {name: flatten(reference_metrics(fn, records, pairs, split=split, n_boot=n_boot, seed=seed))
            for name, fn in predictors.items()}


def prepare_trials(space: Any, data: DprmData, base: DprmConfig, paths: Any) -> tuple[dict[str, Any], DprmData,
                                                                                     dict[str, tuple[float, float]]]:
    """Trials share ``base`` and ``data``; baselines: the references' validation point in the space's objectives.

    A reference that does not report an objective's metric is left out of the baselines.
    """
    metrics = [o.metric for o in space.objectives]
    baselines: dict[str, tuple[float, float]] = {}
    for name, flat in reference_flat(data, split="val", n_boot=base.n_boot, seed=base.seed).items():
        if all(m in flat for m in metrics):
            baselines[name] = (flat[metrics[0]], flat[metrics[1]])
    return base.to_dict(), data, baselines


__all__ = [
    "CONFIG_CLS", "DATA_KEYS", "PER_COMMUNITY_PREFIX", "REFERENCES", "DprmConfig", "DprmData", "add_cli",
    "load_model", "prepare", "prepare_trials", "reference_flat", "run_cli", "run_loop",
]
