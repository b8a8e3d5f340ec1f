"""Score soft prompts: a frozen causal LM answers every survey item; answers -> indices -> L1 loss.

Answer distribution of an item (docs/softprompt.md, "Where the soft prompt goes"): softmax of
the next-token logits at the last position, restricted to the tokens "1".."5". The expected
answer is its mean (deterministic); ``sample`` mode draws answers instead, as in the paper.

Two positions for the n virtual tokens:

- ``suffix`` (default, our performance lever): ``[item prompt][soft prompt] -> answer``: the
  soft prompt sits right before the answer (for a chat model, at the start of the assistant
  turn). The item prompts' key/value cache is computed once at construction and shared by
  every candidate, so a candidate costs ``n_items * n`` tokens instead of ``n_items * (n + ~90)``.
- ``prefix`` (peft prompt tuning, the paper's setting): ``[soft prompt][item prompt] -> answer``;
  every candidate re-reads every item.

A whole population is scored in batched forward passes of up to ``max_rows`` rows
(candidates x items), never one item at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import DynamicCache, PreTrainedModel

from raysearch.errors import UserInputError
from raysearch.softprompt.survey import N_OPTIONS, Survey

Position = Literal["suffix", "prefix"]
POSITIONS: tuple[str, ...] = ("suffix", "prefix")


@dataclass(frozen=True)
class Scores:
    """Scores of P candidates on I items and D dimensions."""

    probs: torch.Tensor  #: (P, I, 5) answer distributions
    means: torch.Tensor  #: (P, I) mean answers (expected or sampled)
    indices: torch.Tensor  #: (P, D) index scores, float64


def answer_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the single tokens "1".."5"; an error names a tokenizer that splits a digit."""
    ids = []
    for k in range(1, N_OPTIONS + 1):
        pieces = tokenizer.encode(str(k), add_special_tokens=False)
        if len(pieces) != 1 or tokenizer.decode(pieces).strip() != str(k):
            raise UserInputError(
                f"the tokenizer writes the answer {k!r} as {len(pieces)} tokens {pieces}; the "
                "scorer needs '1'..'5' as single tokens: use a model whose vocabulary has them"
            )
        ids.append(pieces[0])
    return ids


def render_prompt(tokenizer: Any, body: str) -> str:
    """The full prompt of one item, ending exactly where the answer starts.

    With a chat template: the item is the user turn, followed by the assistant header.
    Without one: ``bos + body + "\nAnswer:"``.
    """
    if getattr(tokenizer, "chat_template", None):
        return str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True
            )
        )
    return f"{tokenizer.bos_token or ''}{body}\nAnswer:"


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
    return ids, mask


def _positions(mask: torch.Tensor, start: torch.Tensor | int = 0) -> torch.Tensor:
    """Position ids that skip padding: (B, L) mask -> (B, L), counting from ``start``."""
    pos = mask.long().cumsum(-1) - 1
    if isinstance(start, torch.Tensor):
        pos = pos + start[:, None]
    else:
        pos = pos + start
    return pos.clamp(min=0)


