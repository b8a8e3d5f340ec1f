"""The one text format used for training, scoring and evaluation of reward models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase


def format_query(prompt: str, community: str | None) -> str:
    """First segment: the prompt, prefixed by the community when the model is steered by one."""
    return f"[{community}] {prompt}" if community else prompt


class TokenCache:
    """Tokenizes each distinct (query, response) once; batches are padded on demand.

    A text over ``max_length`` loses tokens from its longer segment first (``longest_first``): a long
    question is cut before a short answer; a long response (PRISM) is cut as well.
    """

    def __init__(self, tok: PreTrainedTokenizerBase, *, max_length: int) -> None:
        self.tok = tok
        self.max_length = max_length
        self._index: dict[tuple[str, str], int] = {}
        self._ids: list[list[int]] = []
        self._types: list[list[int] | None] = []

    def add(self, queries: Sequence[str], responses: Sequence[str]) -> list[int]:
        """Register texts; returns their ids in this cache (tokenizing only new ones, in one call)."""
        keys = list(zip(queries, responses, strict=True))
        new = [k for k in dict.fromkeys(keys) if k not in self._index]
        if new:
            enc = self.tok(
                [q for q, _ in new], [r for _, r in new], truncation="longest_first",
                max_length=self.max_length, padding=False,
            )
            types = enc.get("token_type_ids")
            for i, k in enumerate(new):
                self._index[k] = len(self._ids)
                self._ids.append(list(enc["input_ids"][i]))
                self._types.append(list(types[i]) if types is not None else None)
        return [self._index[k] for k in keys]

    def length(self, i: int) -> int:
        """Tokens of text ``i`` (after truncation)."""
        return len(self._ids[i])

    def batch(self, ids: Sequence[int]) -> dict[str, torch.Tensor]:
        """Right-padded tensors (``input_ids``, ``attention_mask``[, ``token_type_ids``]) for ``ids``."""
        seqs = [self._ids[i] for i in ids]
        width = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        input_ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            input_ids[row, : len(s)] = torch.tensor(s)
            mask[row, : len(s)] = 1
        out = {"input_ids": input_ids, "attention_mask": mask}
        if self._types[ids[0]] is not None:
            types = torch.zeros((len(seqs), width), dtype=torch.long)
            for row, i in enumerate(ids):
                t = self._types[i]
                assert t is not None
                types[row, : len(t)] = torch.tensor(t)
            out["token_type_ids"] = types
        return out


def encode(
    tok: PreTrainedTokenizerBase, queries: Sequence[str], responses: Sequence[str], *, max_length: int
) -> dict[str, torch.Tensor]:
    """Tokenize (query, response) pairs in one padded batch, with the same truncation as ``TokenCache``."""
    return dict(
        tok(
            list(queries), list(responses), truncation="longest_first", max_length=max_length,
            padding=True, return_tensors="pt",
        )
    )
