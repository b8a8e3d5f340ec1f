"""Questions that truncation makes indistinguishable: count them at a ``max_length``, find one without any.

A reward model sees ``format_query(prompt, community)`` / option, cut to ``max_length`` tokens by
``TokenCache`` (``longest_first``: the long question loses its tail before a short option does). Two
different questions *collide* when, for the same community, the question segment left after
truncation is token-identical for some option text of each: the model then scores them from the
same question text and cannot tell them apart. Only the input text is used (never the answer shares),
so picking ``max_length`` by this count looks at no evaluation labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.data.records import DistributionRecord
from raysearch.errors import UserInputError
from raysearch.models.text import format_query


@dataclass(frozen=True)
class Collisions:
    """Collision count of a set of records at one ``max_length``.

    ``colliding`` holds the questions (record ``group`` s) that share a truncated question segment with
    another question; ``truncated_texts`` counts (question, option) texts that lost tokens.
    """

    max_length: int
    questions: int
    colliding: frozenset[str]
    texts: int
    truncated_texts: int

    @property
    def n_colliding(self) -> int:
        return len(self.colliding)

    def summary(self) -> str:
        return (f"max_length {self.max_length}: {self.n_colliding} of {self.questions} questions collide "
                f"(token-identical after truncation); {self.truncated_texts} of {self.texts} texts truncated")


def _question_segment(enc: object, i: int) -> tuple[int, ...]:
    """Token ids of the first segment (the question) of text ``i`` in a batch encoding."""
    ids = enc["input_ids"][i]  # type: ignore[index]
    try:
        seq = enc.sequence_ids(i)  # type: ignore[attr-defined]  # fast tokenizers
    except (AttributeError, ValueError):
        types = enc.get("token_type_ids")  # type: ignore[attr-defined]
        if types is None:
            raise UserInputError("counting collisions needs a fast tokenizer or token_type_ids; this tokenizer "
                                 "gives neither; use a fast (Rust) tokenizer") from None
        seq = [0 if t == 0 else 1 for t in types[i]]
    return tuple(t for t, s in zip(ids, seq, strict=True) if s == 0)


def count_collisions(
    tok: PreTrainedTokenizerBase, records: Sequence[DistributionRecord], *, max_length: int, conditioned: bool = True,
) -> Collisions:
    """How many questions of ``records`` collide at ``max_length`` under the models' text format.

    ``conditioned`` prefixes the community as the steerable models do; collisions are counted within a
    community (different prefixes make different texts). Truncation is ``TokenCache``'s.
    """
    if max_length < 2:
        raise UserInputError(f"max_length={max_length} leaves no room for text; use at least 2 tokens")
    owners: dict[tuple[str, tuple[int, ...]], set[str]] = defaultdict(set)
    texts = truncated = 0
    for r in records:
        q = format_query(r.prompt, r.community if conditioned and r.community != GLOBAL_COMMUNITY else None)
        cut = tok([q] * len(r.options), list(r.options), truncation="longest_first", max_length=max_length)
        full = tok([q] * len(r.options), list(r.options), truncation=False)
        for i in range(len(r.options)):
            owners[(r.community if conditioned else "", _question_segment(cut, i))].add(r.group)
            texts += 1
            truncated += len(full["input_ids"][i]) > len(cut["input_ids"][i])
    colliding = frozenset(g for groups in owners.values() if len(groups) > 1 for g in groups)
    return Collisions(max_length=max_length, questions=len({r.group for r in records}), colliding=colliding,
                      texts=texts, truncated_texts=truncated)


def shortest_collision_free(
    tok: PreTrainedTokenizerBase, records: Sequence[DistributionRecord], candidates: Sequence[int], *,
    conditioned: bool = True,
) -> int | None:
    """The smallest of ``candidates`` at which no two questions collide; None if every candidate has collisions."""
    for n in sorted(candidates):
        if count_collisions(tok, records, max_length=n, conditioned=conditioned).n_colliding == 0:
            return n
    return None


__all__ = ["Collisions", "count_collisions", "shortest_collision_free"]