class SurveyScorer:
    """A frozen LM, a survey and a position; scores batches of soft prompts (P, n, d)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: Any,
        survey: Survey,
        *,
        position: str = "suffix",
        max_rows: int = 96,
    ) -> None:
        if position not in POSITIONS:
            raise UserInputError(f"position {position!r} is not one of {POSITIONS}")
        if max_rows < len(survey.items):
            raise UserInputError(
                f"max_rows={max_rows} is below the {len(survey.items)} items of one candidate; "
                f"use at least {len(survey.items)}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.survey = survey
        self.position = position
        self.max_rows = max_rows
        self.device = next(model.parameters()).device
        self.answer_ids = torch.tensor(answer_token_ids(tokenizer), device=self.device)
        self.embeddings: Any = model.get_input_embeddings()
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.answer_ids[0])
        texts = [render_prompt(tokenizer, item.render(survey.instruction)) for item in survey.items]
        rows = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
        self.item_tokens = [len(r) for r in rows]
        ids, mask = _left_pad(rows, self.pad_id)
        self.item_ids, self.item_mask = ids.to(self.device), mask.to(self.device)
        if position == "suffix":
            self._build_item_cache()

    # -- construction -------------------------------------------------------------------------
    @torch.no_grad()
    def _build_item_cache(self) -> None:
        """Run the item prompts once; keep their key/values and the answer logits of n = 0."""
        mask = self.item_mask
        out = self.model(
            input_ids=self.item_ids,
            attention_mask=mask,
            position_ids=_positions(mask),
            use_cache=True,
            logits_to_keep=1,
        )
        self.item_kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        self.item_len = mask.sum(-1)  # (I,) real tokens per item
        self.plain_probs = self._last_logits_to_probs(out.logits).cpu()  # (I, 5)

    # -- public -------------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.survey.items)

    @property
    def embed_dim(self) -> int:
        return int(self.embeddings.weight.shape[1])

    def text_embedding(self, text: str) -> torch.Tensor:
        """Embeddings (n, d) of ``text`` as real tokens, for persona prompts and P0."""
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        with torch.no_grad():
            return self.embeddings(torch.tensor(ids, device=self.device)).detach().clone()

    @torch.no_grad()
    def answer_probs(self, prompts: torch.Tensor) -> torch.Tensor:
        """Answer distributions (P, I, 5) for soft prompts ``prompts`` (P, n, d); n may be 0."""
        if prompts.dim() != 3 or prompts.shape[2] != self.embed_dim:
            raise ValueError(f"prompts must be (P, n, {self.embed_dim}), got {tuple(prompts.shape)}")
        prompts = prompts.to(self.device, self.embeddings.weight.dtype)
        per_chunk = max(1, self.max_rows // self.n_items)
        out = [self._chunk(prompts[i : i + per_chunk]) for i in range(0, len(prompts), per_chunk)]
        return torch.cat(out) if out else torch.empty(0, self.n_items, N_OPTIONS)

    def scores(
        self,
        prompts: torch.Tensor,
        *,
        mode: str = "expected",
        samples: int = 20,
        seeds: list[int] | None = None,
    ) -> Scores:
        """Answer distributions, mean answers and index scores of every candidate."""
        probs = self.answer_probs(prompts)
        if mode == "expected":
            means = expected_answers(probs)
        elif mode == "sample":
            if seeds is None or len(seeds) != len(probs):
                raise ValueError("sample mode needs one seed per candidate")
            means = torch.stack([sample_answers(p, samples, s) for p, s in zip(probs, seeds, strict=True)])
        else:
            raise UserInputError(f"mode {mode!r} is not 'expected' or 'sample'")
        return Scores(probs, means, self.survey.indices(means))

    def draw_scores(self, prompt: torch.Tensor, *, samples: int, seeds: list[int]) -> Scores:
        """ONE prompt (1, n, d) scored on several seeded draws: one row per seed, one forward pass.

        Row r equals ``scores(prompt, mode="sample", samples=samples, seeds=[seeds[r]])``: the
        answer distributions do not depend on the seed, only the drawn answers do.
        """
        if prompt.dim() != 3 or prompt.shape[0] != 1:
            raise ValueError(f"draw_scores takes one prompt (1, n, d), got {tuple(prompt.shape)}")
        if not seeds:
            raise ValueError("draw_scores needs at least one seed")
        return self.sampled(self.answer_probs(prompt)[0], samples=samples, seeds=seeds)

    def sampled(self, probs: torch.Tensor, *, samples: int, seeds: list[int]) -> Scores:
        """One candidate's answer distributions (I, 5), drawn once per seed: one row per seed."""
        means = torch.stack([sample_answers(probs, samples, s) for s in seeds])
        return Scores(probs[None].expand(len(seeds), -1, -1), means, self.survey.indices(means))

    # -- forward passes -----------------------------------------------------------------------
    def _last_logits_to_probs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits[:, -1, self.answer_ids].float(), dim=-1)

    def _chunk(self, prompts: torch.Tensor) -> torch.Tensor:
        c, n, d = prompts.shape
        items = self.n_items
        soft = prompts.repeat_interleave(items, dim=0)  # row = candidate * items + item
        if self.position == "suffix" and n == 0:
            return self.plain_probs[None].expand(c, -1, -1).clone()
        if self.position == "suffix":
            tail = soft  # (c*I, n, d): only the soft prompt is new; the items come from the cache
            cache = DynamicCache(ddp_cache_data=[(k.repeat(c, 1, 1, 1), v.repeat(c, 1, 1, 1)) for k, v in self.item_kv])
            new_mask = torch.ones(c * items, tail.shape[1], dtype=torch.long, device=self.device)
            mask = torch.cat([self.item_mask.repeat(c, 1), new_mask], dim=1)
            start = self.item_len.repeat(c)
            pos = _positions(new_mask, start)
            logits = self.model(
                inputs_embeds=tail,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits
        else:
            body = self.embeddings(self.item_ids).repeat(c, 1, 1)
            embeds = torch.cat([soft, body], dim=1)
            soft_mask = torch.ones(c * items, n, dtype=torch.long, device=self.device)
            mask = torch.cat([soft_mask, self.item_mask.repeat(c, 1)], dim=1)
            logits = self.model(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=_positions(mask),
                use_cache=False,
                logits_to_keep=1,
            ).logits
        return self._last_logits_to_probs(logits).view(c, items, N_OPTIONS).cpu()


def expected_answers(probs: torch.Tensor) -> torch.Tensor:
    """Mean answer under each distribution: (..., 5) -> (...)."""
    values = torch.arange(1, N_OPTIONS + 1, dtype=probs.dtype)
    return probs @ values


def sample_answers(probs: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """Mean of ``samples`` answers drawn per item: (I, 5) -> (I,), seeded."""
    gen = torch.Generator().manual_seed(int(seed))
    draws = torch.multinomial(probs.double(), samples, replacement=True, generator=gen) + 1
    return draws.double().mean(-1)


def l1_loss(indices: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The paper's loss: sum over dimensions with a target of |index - target|.

    indices (P, D), targets (D,), mask (D,) bool (False = no target, skipped) -> (P,).
    """
    return ((indices - targets).abs() * mask).sum(-1)
