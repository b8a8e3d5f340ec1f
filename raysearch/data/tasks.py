"""Few-shot tasks for NP-BTL: one user's target pairs plus a context of that user's pairs on *other questions*.

A task is (user, context, target): ``target`` holds ``n_target`` (20, as in the few-shot paper)
of the user's pairs to be scored, ``context`` 0–10 other pairs of the same user that reveal its
type. By default (``disjoint="question"``) context and targets come from **disjoint questions**:
no context pair answers the question of a target pair. Sharing a question would leak the answer:
on GlobalOpinionQA, "Q: A ≻ B" in the context and "Q: A ≻ C" as a target are two pairs of the same
country's answer distribution, so counting wins within a question predicts the target without any
learning (``raysearch.data.task_leakage`` measures it). ``disjoint="pair"`` keeps only the pairs
disjoint, the older and leaky protocol, for comparison.

A pair's question is ``question_of``: ``meta["question"]`` if set, else ``group`` (the question for
GlobalOpinionQA and its simulated respondents), except where ``group`` names the user itself
(the synthetic two-type users; PRISM's split key): those pairs are independent draws, and each
pair is its own question. Tasks refer to pairs by their index in the record list, so any feature
cache can be gathered by ``collate``.

How targets are drawn: the user's pairs are shuffled once; questions are taken in the order of
their first pair in the shuffle, and a question joins the targets while fewer than ``n_target``
target pairs are held, unless it would leave fewer than the wanted context pairs outside the
target questions (then it is skipped, and used only if the targets are still short at the end).
The targets are the first ``n_target`` pairs of the target questions; every pair of every other
question forms the context pool, in shuffled order. With one pair per question this is exactly a
shuffle: the first ``n_target`` pairs are the targets and the next ones the context.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from raysearch.data.records import PairRecord
from raysearch.errors import UserInputError

DEFAULT_N_TARGET = 20
DEFAULT_MAX_CONTEXT = 10
#: The context sizes the few-shot paper reports accuracy at.
EVAL_CONTEXT_SIZES = (0, 1, 3, 5, 10)
Disjoint = Literal["question", "pair"]
DISJOINT: tuple[str, ...] = ("question", "pair")
#: Shuffles tried before a task falls back to the exact (smallest-cover) choice of target questions.
ATTEMPTS = 16


@dataclass(frozen=True)
class Task:
    """One user's context pairs and target pairs, as indices into the record list; disjoint."""

    user: str
    context: tuple[int, ...]
    target: tuple[int, ...]

    def __post_init__(self) -> None:
        assert not set(self.context) & set(self.target), "context and target pairs overlap"


def user_of(record: PairRecord) -> str:
    """The user a pair belongs to: ``user_id``, else the community (a community as one user)."""
    return record.user_id if record.user_id is not None else record.community


def question_of(record: PairRecord) -> str | None:
    """The question a pair answers, or ``None`` when it has none (each such pair is its own question).

    ``meta["question"]`` if set; else ``group``, unless ``group`` is the user itself (synthetic
    users, PRISM's split key), which says nothing about the question.
    """
    q = record.meta.get("question")
    if q is not None:
        return str(q)
    return None if record.group == user_of(record) else record.group


def question_keys(records: Sequence[PairRecord], *, disjoint: Disjoint = "question") -> list[str]:
    """One key per record: its question (``disjoint="question"``), or a key of its own (``"pair"``, or no question)."""
    if disjoint not in DISJOINT:
        raise UserInputError(f"disjoint={disjoint!r} is invalid; valid: {', '.join(DISJOINT)}")
    keys = []
    for i, r in enumerate(records):
        q = question_of(r) if disjoint == "question" else None
        keys.append(f"\x00pair{i}" if q is None else q)
    return keys


