"""The DPRM training session, and how a DPRM model is read: option scores → distributions → metrics.

Per step the session scores every option text of its batch of records in one forward pass, pads
the scores to ``[B, K_max]`` with a mask and compares their softmax with the communities'
distributions (``losses.dprm_loss``); the runner (``raysearch.train.runner``) drives it.

Text is ``format_query(prompt, community)`` / option, the same text the BT and SCPO models score
(``raysearch.models.scoring.pair_text_ids``), so a BT and a DPRM model are scored on the same inputs.
Each split gets distribution metrics (JSD and W1 per community, intervals by question) and, from
the same scores, pairwise accuracy on the split's GlobalOpinionQA pairs: DPRM's reward of an option
is its predicted share (``losses.option_reward``), the rule the pair labels were made by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import DistributionRecord, PairRecord
from raysearch.methods.dprm.config import DprmConfig
from raysearch.methods.dprm.data import DprmData
from raysearch.methods.dprm.losses import beta_dirichlet_smooth, dprm_loss, pad_distributions
from raysearch.metrics.accuracy import CommunityMetrics, community_metrics, pairwise_correct
from raysearch.metrics.distribution import DistributionMetrics, distribution_metrics
from raysearch.models.scoring import score_ids
from raysearch.models.text import TokenCache, format_query
from raysearch.train import distributed
from raysearch.train.finetune import FineTuneSession, load_model
from raysearch.train.runner import LoopResult, Reporter, run

#: a split's metrics: distributions under the split's name, pairwise accuracy under ``<split>_pairs``
PAIRS_SUFFIX = "_pairs"


__all__ = ["DprmSession", "load_model", "metrics_from_dict", "start", "train_bare"]


def start(cfg: DprmConfig, data: DprmData, *, device: torch.device, resume_from: str | None,
          state: dict[str, Any] | None) -> DprmSession:
    """The session of one DPRM run (``raysearch.methods.base.Method.start``)."""
    return DprmSession(cfg, data, device=device, resume_from=resume_from, state=state)


class DprmSession(FineTuneSession):
    """Trains one DPRM model on ``DprmData.train`` (records with all their options) and scores val and test."""

    unit = "records"

    def __init__(self, cfg: DprmConfig, data: DprmData, *, device: torch.device, resume_from: str | None,
                 state: dict[str, Any] | None) -> None:
        _, size = distributed.world()
        if cfg.batch_size < size:
            raise ValueError(f"batch_size={cfg.batch_size} is below the {size} workers; each needs a record per step")
        if not data.train:
            raise ValueError("no training records; give communities with data in the training split")
        super().__init__(cfg, device=device, resume_from=resume_from, state=state)
        self.cfg: DprmConfig = cfg
        self.data = data
        self.eval_splits = tuple(data.eval_splits())
        self.text_ids = record_text_ids(self.cache, data.train, conditioned=cfg.condition_on_community)
        self.target, self.mask = train_targets(cfg, data.train)
        self.setup_optimizer(len(data.train))

    def loss(self, model: torch.nn.Module, batch: list[int], step: int) -> tuple[torch.Tensor, int]:
        r = self.forward(model, [i for rec in batch for i in self.text_ids[rec]])
        m = self.mask[batch]
        k = int(m.sum(dim=1).max())
        m, t = m[:, :k].to(self.device), self.target[batch][:, :k].to(self.device)
        scores = r.new_zeros(m.shape).masked_scatter(m, r)  # [B, K]: row b holds record b's options
        return dprm_loss(scores, t, kind=self.cfg.dprm_loss, mask=m), len(batch)

    def evaluate(self, split: str) -> tuple[dict[str, Any], dict[str, float]]:
        cfg, records = self.cfg, self.data.eval_splits()[split]
        pred = predict_distributions(self.model, self.cache, records, conditioned=cfg.condition_on_community,
                                     batch_size=cfg.eval_batch_size, device=self.device)
        m = split_metrics(split, pred, records, getattr(self.data.pairs, split), n_boot=cfg.n_boot, seed=cfg.seed)
        return m, flatten(m)


def train_bare(cfg: DprmConfig, data: DprmData, *, device: torch.device | str | None = None,
               reporter: Reporter | None = None, resume_from: str | None = None, workdir: str | None = None) -> LoopResult:
    """Train ``cfg`` on ``data`` in this process with the runner (no Ray)."""
    from raysearch.methods.dprm import METHOD

    return run(METHOD, cfg, data, device=device, reporter=reporter, resume_from=resume_from, workdir=workdir)


def train_targets(cfg: DprmConfig, records: Sequence[DistributionRecord]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets ``[N, K_max]`` and mask; smoothed by the Dirichlet posterior mean if ``smooth_n > 0``."""
    dists = [r.distribution for r in records]
    if cfg.smooth_n > 0:
        dists = [tuple(beta_dirichlet_smooth(shares=d, n=cfg.smooth_n, alpha0=cfg.alpha0)) for d in dists]
    return pad_distributions(dists, options=[r.options for r in records])


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
    rank, world = distributed.world()
    ids = record_text_ids(cache, records, conditioned=conditioned)
    mine = list(range(rank, len(records), world))
    flat = [i for k in mine for i in ids[k]]
    scores = score_ids(model, cache, flat, batch_size=batch_size, device=device) if flat else np.empty(0)
    out: list[np.ndarray] = [np.empty(0)] * len(records)
    for part, part_scores in distributed.gather((mine, scores)):
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

