"""Simulated survey respondents drawn from a community's answer distributions (NP-BTL users).

A respondent of country c answers every question c was asked by sampling one option from c's
distribution for that question; its preference pairs are (its answer ≻ each other option).
Respondents of one country share its distributions but answer independently, so they are
users with a common type (the country) and individual noise: the few-shot setting of NP-BTL
(Kobalczyk et al. 2024, "Few-shot Steerable Alignment", arXiv:2412.13998; docs/npbtl.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from raysearch.data.records import DistributionRecord, PairRecord


def respondent_id(community: str, k: int) -> str:
    """The user id of respondent ``k`` of ``community``."""
    return f"{community}#r{k}"


def simulate_respondents(records: Sequence[DistributionRecord], *, per_community: int, seed: int) -> list[PairRecord]:
    """Pairs of ``per_community`` respondents per community; seeded by ``(seed, community position, k)``.

    Communities are taken in sorted order, so a community's respondents do not change when other
    communities are added. Each pair keeps the option's true share in ``meta['share_chosen']``.
    """
    if per_community < 1:
        raise ValueError(f"respondents_per_country={per_community} must be >= 1")
    by_comm: dict[str, list[DistributionRecord]] = defaultdict(list)
    for r in records:
        by_comm[r.community].append(r)
    out: list[PairRecord] = []
    for ci, comm in enumerate(sorted(by_comm)):
        recs = by_comm[comm]
        for k in range(per_community):
            rng = np.random.default_rng([seed, ci, k])
            uid = respondent_id(comm, k)
            for rec in recs:
                p = np.asarray(rec.distribution, dtype=float)
                a = int(rng.choice(len(p), p=p / p.sum()))
                for j, opt in enumerate(rec.options):
                    if j != a:
                        out.append(PairRecord(prompt=rec.prompt, chosen=rec.options[a], rejected=opt, community=comm,
                                              group=rec.group, user_id=uid,
                                              meta={"share_chosen": float(p[a]), "share_rejected": float(p[j])}))
    return out
