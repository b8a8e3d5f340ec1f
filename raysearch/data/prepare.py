"""From a data source name to split pair sets: community pairs, global pairs, train/val/test."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from raysearch.data.goqa import goqa_pairs, load_goqa
from raysearch.data.prism import HF_NAME, HF_PREFIX, load_prism, prism_pairs
from raysearch.data.records import PairRecord
from raysearch.data.splits import Split, assign_groups, split_by_group
from raysearch.errors import UserInputError

SOURCES = "goqa (bundled GlobalOpinionQA slice), prism (Hugging Face), a GlobalOpinionQA .json file, or a PRISM folder"


@dataclass
class PreferenceData:
    """Split community pairs and, where the source defines it, split global (unified) pairs."""

    source: str
    kind: str  # "goqa" or "prism"
    communities: list[str]
    pairs: Split[PairRecord]
    global_pairs: Split[PairRecord] | None
    notes: list[str]

    def size_table(self) -> list[tuple[str, int, int, int]]:
        sizes = self.pairs.sizes()
        return [(c, sizes[c]["train"], sizes[c]["val"], sizes[c]["test"]) for c in self.communities]


def _subsample(records: list[PairRecord], n: int | None, seed: int) -> list[PairRecord]:
    if n is None or len(records) <= n:
        return records
    rng = random.Random(seed)
    return sorted(rng.sample(records, n), key=records.index)


def prepare_data(
    source: str, communities: list[str] | None, *, margin: float = 0.05, seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), max_train_pairs: int | None = None,
    max_global_pairs: int | None = None,
) -> PreferenceData:
    """Load ``source``, keep ``communities`` and split by group (question or user), seeded.

    ``max_train_pairs`` subsamples the community training pairs and ``max_global_pairs`` the
    global ones (G's), each seeded, for quick runs; None keeps them all.
    """
    if not 0 <= margin < 1:
        raise UserInputError(f"margin={margin} must be in [0, 1); it is the share gap that makes a pair")
    for name, cap in (("max_train_pairs", max_train_pairs), ("max_global_pairs", max_global_pairs)):
        if cap is not None and cap < 1:
            raise UserInputError(f"{name}={cap} must be >= 1")
    path = Path(source).expanduser()
    if source == "goqa" or (source != "prism" and path.suffix in (".json", ".gz")):
        data = load_goqa(None if source == "goqa" else path)
        pairs, gpairs = goqa_pairs(data, communities, margin=margin)
        kind, notes = "goqa", [data.summary()]
    elif source == "prism" or source.startswith(HF_PREFIX) or path.is_dir():
        pdata = load_prism(f"{HF_PREFIX}{HF_NAME}" if source == "prism" else source)
        pairs, gpairs = prism_pairs(pdata, communities), None
        kind, notes = "prism", [pdata.summary()]
    elif not path.exists():
        raise FileNotFoundError(f"data source {source!r} is not a known name and no such file exists; valid: {SOURCES}")
    else:
        raise UserInputError(f"data source {source!r} is neither a .json file nor a folder; valid: {SOURCES}")
    assignment = assign_groups(pairs, fractions=fractions, seed=seed)
    split = split_by_group(pairs, seed=seed, assignment=assignment)
    comms = list(dict.fromkeys(p.community for p in pairs))
    ordered = [c for c in (communities or sorted(comms)) if c in comms]
    for c in ordered:
        n = split.sizes().get(c, {"test": 0})
        if n["train"] == 0 or n["test"] == 0:
            raise UserInputError(
                f"community {c!r} has too little data to split ({n}); it needs pairs in train and test"
            )
    gsplit = split_by_group(gpairs, seed=seed, assignment=assignment) if gpairs is not None else None
    if max_train_pairs is not None:
        split = Split(_subsample(split.train, max_train_pairs, seed), split.val, split.test)
        notes.append(f"community training pairs subsampled to at most {max_train_pairs} (seed {seed})")
    if gsplit is not None and max_global_pairs is not None:
        gsplit = Split(_subsample(gsplit.train, max_global_pairs, seed + 1), gsplit.val, gsplit.test)
        notes.append(f"global training pairs subsampled to at most {max_global_pairs} (seed {seed + 1})")
    return PreferenceData(source=source, kind=kind, communities=ordered, pairs=split, global_pairs=gsplit, notes=notes)
