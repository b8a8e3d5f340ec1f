"""Score (prompt, response[, community]) with a reward model: batched, eval mode, no_grad."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import PairRecord
from raysearch.models.card import DEFAULT_CONVENTION, TextConvention
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
    """A trained reward model loaded from a model folder or a Hub name, steerable to any trained community.

    It scores with the text convention it was trained with (``convention``: the community prefix and
    ``max_length``, from the folder's ``raysearch.json``; a folder without one gets the default,
    ``[Community] prompt``, with ``max_length`` from the checkpoint's ``meta.json``).

    >>> rm = RewardModel.load("runs/train/scpo/model")           # doctest: +SKIP
    >>> rm.score("Is climate change serious?", "Very serious", community="Chile")  # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module, tok, *, max_length: int = 64, device: str | torch.device = "cpu",
                 convention: TextConvention | None = None, card: dict | None = None) -> None:
        self.model = model.to(device).eval()
        self.tok = tok
        self.device = torch.device(device)
        self.convention = replace(convention or DEFAULT_CONVENTION, max_length=max_length)
        #: the folder's ``raysearch.json`` (communities, data, config, metrics), or None for an older folder
        self.card = card
        self.cache = TokenCache(tok, max_length=max_length)

    @property
    def communities(self) -> list[str]:
        """The communities it was trained on (empty where the folder does not say)."""
        return list((self.card or {}).get("communities") or [])

    @classmethod
    def load(cls, path: str | Path, *, max_length: int | None = None, device: str | torch.device = "cpu") -> RewardModel:
        """Load a model folder (a run's ``model/``, or a checkpoint folder holding one) or a Hugging Face Hub
        name ``org/name`` (downloaded when online, from the local cache under ``HF_HUB_OFFLINE=1``);
        ``max_length`` defaults to the one it was trained with."""
        from raysearch.models.backbone import load_reward_model, resolve_backbone
        from raysearch.models.card import convention, read_card
        from raysearch.models.hub import model_folder

        local = Path(path).expanduser()
        folder = model_folder(local) if local.is_dir() else Path(resolve_backbone(str(path), what="reward model"))
        conv = convention(folder)
        model, tok = load_reward_model(resolve_backbone(str(folder), what="reward model"), seed=0)
        return cls(model, tok, max_length=max_length or conv.max_length, device=device, convention=conv,
                   card=read_card(folder))

    def query(self, prompt: str, community: str | None) -> str:
        """The first text segment the model scores: ``prompt`` under its community convention."""
        if community and not self.convention.conditioned:
            raise ValueError(f"this model was trained without a community prefix (condition_on_community=False, "
                             f"e.g. the global model G); score it with community=None, not {community!r}")
        return self.convention.query(prompt, community)

    def score_many(
        self, prompts: Sequence[str], responses: Sequence[str], *, community: str | None = None, batch_size: int = 64
    ) -> np.ndarray:
        """Rewards for each (prompt, response); ``community=None`` scores without steering."""
        ids = self.cache.add([self.query(p, community) for p in prompts], list(responses))
        return score_ids(self.model, self.cache, ids, batch_size=batch_size, device=self.device)

    def score(self, prompt: str, response: str, *, community: str | None = None) -> float:
        return float(self.score_many([prompt], [response], community=community)[0])

    def pair_correct(self, pairs: Sequence[PairRecord], *, conditioned: bool | None = None,
                     batch_size: int = 128) -> np.ndarray:
        """Per pair, True where the chosen response scores strictly higher (ties wrong); shape ``[len(pairs)]``.

        ``conditioned`` prefixes each prompt with its community (a steerable model; default: as the model
        was trained); G scores unsteered. Global (unified) pairs never get a prefix.
        """
        cond = self.convention.conditioned if conditioned is None else conditioned
        q = [self.convention.query(p.prompt, p.community if cond and p.community != GLOBAL_COMMUNITY else None)
             for p in pairs]
        c_ids, r_ids = self.cache.add(q, [p.chosen for p in pairs]), self.cache.add(q, [p.rejected for p in pairs])
        texts, where = distinct(c_ids + r_ids)  # an option appears in several pairs: score each text once
        r = score_ids(self.model, self.cache, texts, batch_size=batch_size, device=self.device)[where.numpy()]
        return r[: len(pairs)] > r[len(pairs) :]
