"""The pairwise training session: the (BT or SCPO) loss of a batch of pairs under the community
schedule, and per-community pairwise accuracy. The runner (``raysearch.train.runner``) drives it.

An answer option appears in several pairs of its question: the bundled SCPO countries' 2,226
training pairs have 4,452 pair sides but 1,469 distinct texts. With ``dedup`` each distinct text of a
batch is encoded once and every pair's loss is formed from those scores (the same loss and gradients;
dropout draws one mask per encoded text). Random batches of 32 repeat few texts (1.02 sides per
text), so ``group_by_prompt`` shuffles whole query groups into batches (2.6 sides per text at batch
32). Evaluation and SCPO's margins score each distinct text once as well (``dedup``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import PairRecord
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData, select_pairs
from raysearch.methods.pairwise.losses import bt_loss, community_weights, gamma_at
from raysearch.metrics.accuracy import CommunityMetrics, community_metrics, pairwise_correct
from raysearch.models.backbone import load_reward_model, resolve_backbone
from raysearch.models.scoring import distinct, pair_queries, pair_text_ids, score_ids
from raysearch.models.text import TokenCache
from raysearch.train import distributed
from raysearch.train.finetune import FineTuneSession, load_model
from raysearch.train.runner import LoopResult, Reporter, run

__all__ = ["PairwiseSession", "evaluate", "load_model", "metrics_from_dict", "reference_margins", "start", "train_bare"]


def start(cfg: PairwiseConfig, data: TrainData, *, device: torch.device, resume_from: str | None,
          state: dict[str, Any] | None) -> PairwiseSession:
    """The session of one BT or SCPO run (``raysearch.methods.base.Method.start``)."""
    return PairwiseSession(cfg, data, device=device, resume_from=resume_from, state=state)


def metrics_from_dict(d: dict[str, Any]) -> dict[str, CommunityMetrics]:
    """Per-split metrics from a checkpoint's ``meta.json``."""
    return {s: CommunityMetrics.from_dict(m) for s, m in d.items()}


class PairwiseSession(FineTuneSession):
    """Trains one reward model on ``TrainData.train`` (after SCPO's selection) and scores every eval split."""

    unit = "pairs"

    def __init__(self, cfg: PairwiseConfig, data: TrainData, *, device: torch.device, resume_from: str | None,
                 state: dict[str, Any] | None) -> None:
        super().__init__(cfg, device=device, resume_from=resume_from, state=state)
        self.cfg: PairwiseConfig = cfg
        self.data = data
        self.eval_splits = tuple(data.eval)
        margins = None
        if cfg.objective == "scpo" and state is None:  # on resume the selection comes from the checkpoint
            margins = data.margins
            if margins is None:
                margins = reference_margins(cfg, data.train, model=self.model, cache=self.cache, device=device)
        sel = select_pairs(cfg, data.train, data.global_train, margins, state=state["selection"] if state else None)
        self.pairs, self.base_w, self.selection, self.info = sel.pairs, sel.weights, sel.state, sel.info
        if cfg.objective == "scpo":
            distributed.log(f"SCPO kept {int(self.info['scpo/n_kept'])}/{len(data.train)} pairs (tau={cfg.tau}), "
                            f"mean weight {self.info['scpo/mean_weight']:.3f} (beta={cfg.beta})")
        trained = sorted({p.community for p in self.pairs if p.community != GLOBAL_COMMUNITY})
        self.counts = {c: sum(p.community == c for p in self.pairs) for c in trained}
        self.pair_comm = [p.community for p in self.pairs]
        self.c_ids, self.r_ids = pair_text_ids(self.cache, self.pairs, conditioned=cfg.condition_on_community)
        groups = None
        if cfg.group_by_prompt:  # pairs with the same query (prompt, and community where it is a prefix)
            by_query: dict[str, list[int]] = {}
            for i, q in enumerate(pair_queries(self.pairs, conditioned=cfg.condition_on_community)):
                by_query.setdefault(q, []).append(i)
            groups = list(by_query.values())
        self.setup_optimizer(len(self.pairs), groups)
        sides, per_step = self.texts_per_epoch(0)
        n_texts = len(set(self.c_ids) | set(self.r_ids))
        distributed.log(f"{sides} pair sides, {per_step} distinct texts per epoch (distinct within each step and "
                        f"rank, summed; {n_texts} distinct training texts); dedup={cfg.dedup} encodes "
                        f"{per_step if cfg.dedup else sides}, group_by_prompt={cfg.group_by_prompt}")

    def texts_per_epoch(self, epoch: int) -> tuple[int, int]:
        """Pair sides of ``epoch``'s steps and, summed over steps and ranks, the distinct texts among them
        (what ``dedup`` encodes)."""
        sides = per_step = 0
        for batch in self.epoch_batches(epoch):
            for rank in range(self.size):
                share = self.share(batch, rank)
                sides += 2 * len(share)
                per_step += len({self.c_ids[i] for i in share} | {self.r_ids[i] for i in share})
        return sides, per_step

    def loss(self, model: torch.nn.Module, batch: list[int], step: int) -> tuple[torch.Tensor, int]:
        cfg, n = self.cfg, len(batch)
        ids = [self.c_ids[i] for i in batch] + [self.r_ids[i] for i in batch]
        if cfg.dedup:  # each distinct text once; its score feeds every pair side that holds it
            texts, where = distinct(ids)
            r = self.forward(model, texts)[where.to(self.device)]
        else:
            r = self.forward(model, ids)
        gamma = gamma_at(step / (self.steps_per_epoch * cfg.epochs), start=cfg.gamma_start, end=cfg.gamma_end,
                         shape=cfg.shape)
        alpha = community_weights(self.counts, gamma) if self.counts else {}
        w = self.base_w[batch] * torch.tensor([alpha.get(self.pair_comm[i], 1.0) for i in batch])
        normalize = cfg.normalize if cfg.objective == "scpo" else "batch"
        return bt_loss(r[:n], r[n:], w.to(self.device), normalize=normalize), n

    def evaluate(self, split: str) -> tuple[dict[str, Any], dict[str, float]]:
        m = evaluate(self.model, self.cache, self.data.eval[split], self.cfg, self.device,
                     conditioned=self.cfg.condition_on_community)
        return {split: m}, m.flat(prefix=f"{split}/")

    def train_info(self) -> dict[str, float]:
        return dict(self.info)

    def save(self, folder: Any) -> dict[str, Any]:
        return {**super().save(folder), "selection": self.selection}