def pairs_by_user(records: Sequence[PairRecord]) -> dict[str, list[int]]:
    """Indices of each user's pairs, users in first-seen order."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        out[user_of(r)].append(i)
    return dict(out)


def _sizes(questions: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for q in questions:
        out[q] = out.get(q, 0) + 1
    return out


def smallest_cover(sizes: dict[str, int], n_target: int) -> list[str] | None:
    """Questions whose pairs add up to at least ``n_target`` with the fewest pairs in all (0/1 knapsack), or None."""
    total = sum(sizes.values())
    if total < n_target:
        return None
    names = list(sizes)
    first: list[int | None] = [None] * (total + 1)  # first[s]: the question that first reached sum s
    reach = [False] * (total + 1)
    reach[0] = True
    for k, q in enumerate(names):
        n = sizes[q]
        for s in range(total, n - 1, -1):
            if reach[s - n] and not reach[s]:
                reach[s], first[s] = True, k
    s = next(s for s in range(n_target, total + 1) if reach[s])
    out = []
    while s > 0:  # first[s] was reached from a sum of earlier questions only, so none repeats
        j = first[s]
        assert j is not None
        out.append(names[j])
        s -= sizes[names[j]]
    return out


def context_capacity(questions: Sequence[str], n_target: int) -> int:
    """The most context pairs a task can have outside its targets' questions; -1 if fewer than ``n_target`` pairs.

    ``questions`` holds the question key of each of one user's pairs.
    """
    sizes = _sizes(questions)
    cover = smallest_cover(sizes, n_target)
    return -1 if cover is None else sum(sizes.values()) - sum(sizes[q] for q in cover)


def check_context_size(n_context: int, *, user: str, n_pairs: int, n_target: int, capacity: int | None = None,
                       n_questions: int | None = None) -> None:
    """Raise ``UserInputError`` unless ``0 <= n_context <= capacity`` (context never reuses targets or their questions).

    ``capacity`` defaults to ``n_pairs - n_target`` (every pair its own question).
    """
    if n_target < 1:
        raise UserInputError(f"n_target={n_target} must be >= 1 (the paper scores 20 target pairs per task)")
    if n_pairs < n_target:
        raise UserInputError(
            f"user {user!r} has {n_pairs} pairs, fewer than the {n_target} target pairs a task needs; "
            f"lower --n-target or drop users with fewer pairs"
        )
    cap = n_pairs - n_target if capacity is None else capacity
    if not 0 <= n_context <= cap:
        where = "besides its" if capacity is None else f"on other questions than its (of {n_questions} questions)"
        raise UserInputError(
            f"context size {n_context} is above the {cap} pairs user {user!r} has {where} {n_target} target pairs "
            f"(it has {n_pairs} pairs); use a context size between 0 and {cap}, lower --n-target, or drop users "
            f"with fewer questions"
        )


def split_targets(order: Sequence[int], questions: Sequence[str], *, n_target: int,
                  reserve: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(targets, context pool)`` from one shuffle ``order`` of a user's pairs (positions into ``questions``).

    The rule is the module docstring's: target questions are taken in shuffled order, skipping any
    that would leave fewer than ``reserve`` pairs outside them while the targets are still short.
    """
    sizes = _sizes(questions)
    total = len(order)
    seen = dict.fromkeys(questions[j] for j in order)  # questions in the order of their first pair
    chosen: set[str] = set()
    held = 0
    skipped = []
    for q in seen:
        if held >= n_target:
            break
        if held + sizes[q] <= total - reserve:
            chosen.add(q)
            held += sizes[q]
        else:
            skipped.append(q)
    for q in skipped:  # still short: the targets come first, the context gets what is left
        if held >= n_target:
            break
        chosen.add(q)
        held += sizes[q]
    targets = tuple(j for j in order if questions[j] in chosen)[:n_target]
    pool = tuple(j for j in order if questions[j] not in chosen)
    return targets, pool


