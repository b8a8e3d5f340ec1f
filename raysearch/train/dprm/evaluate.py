"""Score every option of a record, turn scores into predicted distributions, and measure them.

Text is ``format_query(prompt, community)`` / option, the same text the BT and SCPO models score
(``raysearch.models.scoring.pair_text_ids``), so a BT and a DPRM model are scored on the same inputs.
Each split gets distribution metrics (JSD and W1 per community, intervals by question) and, from
the same scores, pairwise accuracy on the split's GlobalOpinionQA pairs: DPRM's reward of an option
is its predicted share (``raysearch.objectives.dprm.option_reward``), the rule the pair labels were made by.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import DistributionRecord, PairRecord
from raysearch.metrics.accuracy import CommunityMetrics, community_metrics, pairwise_correct
from raysearch.metrics.distribution import DistributionMetrics, distribution_metrics
from raysearch.models.scoring import score_ids
from raysearch.models.text import TokenCache, format_query
from raysearch.train.loop import _gather, _world

#: a split's metrics: distributions under the split's name, pairwise accuracy under ``<split>_pairs``
PAIRS_SUFFIX = "_pairs"


def record_text_ids(cache: TokenCache, records: Sequence[DistributionRecord], *, conditioned: bool) -> list[list[int]]:
    """Cache ids of each record's option texts, ``[len(record.options)]`` per record."""
    queries: list[str] = []
    responses: list[str] = []
    for r in records:
        q = format_query(r.prompt, r.community if conditioned and r.community != GLOBAL_COMMUNITY else None)
        queries += [q] * len(r.options)
        responses += list(r.options)
    flat = cache.add(queries, responses)
    out, at = [], 0
    for r in records:
        out.append(flat[at : at + len(r.options)])
        at += len(r.options)
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    """Predicted distribution over one record's options (float64, sums to 1)."""
    return torch.softmax(torch.as_tensor(scores, dtype=torch.float64), dim=0).numpy()


def predict_distributions(
    model: torch.nn.Module, cache: TokenCache, records: Sequence[DistributionRecord], *, conditioned: bool,
    batch_size: int, device: torch.device,
) -> list[np.ndarray]:
    """``p̂`` for every record (eval mode, no_grad); under DDP rank r scores records r, r+W, ... and all gather."""
    rank, world = _world()
    ids = record_text_ids(cache, records, conditioned=conditioned)
    mine = list(range(rank, len(records), world))
    flat = [i for k in mine for i in ids[k]]
    scores = score_ids(model, cache, flat, batch_size=batch_size, device=device) if flat else np.empty(0)
    out: list[np.ndarray] = [np.empty(0)] * len(records)
    for part, part_scores in _gather((mine, scores)):
        at = 0
        for k in part:
            out[k] = softmax(part_scores[at : at + len(ids[k])])
            at += len(ids[k])
    return out


def pair_accuracy(
    predicted: Sequence[Sequence[float]] | Sequence[np.ndarray], records: Sequence[DistributionRecord], pairs: Sequence[PairRecord],
    *, n_boot: int, seed: int,
) -> CommunityMetrics | None:
    """Pairwise accuracy when each option's reward is its predicted share (ties wrong); None without pairs."""
    share = {(r.community, r.group): dict(zip(r.options, p, strict=True))
             for r, p in zip(records, predicted, strict=True)}
    scored = [p for p in pairs if (p.community, p.group) in share]
    if not scored:
        return None
    rc = np.array([share[(p.community, p.group)][p.chosen] for p in scored])
    rr = np.array([share[(p.community, p.group)][p.rejected] for p in scored])
    return community_metrics(pairwise_correct(rc, rr), [p.community for p in scored],
                             groups=[p.group for p in scored], n_boot=n_boot, seed=seed)


def split_metrics(
    split: str, predicted: Sequence[Sequence[float]] | Sequence[np.ndarray], records: Sequence[DistributionRecord],
    pairs: Sequence[PairRecord], *, n_boot: int, seed: int,
) -> dict[str, DistributionMetrics | CommunityMetrics]:
    """``{split: DistributionMetrics, split + "_pairs": CommunityMetrics}`` (the latter only with pairs)."""
    out: dict[str, DistributionMetrics | CommunityMetrics] = {
        split: distribution_metrics(predicted,  # type: ignore[arg-type]  # 1-D arrays are sequences of floats
                                    [r.distribution for r in records], [r.community for r in records],
                                    groups=[r.group for r in records], n_boot=n_boot, seed=seed)}
    acc = pair_accuracy(predicted, records, pairs, n_boot=n_boot, seed=seed)
    if acc is not None:
        out[split + PAIRS_SUFFIX] = acc
    return out


def flatten(metrics: dict[str, DistributionMetrics | CommunityMetrics]) -> dict[str, float]:
    """Flat keys: ``val/mean_jsd``, ``val/jsd/<c>``, ``val/w1/<c>``, and ``val/mean_acc``, ``val/acc/<c>``."""
    flat: dict[str, float] = {}
    for name, m in metrics.items():
        flat.update(m.flat(prefix=f"{name.removesuffix(PAIRS_SUFFIX)}/"))
    return flat


def metrics_from_dict(d: dict[str, dict]) -> dict[str, DistributionMetrics | CommunityMetrics]:
    """The inverse of ``{name: m.to_dict()}`` as saved in a checkpoint's meta.json."""
    return {name: (CommunityMetrics.from_dict(m) if name.endswith(PAIRS_SUFFIX) else DistributionMetrics.from_dict(m))
            for name, m in d.items()}


def reference_metrics(
    predict: Callable[[DistributionRecord], Sequence[float]], records: Sequence[DistributionRecord],
    pairs: Sequence[PairRecord], *, split: str, n_boot: int, seed: int,
) -> dict[str, DistributionMetrics | CommunityMetrics]:
    """Metrics of a model-free predictor (the leave-one-out global distribution, the uniform one) on one split."""
    return split_metrics(split, [predict(r) for r in records], records, pairs, n_boot=n_boot, seed=seed)
