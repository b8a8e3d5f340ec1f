"""Which random draws sample mode uses: ``--search-draws`` per search evaluation, fresh ones for the report.

In ``--mode sample`` the answers of an evaluation are drawn with seeds derived from
(run seed, evaluation id) (``eval_seeds``): the first is ``eval_seed(seed, id)``, draw k > 0 is
(seed, id, k), and the evaluation's loss is the mean L1 over its draws. The search scores the
persona (id -2) and the plain model (id -1) once each, then evaluations 0 .. budget-1. The winner of the search is the
minimum over these noisy losses, so its own draw is biased low (the winner's curse). The report
therefore re-scores every prompt on *fresh* draws (``fresh_seeds``): seeds derived from
(run seed, "rescore", r), r = 0, 1, ..., with any seed that a search draw used, or that an
earlier fresh draw took, skipped. The two sets are disjoint by construction, and both are
recorded in the report (``draw_record``).

A draw is identified by its seed modulo 2**32: torch's CPU generator (``sample_answers``)
reads only the low 32 bits of a seed, so two seeds equal modulo 2**32 give the same draw.
Every seed here is already below 2**32.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

#: Evaluation ids of the two baselines (their seeds in sample mode).
NAIVE_ID, PERSONA_ID = -1, -2
#: Second entropy word of the fresh-draw seeds ("rescore" as an integer); search seeds have
#: entropy (seed, eval_id + 2), fresh seeds (seed, RESCORE_KEY, r).
RESCORE_KEY = int.from_bytes(b"rescore", "big")
#: torch's CPU generator uses the low 32 bits of a seed: this is the space draws live in.
DRAW_SPACE = 2**32


def eval_seed(seed: int, eval_id: int) -> int:
    """Seed of the sampled answers of one evaluation, from (run seed, evaluation id)."""
    return int(np.random.SeedSequence([seed, eval_id + 2]).generate_state(1)[0])


def eval_seeds(seed: int, eval_id: int, draws: int = 1) -> list[int]:
    """Seeds of the ``draws`` answer draws of one evaluation; the first is ``eval_seed(seed, eval_id)``.

    One draw is the paper's setting (and every run before ``--search-draws``); the extra draws
    come from (seed, eval_id + 2, k), k = 1 .. draws-1.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    extra = [int(np.random.SeedSequence([seed, eval_id + 2, k]).generate_state(1)[0]) for k in range(1, draws)]
    return [eval_seed(seed, eval_id), *extra]


def search_seeds(seed: int, budget: int, draws: int = 1) -> dict[int, list[int]]:
    """Seeds of every draw a search of ``budget`` evaluations makes: eval id -> its draws' seeds.

    Ids -2 (persona) and -1 (naive) are the baselines scored before the search; 0 .. budget-1
    are the candidates. A resumed run has the same budget and draws, so the same set.
    """
    return {i: eval_seeds(seed, i, draws) for i in range(PERSONA_ID, budget)}


def _flat(search: dict[int, list[int]]) -> list[int]:
    return [s for seeds in search.values() for s in seeds]


def fresh_seeds(seed: int, count: int, *, exclude: Iterable[int]) -> list[int]:
    """``count`` distinct draw seeds from (seed, "rescore", r), none of them in ``exclude``.

    Candidates are taken in order r = 0, 1, ...; one equal (mod 2**32) to an excluded seed or
    to an earlier fresh seed is skipped, so the result never coincides with a search draw.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    taken = {int(s) % DRAW_SPACE for s in exclude}
    out: list[int] = []
    r = 0
    while len(out) < count:
        candidate = int(np.random.SeedSequence([seed, RESCORE_KEY, r]).generate_state(1)[0])
        r += 1
        if candidate % DRAW_SPACE in taken:
            continue
        taken.add(candidate % DRAW_SPACE)
        out.append(candidate)
    return out


def rescore_plan(seed: int, budget: int, count: int, draws: int = 1) -> tuple[dict[int, list[int]], list[int]]:
    """(search seeds by eval id, ``count`` fresh seeds disjoint from all of them) for one run."""
    search = search_seeds(seed, budget, draws)
    return search, fresh_seeds(seed, count, exclude=_flat(search))


def draw_record(search: dict[int, list[int]], fresh: list[int]) -> dict[str, Any]:
    """Both seed sets for report.json (search: one [eval id, seed] row per draw), with the
    checked count of shared draws (always 0)."""
    shared = {s % DRAW_SPACE for s in _flat(search)} & {s % DRAW_SPACE for s in fresh}
    if shared:  # fresh_seeds excludes them: reaching this is a bug, never a user error
        raise RuntimeError(f"fresh draws reuse search draws {sorted(shared)}")
    return {
        "search": [[eval_id, s] for eval_id, seeds in sorted(search.items()) for s in seeds],
        "fresh": list(fresh),
        "shared": 0,
        "rule": "fresh seeds come from (seed, 'rescore', r) and skip every search seed (mod 2**32)",
    }