def _task(user: str, indices: Sequence[int], questions: Sequence[str], *, n_target: int, reserve: int,
          rngs: Sequence[np.random.Generator] | np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Targets and context pool (record indices) leaving >= ``reserve`` pool pairs: shuffles, then the exact cover."""
    order: np.ndarray | None = None
    for k in range(ATTEMPTS):
        rng = rngs if isinstance(rngs, np.random.Generator) else rngs[k]
        order = rng.permutation(len(indices))
        t, pool = split_targets(order.tolist(), questions, n_target=n_target, reserve=reserve)
        if len(pool) >= reserve:
            break
    else:  # rare: a tight user; take the smallest cover of the target count, in the last shuffle's order
        assert order is not None
        cover = set(smallest_cover(_sizes(questions), n_target) or ())
        t = tuple(int(j) for j in order if questions[j] in cover)[:n_target]
        pool = tuple(int(j) for j in order if questions[j] not in cover)
    return tuple(int(indices[j]) for j in t), tuple(int(indices[j]) for j in pool)


def sample_task(user: str, indices: Sequence[int], *, n_context: int, n_target: int = DEFAULT_N_TARGET,
                rng: np.random.Generator, questions: Sequence[str] | None = None) -> Task:
    """Draw ``n_target`` targets and ``n_context`` context pairs on other questions from one user's ``indices``.

    ``questions[k]`` is the question key of ``indices[k]`` (``question_keys``); ``None``: every
    pair is its own question (only pairs are kept disjoint).
    """
    qs = list(questions) if questions is not None else [f"\x00pair{k}" for k in range(len(indices))]
    if len(qs) != len(indices):
        raise UserInputError(f"{len(qs)} question keys for {len(indices)} pairs of user {user!r}; give one per pair")
    cap = context_capacity(qs, n_target) if questions is not None else None
    check_context_size(n_context, user=user, n_pairs=len(indices), n_target=n_target, capacity=cap,
                       n_questions=len(set(qs)))
    t, pool = _task(user, indices, qs, n_target=n_target, reserve=n_context, rngs=rng)
    return Task(user=user, context=pool[:n_context], target=t)


class TaskSampler:
    """Training tasks: a random user, ``n_target`` targets, a context size uniform in 0..``max_context``.

    Context pairs come from other questions than the targets' (``disjoint="question"``; see the
    module docstring). A user with few pairs or questions gets contexts only up to its
    ``context_capacity``. Randomness comes from the ``rng`` passed to ``sample``.
    """

    def __init__(self, records: Sequence[PairRecord], *, n_target: int = DEFAULT_N_TARGET,
                 max_context: int = DEFAULT_MAX_CONTEXT, disjoint: Disjoint = "question") -> None:
        if max_context < 0:
            raise UserInputError(f"max_context={max_context} must be >= 0")
        self.by_user = pairs_by_user(records)
        if not self.by_user:
            raise UserInputError("no preference pairs to sample tasks from")
        keys = question_keys(records, disjoint=disjoint)
        self.questions = {u: [keys[i] for i in idx] for u, idx in self.by_user.items()}
        self.capacity = {}
        for u, idx in self.by_user.items():
            check_context_size(0, user=u, n_pairs=len(idx), n_target=n_target)
            self.capacity[u] = context_capacity(self.questions[u], n_target)
        self.users = list(self.by_user)
        self.n_target = n_target
        self.max_context = max_context

    def sample(self, n_tasks: int, rng: np.random.Generator) -> list[Task]:
        """``n_tasks`` independent tasks (users drawn with replacement)."""
        out = []
        for k in rng.integers(0, len(self.users), size=n_tasks):
            u = self.users[int(k)]
            top = min(self.max_context, self.capacity[u])
            n_context = int(rng.integers(0, top + 1))
            t, pool = _task(u, self.by_user[u], self.questions[u], n_target=self.n_target, reserve=n_context, rngs=rng)
            out.append(Task(user=u, context=pool[:n_context], target=t))
        return out


def eval_tasks(records: Sequence[PairRecord], *, context_size: int, n_target: int = DEFAULT_N_TARGET,
               seed: int, disjoint: Disjoint = "question", reserve: int = max(EVAL_CONTEXT_SIZES)) -> list[Task]:
    """One task per user for a given context size; reproducible and comparable across sizes.

    Per user (seeded by ``(seed, user position)``) the targets and the context pool are drawn
    once, leaving room for ``min(reserve, capacity)`` context pairs on other questions; the
    context is the first ``context_size`` pairs of the pool. So for every ``context_size`` up to
    ``reserve`` the targets are the same pairs and the contexts are nested (size 3 contains size 1).
    """
    out = []
    keys = question_keys(records, disjoint=disjoint)
    for k, (u, idx) in enumerate(pairs_by_user(records).items()):
        qs = [keys[i] for i in idx]
        cap = context_capacity(qs, n_target)
        check_context_size(context_size, user=u, n_pairs=len(idx), n_target=n_target, capacity=max(cap, 0),
                           n_questions=len(set(qs)))
        rngs = [np.random.default_rng([seed, k] if a == 0 else [seed, k, a]) for a in range(ATTEMPTS)]
        t, pool = _task(u, idx, qs, n_target=n_target, reserve=min(reserve, cap), rngs=rngs)
        if len(pool) < context_size:  # context_size > reserve and this draw left less room: redraw for it
            t, pool = _task(u, idx, qs, n_target=n_target, reserve=context_size, rngs=rngs)
        out.append(Task(user=u, context=pool[:context_size], target=t))
    return out


@dataclass(frozen=True)
class TaskBatch:
    """Padded tensors for a batch of B tasks, features of dimension D.

    ``ctx_*``: ``[B, C, D]`` with ``ctx_mask [B, C]`` (True = real pair; C may be 0);
    ``tgt_*``: ``[B, T, D]`` with ``tgt_mask [B, T]``. Each pair is oriented chosen ≻ rejected.
    """

    ctx_chosen: torch.Tensor
    ctx_rejected: torch.Tensor
    ctx_mask: torch.Tensor
    tgt_chosen: torch.Tensor
    tgt_rejected: torch.Tensor
    tgt_mask: torch.Tensor


def _gather(rows: Sequence[tuple[int, ...]], feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    width = max((len(r) for r in rows), default=0)
    idx = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for b, r in enumerate(rows):
        idx[b, : len(r)] = r
        mask[b, : len(r)] = True
    return feats[torch.from_numpy(idx)], torch.from_numpy(mask)


def collate(tasks: Sequence[Task], chosen: torch.Tensor, rejected: torch.Tensor) -> TaskBatch:
    """Gather features ``chosen [N, D]`` / ``rejected [N, D]`` (row i = record i) into a ``TaskBatch``."""
    if chosen.shape != rejected.shape or chosen.dim() != 2:
        raise UserInputError(f"features must both be [N, D], got {tuple(chosen.shape)} and {tuple(rejected.shape)}")
    ctx = [t.context for t in tasks]
    tgt = [t.target for t in tasks]
    cc, cm = _gather(ctx, chosen)
    cr, _ = _gather(ctx, rejected)
    tc, tm = _gather(tgt, chosen)
    tr, _ = _gather(tgt, rejected)
    return TaskBatch(ctx_chosen=cc, ctx_rejected=cr, ctx_mask=cm, tgt_chosen=tc, tgt_rejected=tr, tgt_mask=tm)