def train_bare(cfg: PairwiseConfig, data: TrainData, *, device: torch.device | str | None = None,
               reporter: Reporter | None = None, resume_from: str | None = None, workdir: str | None = None) -> LoopResult:
    """Train ``cfg`` on ``data`` in this process with the runner (no Ray)."""
    from raysearch.methods.pairwise import BT, SCPO

    return run(SCPO if cfg.objective == "scpo" else BT, cfg, data, device=device, reporter=reporter,
               resume_from=resume_from, workdir=workdir)


def _score_pairs_sharded(
    model: torch.nn.Module, cache: TokenCache, chosen: list[int], rejected: list[int], *,
    batch_size: int, device: torch.device, dedup: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Rewards of the chosen and rejected texts of every pair, scored across ranks and gathered.

    ``dedup``: each distinct text once (rank r takes the r-th, (r+W)-th, ... of the sorted distinct
    ids); else both texts of every pair (rank r takes pairs r, r+W, ...)."""
    rank, size = distributed.world()
    if dedup:
        texts = sorted(set(chosen) | set(rejected))[rank::size]
        scores = score_ids(model, cache, texts, batch_size=batch_size, device=device) if texts else np.empty(0)
        score: dict[int, float] = {}
        for part_ids, part_r in distributed.gather((texts, scores)):
            score.update(zip(part_ids, part_r.tolist(), strict=True))
        return np.array([score[i] for i in chosen], dtype=np.float64), np.array([score[i] for i in rejected], dtype=np.float64)
    mine = list(range(rank, len(chosen), size))
    ids = [chosen[i] for i in mine] + [rejected[i] for i in mine]
    r = score_ids(model, cache, ids, batch_size=batch_size, device=device) if ids else np.empty(0)
    rc, rr = np.empty(len(chosen)), np.empty(len(chosen))
    for part_idx, part_r in distributed.gather((mine, r)):
        n = len(part_idx)
        rc[part_idx], rr[part_idx] = part_r[:n], part_r[n:]
    return rc, rr


def evaluate(
    model: torch.nn.Module, cache: TokenCache, pairs: list[PairRecord], cfg: PairwiseConfig, device: torch.device,
    *, conditioned: bool,
) -> CommunityMetrics:
    """Per-community pairwise accuracy of ``model`` on ``pairs`` (eval mode, no_grad, sharded)."""
    c_ids, r_ids = pair_text_ids(cache, pairs, conditioned=conditioned)
    rc, rr = _score_pairs_sharded(model, cache, c_ids, r_ids, batch_size=cfg.eval_batch_size, device=device,
                                  dedup=cfg.dedup)
    return community_metrics(
        pairwise_correct(rc, rr), [p.community for p in pairs], groups=[p.group for p in pairs],
        n_boot=cfg.n_boot, seed=cfg.seed,
    )


def reference_margins(
    cfg: PairwiseConfig, pairs: list[PairRecord], *, model: torch.nn.Module | None = None,
    cache: TokenCache | None = None, device: torch.device | str | None = None,
) -> torch.Tensor:
    """Δ = r_G(chosen) - r_G(rejected) for every pair, G = ``cfg.reference`` (scored unsteered).

    ``model``/``cache`` may pass G already loaded (SCPO's R starts from G, so it is the same)."""
    dev = distributed.device(device)
    if model is None or (cfg.reference and cfg.reference != cfg.init_from):
        if not cfg.reference:
            raise ValueError("SCPO needs a reference model G (PairwiseConfig.reference) or precomputed margins")
        model, tok = load_reward_model(resolve_backbone(cfg.reference), seed=cfg.seed)
        model.to(dev)
        cache = TokenCache(tok, max_length=cfg.max_length)
    assert cache is not None
    c_ids, r_ids = pair_text_ids(cache, pairs, conditioned=False)
    rc, rr = _score_pairs_sharded(model, cache, c_ids, r_ids, batch_size=cfg.eval_batch_size, device=dev,
                                  dedup=cfg.dedup)
    return torch.tensor(rc - rr, dtype=torch.float32)
