"""DPRM data: GlobalOpinionQA distribution records split by question exactly as the pair data is.

The split reuses ``assign_groups`` on the community *pairs* (margin 0.05, as ``prepare_data`` does),
so DPRM's validation and test questions are BT's and SCPO's: the models are compared on the same
unseen questions. Questions that yield no pair go to training, as ``split_by_group`` puts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from raysearch.data.goqa import (
    DEFAULT_MARGIN,
    SCPO_COUNTRIES,
    GoqaData,
    bundled_path,
    check_communities,
    goqa_pairs,
    leave_one_out_global,
    load_goqa,
)
from raysearch.data.goqa_files import SUFFIXES, is_goqa_file, read_rows
from raysearch.data.names import resolve_names
from raysearch.data.records import DistributionRecord, PairRecord
from raysearch.data.splits import Split, assign_groups, split_by_group, subsample
from raysearch.errors import UserInputError

#: the label of the leave-one-out global reference in tables, results and the Pareto plot
#: search-space ``fixed`` options that shape the data (passed to ``prepare``), not the training config
DATA_KEYS = ("max_train_records", "margin")
LOO_GLOBAL = "leave-one-out global"
SOURCES = "goqa (the bundled GlobalOpinionQA slice) or a GlobalOpinionQA file (.json, .jsonl, .csv, .parquet)"


@dataclass
class DprmData:
    """Distribution records and the matching pairs, split by question; picklable (Ray ships it to workers)."""

    source: str
    communities: list[str]
    records: Split[DistributionRecord]
    pairs: Split[PairRecord]
    #: per (country, question): the unweighted mean distribution over the *other* countries of the source
    #: that answered it (leave-one-out); absent where no other country did
    loo_global: dict[tuple[str, str], DistributionRecord] = field(default_factory=dict)

    @property
    def train(self) -> list[DistributionRecord]:
        return self.records.train

    def eval_splits(self) -> dict[str, list[DistributionRecord]]:
        return {"val": self.records.val, "test": self.records.test}

    def size_table(self) -> list[tuple[str, int, int, int]]:
        sizes = self.records.sizes()
        return [(c, sizes[c]["train"], sizes[c]["val"], sizes[c]["test"]) for c in self.communities]


def _check_raw(path: Path, communities: Sequence[str] | None) -> None:
    """Every raw row of ``communities`` (default: the SCPO countries present, else all, as
    ``check_communities`` picks) must be valid (``raysearch.data.goqa_files.check_row``): DPRM's targets
    are these shares, so a bad row is one line here rather than skipped as the loader would."""
    rows = read_rows(path)
    available = sorted({r.country for r in rows})
    default = [c for c in SCPO_COUNTRIES if c in available] or available
    keep = set(resolve_names(communities, available, where=str(path)) if communities else default)
    for row in rows:
        if row.country in keep and row.problem is not None:
            raise UserInputError(f"GlobalOpinionQA {row.where()} in {str(path)!r} {row.problem}")


def load_source(source: str, *, strict: bool = False) -> tuple[GoqaData, Path]:
    """The cleaned GlobalOpinionQA data of ``source`` and the raw file it came from."""
    path = Path(source).expanduser()
    if source == "goqa":
        return load_goqa(None, strict=strict), bundled_path()
    if source == "prism" or path.is_dir():
        raise UserInputError(f"DPRM trains on answer distributions; {source!r} has pairs only; valid: {SOURCES}")
    if not is_goqa_file(path):
        if not path.exists():
            raise FileNotFoundError(f"data source {source!r} is not a known name and no such file exists; valid: {SOURCES}")
        raise UserInputError(f"data source {source!r} is not a GlobalOpinionQA file ({', '.join(SUFFIXES)}); "
                             f"valid: {SOURCES}")
    return load_goqa(path, strict=strict), path


def prepare(
    source: str, communities: list[str] | None, cfg: object = None, *, seed: int,
    max_train_records: int | None = None, margin: float = DEFAULT_MARGIN,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), strict: bool = False,
) -> tuple[DprmData, list[str]]:
    """Load ``source``, keep ``communities`` (default: the SCPO countries) and split by question.

    Returns the data and notes to print. ``max_train_records`` subsamples the training records
    (seeded); validation and test stay whole. ``cfg`` is unused (``Method.prepare`` passes it). Invalid
    rows of the chosen communities are always an error; ``strict`` makes those of the others one too.
    """
    if max_train_records is not None and max_train_records < 1:
        raise UserInputError(f"max_train_records={max_train_records} must be >= 1")
    if not 0 <= margin < 1:
        raise UserInputError(f"margin={margin} must be in [0, 1); it is the share gap that makes a pair")
    goqa, raw_path = load_source(source, strict=strict)
    _check_raw(raw_path, communities)  # before the loader's skipping can hide a community
    chosen = check_communities(goqa, communities)
    records = [r for r in goqa.records if r.community in chosen]
    if not records:
        raise UserInputError(f"no distribution records for {', '.join(chosen)} in {goqa.source}; pick other communities")
    pairs, _ = goqa_pairs(goqa, chosen, margin=margin)
    assignment = assign_groups(pairs, fractions=fractions, seed=seed)  # the pair split's question assignment
    rsplit = split_by_group(records, seed=seed, assignment=assignment)
    psplit = split_by_group(pairs, seed=seed, assignment=assignment)
    sizes = rsplit.sizes()
    for c in chosen:
        n = sizes.get(c, {"train": 0, "val": 0, "test": 0})
        if n["train"] == 0 or n["test"] == 0:
            raise UserInputError(f"community {c!r} has too little data to split ({n}); it needs records in train and test")
    notes = [goqa.summary()]
    if max_train_records is not None and len(rsplit.train) > max_train_records:
        rsplit = Split(subsample(rsplit.train, max_train_records, seed), rsplit.val, rsplit.test)
        notes.append(f"training records subsampled to {max_train_records} (seed {seed})")
    questions = {r.group for r in records}
    loo = leave_one_out_global([r for r in goqa.records if r.group in questions])
    data = DprmData(source=source, communities=chosen, records=rsplit, pairs=psplit, loo_global=loo)
    for split, recs in data.eval_splits().items():
        missing = sum(not has_reference(r, loo) for r in recs)
        if missing:
            notes.append(f"{split}: {missing} of {len(recs)} records have no leave-one-out global reference "
                         f"(no other country answered the question); the reference predicts uniform there")
    return data, notes


def _loo_shares(rec: DistributionRecord, loo: dict[tuple[str, str], DistributionRecord]) -> list[float]:
    """The other countries' mean shares of ``rec``'s options (0 for an option none of them had)."""
    g = loo.get((rec.community, rec.group))
    share = dict(zip(g.options, g.distribution, strict=True)) if g is not None else {}
    return [share.get(o, 0.0) for o in rec.options]


def has_reference(rec: DistributionRecord, loo: dict[tuple[str, str], DistributionRecord]) -> bool:
    """Whether another country answered ``rec``'s question with at least one of ``rec``'s options."""
    return sum(_loo_shares(rec, loo)) > 0


def loo_global_prediction(rec: DistributionRecord, loo: dict[tuple[str, str], DistributionRecord]) -> list[float]:
    """The leave-one-out global distribution for ``rec`` on ``rec``'s options, renormalized; ``[K]``.

    The mean over the countries other than ``rec.community`` that answered the question
    (``raysearch.data.goqa.leave_one_out_global``), so it never uses the answers it is scored
    against. Without such a country (``has_reference`` false) it is the uniform distribution.
    """
    p = _loo_shares(rec, loo)
    total = sum(p)
    return [x / total for x in p] if total > 0 else uniform_prediction(rec)


def uniform_prediction(rec: DistributionRecord) -> list[float]:
    """``[K]``: every option of ``rec`` gets 1/K."""
    return [1.0 / len(rec.options)] * len(rec.options)


def reference_predictors(data: DprmData) -> dict[str, Callable[[DistributionRecord], list[float]]]:
    """The model-free references by label: the leave-one-out global distribution and the uniform one."""
    return {LOO_GLOBAL: lambda r: loo_global_prediction(r, data.loo_global), "uniform": uniform_prediction}


__all__ = ["LOO_GLOBAL", "DprmData", "has_reference", "reference_predictors", "load_source", "loo_global_prediction", "prepare", "uniform_prediction"]
