"""Score (prompt, response[, community]) with a reward model: batched, eval mode, no_grad."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import PairRecord
from raysearch.models.text import TokenCache, format_query


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def score_ids(
    model: torch.nn.Module, cache: TokenCache, ids: Sequence[int], *, batch_size: int, device: torch.device
) -> np.ndarray:
    """Rewards of cached texts ``ids`` (shape ``[len(ids)]``), scored in length-sorted batches."""
    m = unwrap(model)
    was_training = m.training
    m.eval()
    order = sorted(range(len(ids)), key=lambda i: len(cache._ids[ids[i]]))
    out = np.empty(len(ids), dtype=np.float64)
    try:
        for s in range(0, len(order), batch_size):
            chunk = order[s : s + batch_size]
            batch = {k: v.to(device) for k, v in cache.batch([ids[i] for i in chunk]).items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                r = m(**batch).logits.squeeze(-1)
            out[chunk] = r.float().cpu().numpy()
    finally:
        m.train(was_training)
    return out


def pair_queries(pairs: Sequence[PairRecord], *, conditioned: bool) -> list[str]:
    """The first text segment of each pair: its prompt, prefixed by its community iff ``conditioned``
    (global, unified, pairs never get one). Pairs with the same query are the ones that can share texts."""
    return [format_query(p.prompt, p.community if conditioned and p.community != GLOBAL_COMMUNITY else None)
            for p in pairs]


def pair_text_ids(cache: TokenCache, pairs: Sequence[PairRecord], *, conditioned: bool) -> tuple[list[int], list[int]]:
    """Cache ids of the chosen and rejected texts of ``pairs``.

    The community is a prefix iff ``conditioned``; global (unified) pairs never get one.
    """
    q = pair_queries(pairs, conditioned=conditioned)
    return cache.add(q, [p.chosen for p in pairs]), cache.add(q, [p.rejected for p in pairs])


def distinct(ids: Sequence[int]) -> tuple[list[int], torch.Tensor]:
    """The distinct ``ids`` in order of first appearance and, per id, its position among them:
    ``[distinct_ids[k] for k in where] == list(ids)``; ``where`` is a long tensor of shape ``[len(ids)]``."""
    pos: dict[int, int] = {}
    where = [pos.setdefault(i, len(pos)) for i in ids]
    return list(pos), torch.tensor(where, dtype=torch.long)


class RewardModel:
    """A trained reward model loaded from a checkpoint folder, steerable to any trained community.

    >>> rm = RewardModel.load("runs/train/scpo/model")           # doctest: +SKIP
    >>> rm.score("Is climate change serious?", "Very serious", community="Chile")  # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module, tok, *, max_length: int = 64, device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tok = tok
        self.device = torch.device(device)
        self.cache = TokenCache(tok, max_length=max_length)

    @classmethod
    def load(cls, path: str | Path, *, max_length: int | None = None, device: str | torch.device = "cpu") -> RewardModel:
        """Load a ``model/`` folder; ``max_length`` defaults to the one it was trained with."""
        import json

        from raysearch.models.backbone import load_reward_model, resolve_backbone

        meta = Path(path).parent / "meta.json"
        if max_length is None:
            max_length = json.loads(meta.read_text())["config"]["max_length"] if meta.exists() else 64
        model, tok = load_reward_model(resolve_backbone(str(path)), seed=0)
        return cls(model, tok, max_length=max_length, device=device)

    def score_many(
        self, prompts: Sequence[str], responses: Sequence[str], *, community: str | None = None, batch_size: int = 64
    ) -> np.ndarray:
        """Rewards for each (prompt, response); ``community=None`` scores without steering."""
        ids = self.cache.add([format_query(p, community) for p in prompts], list(responses))
        return score_ids(self.model, self.cache, ids, batch_size=batch_size, device=self.device)

    def score(self, prompt: str, response: str, *, community: str | None = None) -> float:
        return float(self.score_many([prompt], [response], community=community)[0])

    def pair_correct(self, pairs: Sequence[PairRecord], *, conditioned: bool, batch_size: int = 128) -> np.ndarray:
        """Per pair, True where the chosen response scores strictly higher (ties wrong); shape ``[len(pairs)]``.

        ``conditioned`` prefixes each prompt with its community (a steerable model); G scores unsteered.
        """
        c_ids, r_ids = pair_text_ids(self.cache, pairs, conditioned=conditioned)
        texts, where = distinct(c_ids + r_ids)  # an option appears in several pairs: score each text once
        r = score_ids(self.model, self.cache, texts, batch_size=batch_size, device=self.device)[where.numpy()]
        return r[: len(pairs)] > r[len(pairs) :]
