"""GlobalOpinionQA: load, drop non-substantive options, build pairs and the global preference.

Data: Durmus et al. (2023), "Towards Measuring the Representation of Subjective Global
Opinions in Language Models" (Anthropic/llm_global_opinions), CC-BY-NC-SA-4.0. A slice is
bundled with the package (``bundled/goqa_slice.json.gz``); any path to the full ``eval.json``
works the same, and so does the release's own schema (``raysearch.data.goqa_files``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from raysearch.data.goqa_files import read_rows
from raysearch.data.names import resolve_names
from raysearch.data.records import DistributionRecord, PairRecord
from raysearch.errors import UserInputError

GLOBAL_COMMUNITY = "global"
DEFAULT_MARGIN = 0.05
BUNDLED_NAME = "goqa_slice.json.gz"
#: The SCPO paper's countries found in GlobalOpinionQA, plus the two majority countries.
SCPO_COUNTRIES = (
    "Chile", "New Zealand", "Australia", "Mexico", "Israel", "Canada", "United States", "Britain",
)
MAJORITY_COUNTRIES = ("United States", "Britain")

_NON_SUBSTANTIVE = re.compile(
    r"^\s*(don['’]?t know|don['’]?t -\d|dk\b|refused|no answer|other missing|missing\s*(;|$)"
    r"|not applicable)",
    re.IGNORECASE,
)
#: Slack for float rounding in ``p(i) - p(j) >= margin`` (0.3 - 0.25 is 0.04999999999999999).
_MARGIN_EPS = 1e-9


def is_non_substantive(option: str) -> bool:
    """True for "Don't know", "DK/Refused", "No answer", "Other missing; ...", "Missing; ...",
    a bare "Missing", and the WVS code "Don't -9:-2" (don't know) of the full file."""
    return bool(_NON_SUBSTANTIVE.match(option))


def option_text(option: Any) -> str:
    """Options may be numbers (``7.0`` on a 1-10 scale): write them as text (``"7"``)."""
    if isinstance(option, bool):
        return str(option)
    if isinstance(option, float) and option.is_integer():
        return str(int(option))
    return str(option).strip()


@dataclass
class GoqaData:
    """Cleaned GlobalOpinionQA distributions plus what cleaning removed."""

    records: list[DistributionRecord]
    source: str
    dropped_options: int = 0
    skipped_empty: int = 0
    skipped_single: int = 0
    communities: dict[str, int] = field(default_factory=dict)
    skipped_invalid: int = 0
    first_invalid: str = ""  #: where the first invalid record is and what is wrong with it

    def summary(self) -> str:
        invalid = "" if not self.skipped_invalid else (
            f"; skipped {self.skipped_invalid} invalid records (first: {self.first_invalid[:160]}; "
            f"--strict stops at it)")
        return (
            f"{len(self.records)} distributions from {self.source} "
            f"({len(self.communities)} communities); dropped {self.dropped_options} "
            f"non-substantive options, skipped {self.skipped_empty} records with no data and "
            f"{self.skipped_single} with fewer than two substantive options{invalid}"
        )


def bundled_path() -> Path:
    """Path of the GlobalOpinionQA slice shipped inside the package."""
    return Path(str(resources.files("raysearch.data").joinpath("bundled", BUNDLED_NAME)))


def load_goqa(path: str | Path | None = None, *, strict: bool = False) -> GoqaData:
    """Load GlobalOpinionQA records, drop non-substantive options and renormalize.

    ``path=None`` loads the bundled slice; a path may hold the per-country JSON or the release's
    schema (``raysearch.data.goqa_files``). Records whose substantive shares sum to 0 (no data)
    or that keep fewer than two options are skipped and counted. An invalid record (shares not
    finite, negative, not one per option, or not summing to 1) is skipped and counted too, or with
    ``strict`` is one ``UserInputError`` line naming the file, the record and the problem.
    """
    p = bundled_path() if path is None else Path(path)
    data = GoqaData(records=[], source=str(p) if path is not None else "bundled slice")
    for row in read_rows(p):
        if row.problem is not None:
            if strict:
                raise UserInputError(f"GlobalOpinionQA {row.where()} in {str(p)!r} {row.problem} "
                                     f"(--strict: fix or remove the record, or leave out --strict to skip it)")
            data.skipped_invalid += 1
            data.first_invalid = data.first_invalid or f"{row.where()} {row.problem}"
            continue
        options = [option_text(o) for o in row.options]
        keep = [(o, x) for o, x in zip(options, row.shares, strict=True) if not is_non_substantive(o)]
        data.dropped_options += len(options) - len(keep)
        total = sum(x for _, x in keep)
        if total <= 0:
            data.skipped_empty += 1
            continue
        if len(keep) < 2:
            data.skipped_single += 1
            continue
        data.records.append(
            DistributionRecord(
                prompt=row.question,
                options=tuple(o for o, _ in keep),
                distribution=tuple(x / total for _, x in keep),
                community=row.country,
                group=row.question,
            )
        )
        data.communities[row.country] = data.communities.get(row.country, 0) + 1
    return data


def pairs_from_distribution(rec: DistributionRecord, *, margin: float = DEFAULT_MARGIN) -> list[PairRecord]:
    """Every option pair (i, j) with ``p(i) - p(j) >= margin`` becomes chosen=i, rejected=j."""
    out: list[PairRecord] = []
    for i, (oi, pi) in enumerate(zip(rec.options, rec.distribution, strict=True)):
        for j, (oj, pj) in enumerate(zip(rec.options, rec.distribution, strict=True)):
            if i != j and pi - pj >= margin - _MARGIN_EPS:
                out.append(
                    PairRecord(
                        prompt=rec.prompt, chosen=oi, rejected=oj, community=rec.community,
                        group=rec.group, meta={"margin": round(pi - pj, 6)},
                    )
                )
    return out


def global_distributions(records: list[DistributionRecord]) -> list[DistributionRecord]:
    """The unified preference: per question, the unweighted mean over all countries that answered.

    Options are aligned by text; an option missing from one country's list counts as 0 there.
    """
    by_q: dict[str, list[DistributionRecord]] = defaultdict(list)
    for r in records:
        by_q[r.group].append(r)
    out = []
    for q, recs in by_q.items():
        options: list[str] = []
        for r in recs:
            options.extend(o for o in r.options if o not in options)
        mean = [0.0] * len(options)
        for r in recs:
            share = dict(zip(r.options, r.distribution, strict=True))
            for k, o in enumerate(options):
                mean[k] += share.get(o, 0.0) / len(recs)
        total = sum(mean)
        out.append(
            DistributionRecord(
                prompt=recs[0].prompt, options=tuple(options),
                distribution=tuple(m / total for m in mean), community=GLOBAL_COMMUNITY, group=q,
            )
        )
    return out


def leave_one_out_global(records: list[DistributionRecord]) -> dict[tuple[str, str], DistributionRecord]:
    """Per (country, question): the unweighted mean over the *other* countries that answered it.

    The non-steerable reference for predicting country c on question q must not see c's answers:
    the entry for ``(c, q)`` is ``global_distributions`` of q's records from every country but c
    (options aligned by text, as there). A question that only c answered has no entry.
    """
    by_q: dict[str, list[DistributionRecord]] = defaultdict(list)
    for r in records:
        by_q[r.group].append(r)
    out: dict[tuple[str, str], DistributionRecord] = {}
    for q, recs in by_q.items():
        for c in dict.fromkeys(r.community for r in recs):
            others = [r for r in recs if r.community != c]
            if others:
                out[(c, q)] = global_distributions(others)[0]
    return out


def goqa_pairs(
    data: GoqaData, communities: list[str] | None, *, margin: float = DEFAULT_MARGIN
) -> tuple[list[PairRecord], list[PairRecord]]:
    """(community pairs, global pairs). Global pairs cover the questions the communities answered."""
    chosen = check_communities(data, communities)
    comm_records = [r for r in data.records if r.community in chosen]
    questions = {r.group for r in comm_records}
    pairs = [p for r in comm_records for p in pairs_from_distribution(r, margin=margin)]
    glob = global_distributions([r for r in data.records if r.group in questions])
    gpairs = [p for r in glob for p in pairs_from_distribution(r, margin=margin)]
    for c in chosen:
        if not any(p.community == c for p in pairs):
            raise UserInputError(
                f"community {c!r} has no preference pairs at margin {margin} in {data.source}; "
                f"lower --margin or pick another community"
            )
    return pairs, gpairs


def check_communities(data: GoqaData, communities: list[str] | None) -> list[str]:
    """The data's names of the requested communities; ``None`` means the SCPO countries present.

    Names match case-insensitively and by alias ("usa" -> "United States"; ``raysearch.data.names``); an
    unknown one is one error line with at most five close matches."""
    available = sorted(data.communities)
    if communities is None:
        found = [c for c in SCPO_COUNTRIES if c in data.communities]
        return found or available
    return resolve_names(communities, available, where=data.source)
