"""What a DPRM search's trials share, and the model-free references that are the baselines of its Pareto plot.

Every trial trains on the same prepared data from the same base config; nothing is trained before
the trials. The baselines are the leave-one-out global distribution (for a country, the mean over
the *other* countries that answered the question, uniform if none did) and the uniform one, read on
validation. DPRM has no confirmation stage (``Method.confirm_trials`` returns None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from raysearch.data.records import DistributionRecord, PairRecord
from raysearch.methods.dprm.config import DprmConfig
from raysearch.methods.dprm.data import LOO_GLOBAL, DprmData, reference_predictors
from raysearch.methods.dprm.step import flatten, split_metrics
from raysearch.metrics.accuracy import CommunityMetrics
from raysearch.metrics.distribution import DistributionMetrics

#: model-free reference predictors, by the label the report and the Pareto plot show; the global one is
#: leave-one-out (the mean over the *other* countries that answered the question, uniform if none did)
REFERENCES = (LOO_GLOBAL, "uniform")


def reference_metrics(
    predict: Callable[[DistributionRecord], Sequence[float]], records: Sequence[DistributionRecord],
    pairs: Sequence[PairRecord], *, split: str, n_boot: int, seed: int,
) -> dict[str, DistributionMetrics | CommunityMetrics]:
    """Metrics of a model-free predictor (the leave-one-out global distribution, the uniform one) on one split."""
    return split_metrics(split, [predict(r) for r in records], records, pairs, n_boot=n_boot, seed=seed)


def reference_flat(data: DprmData, *, split: str, n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Flat ``{split}/...`` metrics of the leave-one-out global and uniform predictors on ``split``."""
    records, pairs = data.eval_splits()[split], getattr(data.pairs, split)
    return {name: flatten(reference_metrics(fn, records, pairs, split=split, n_boot=n_boot, seed=seed))
            for name, fn in reference_predictors(data).items()}


def prepare_trials(space: Any, data: DprmData, base: DprmConfig, paths: Any, *, reference: str | None = None) -> tuple[dict[str, Any], DprmData,
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


def confirm_trials(front: Any, space: Any, data: DprmData, base: DprmConfig, paths: Any, *, trial_base: dict[str, Any],
                   trial_data: Any, reference: str | None = None) -> None:
    """None: a DPRM search has no confirmation stage (its baselines are model-free references)."""
    return None
