"""Seeded train/val/test splits by group (question or user), stratified by community."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from raysearch.errors import UserInputError

SPLITS = ("train", "val", "test")


class _Grouped(Protocol):
    @property
    def group(self) -> str: ...
    @property
    def community(self) -> str: ...


R = TypeVar("R", bound=_Grouped)


@dataclass(frozen=True)
class Split(Generic[R]):
    """Three disjoint record lists; no group appears in two of them."""

    train: list[R]
    val: list[R]
    test: list[R]

    def sizes(self) -> dict[str, dict[str, int]]:
        """Per community, the number of records in each split."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in SPLITS})
        for name in SPLITS:
            for r in getattr(self, name):
                out[r.community][name] += 1
        return dict(sorted(out.items()))


def assign_groups(
    records: Sequence[_Grouped], *, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int
) -> dict[str, str]:
    """Map each group to a split.

    Each group is stratified under its rarest community (the one with fewest groups), so a
    small community's groups are split by ``fractions`` among themselves. A community whose
    groups all went to rarer strata can still end up with no validation or test group; a
    second pass then moves one of its training groups there, so a community with three or
    more groups keeps validation and test data (when those fractions are above 0) unless
    every such move would leave a community of two or more groups with no training group.
    For PRISM (one community per user) the second pass never acts: this is exact
    stratification by country.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise UserInputError(f"split fractions {fractions} must be three non-negative numbers summing to 1")
    groups_of: dict[str, set[str]] = defaultdict(set)
    comms_of: dict[str, set[str]] = defaultdict(set)
    for r in records:
        groups_of[r.community].add(r.group)
        comms_of[r.group].add(r.community)
    n_groups = {c: len(g) for c, g in groups_of.items()}
    strata: dict[str, list[str]] = defaultdict(list)
    for g in sorted(comms_of):
        stratum = min(comms_of[g], key=lambda c: (n_groups[c], c))
        strata[stratum].append(g)
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    for stratum in sorted(strata):
        gs = strata[stratum]
        rng.shuffle(gs)
        n = len(gs)
        n_val = round(n * fractions[1])
        n_test = round(n * fractions[2])
        if n >= 3:
            n_val, n_test = max(n_val, 1 if fractions[1] > 0 else 0), max(n_test, 1 if fractions[2] > 0 else 0)
        n_train = n - n_val - n_test
        for i, g in enumerate(gs):
            assignment[g] = "train" if i < n_train else "val" if i < n_train + n_val else "test"
    _ensure_held_out(assignment, groups_of, comms_of, fractions, rng)
    return assignment


def _ensure_held_out(
    assignment: dict[str, str], groups_of: dict[str, set[str]], comms_of: dict[str, set[str]],
    fractions: tuple[float, float, float], rng: random.Random,
) -> None:
    """Move a training group into val/test for each community with >= 3 groups lacking one.

    Rarest community first. A group is moved only if each of its communities with two or
    more groups keeps another training group (a one-group community cannot have both anyway).
    """
    held = [s for s, f in zip(SPLITS[1:], fractions[1:], strict=True) if f > 0]
    for c in sorted(groups_of, key=lambda c: (len(groups_of[c]), c)):
        gs = sorted(groups_of[c])
        if len(gs) < 3:
            continue
        for split in held:
            if any(assignment[g] == split for g in gs):
                continue
            movable = [
                g for g in gs if assignment[g] == "train" and all(
                    len(groups_of[d]) < 2 or sum(assignment[h] == "train" for h in groups_of[d]) > 1
                    for d in comms_of[g]
                )
            ]
            if movable:
                assignment[rng.choice(movable)] = split


def split_by_group(
    records: Sequence[R], *, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int,
    assignment: dict[str, str] | None = None,
) -> Split[R]:
    """Split records so that every group is in exactly one split (seeded, stratified)."""
    assignment = assignment if assignment is not None else assign_groups(records, fractions=fractions, seed=seed)
    parts: dict[str, list[R]] = {s: [] for s in SPLITS}
    for r in records:
        parts[assignment.get(r.group, "train")].append(r)
    return Split(train=parts["train"], val=parts["val"], test=parts["test"])


def group_counts(records: Sequence[_Grouped]) -> Counter[str]:
    """Number of distinct groups per community."""
    seen = {(r.community, r.group) for r in records}
    return Counter(c for c, _ in seen)


T = TypeVar("T")


def subsample(records: list[T], n: int | None, seed: int) -> list[T]:
    """At most ``n`` of ``records`` (all if ``n`` is None), drawn with ``seed``, in their original order."""
    if n is None or len(records) <= n:
        return records
    rng = random.Random(seed)
    return sorted(rng.sample(records, n), key=records.index)
