"""PRISM: load the survey and the scored utterances, build per-user preference pairs by country.

Data: Kirk et al. (2024), "The PRISM Alignment Project: What Participatory, Representative and
Individualised Human Feedback Reveals About the Subjective and Multicultural Alignment of Large
Language Models" (Hugging Face ``HannahRoseKirk/prism-alignment``). Human-written text is
CC-BY-4.0, model responses CC-BY-NC-4.0 (and each model provider's terms).

Two sources give the same result: a local directory holding PRISM's own ``survey.jsonl`` and
``utterances.jsonl``, or the Hugging Face hub (configs ``survey`` and ``utterances``).

Fields used (PRISM codebook): survey ``user_id`` and ``location.reside_country``; utterances
``user_id``, ``interaction_id`` (one human message and its 2-4 scored responses),
``user_prompt``, ``model_response``, ``score`` (1-100 slider), and, when present,
``within_turn_id``, ``conversation_id``, ``turn``, ``model_name``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raysearch.data.names import resolve_names
from raysearch.data.records import PairRecord
from raysearch.errors import UserInputError

HF_NAME = "HannahRoseKirk/prism-alignment"
HF_PREFIX = "hf:"
SURVEY_FILE = "survey.jsonl"
UTTERANCES_FILE = "utterances.jsonl"
SURVEY_KEYS = ("user_id", "location")
UTTERANCE_KEYS = ("user_id", "interaction_id", "user_prompt", "model_response", "score")
_KEPT_KEYS = (*UTTERANCE_KEYS, "within_turn_id", "conversation_id", "turn", "model_name")
#: Survey answers that name no country; such users are skipped and counted.
NO_COUNTRY = frozenset({"", "prefer not to say"})
#: The SCPO paper's PRISM communities: minorities (54-86 users each), then the two majorities.
PAPER_MINORITY = ("Chile", "South Africa", "New Zealand", "Australia", "Mexico", "Israel", "Canada")
PAPER_MAJORITY = ("United States", "United Kingdom")

Row = tuple[str, dict[str, Any]]  # (where it came from, for errors; the row)


@dataclass
class PrismData:
    """PRISM preference pairs plus what building them dropped or skipped."""

    pairs: list[PairRecord]
    source: str
    n_ties: int = 0
    n_same_text: int = 0
    n_users: int = 0
    n_interactions: int = 0
    n_users_without_survey: int = 0
    n_utterances_without_survey: int = 0
    n_users_without_country: int = 0
    #: pairs per country of residence (countries with at least one pair)
    communities: dict[str, int] = field(default_factory=dict)
    #: users with at least one pair, per country
    users_per_community: dict[str, int] = field(default_factory=dict)
    #: every country of residence named in the survey, pairs or not
    survey_countries: frozenset[str] = frozenset()

    def summary(self) -> str:
        return (
            f"{len(self.pairs)} pairs from {self.source} ({self.n_users} users, "
            f"{self.n_interactions} interactions, {len(self.communities)} countries); dropped "
            f"{self.n_ties} tied pairs and {self.n_same_text} with identical responses; skipped "
            f"{self.n_users_without_survey} users ({self.n_utterances_without_survey} utterances) "
            f"with no survey row and {self.n_users_without_country} with no country of residence"
        )


def load_prism(source: str | Path) -> PrismData:
    """Load PRISM from a directory with survey.jsonl and utterances.jsonl, or ``hf:<name>``."""
    if isinstance(source, str) and source.startswith(HF_PREFIX):
        return load_prism_hub(source[len(HF_PREFIX) :] or HF_NAME)
    return load_prism_dir(source)


def load_prism_dir(path: str | Path) -> PrismData:
    """Load PRISM from its own jsonl files in directory ``path``."""
    d = Path(path)
    if not d.exists():
        raise FileNotFoundError(
            f"PRISM directory {str(d)!r} does not exist; give a directory holding {SURVEY_FILE} "
            f"and {UTTERANCES_FILE}, or {HF_PREFIX}{HF_NAME} to load from the Hugging Face hub"
        )
    if not d.is_dir():
        raise UserInputError(
            f"PRISM path {str(d)!r} is a file; give the directory holding {SURVEY_FILE} and "
            f"{UTTERANCES_FILE}"
        )
    for name in (SURVEY_FILE, UTTERANCES_FILE):
        if not (d / name).is_file():
            raise FileNotFoundError(
                f"PRISM directory {str(d)!r} has no {name}; it needs both {SURVEY_FILE} and "
                f"{UTTERANCES_FILE} (PRISM's own file names)"
            )
    return build_prism(
        _read_jsonl(d / SURVEY_FILE), _read_jsonl(d / UTTERANCES_FILE), source=str(d)
    )


def load_prism_hub(name: str = HF_NAME, *, revision: str | None = None) -> PrismData:
    """Load PRISM through ``datasets.load_dataset(name, "survey"/"utterances")`` (needs the hub)."""
    from raysearch._extras import require

    load_dataset = require("datasets", "prism", "loading PRISM from the Hugging Face hub").load_dataset  # heavy, only here

    def rows(config: str) -> Iterator[Row]:
        ds = load_dataset(name, config, split="train", revision=revision)
        for i, row in enumerate(ds):
            yield f"{name} [{config}] row {i}", dict(row)

    return build_prism(rows("survey"), rows("utterances"), source=f"{HF_PREFIX}{name}")


def _read_jsonl(path: Path) -> Iterator[Row]:
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserInputError(
                        f"{path} line {n} is not valid JSON ({exc.msg} at column {exc.colno}); "
                        f"each line of a PRISM .jsonl file must be one JSON object"
                    ) from None
                if not isinstance(row, dict):
                    raise UserInputError(
                        f"{path} line {n} holds a JSON {type(row).__name__}; each line of a "
                        f"PRISM .jsonl file must be one JSON object"
                    )
                yield f"{path} line {n}", row
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{path} is not UTF-8 text ({exc.reason}); give PRISM's jsonl file"
        ) from None


def _require(where: str, row: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in row or row[k] is None]
    if missing:
        raise UserInputError(
            f"{where} lacks {missing[0]!r}; a PRISM {what} row needs {', '.join(keys)}"
        )


def _countries(survey: Iterable[Row]) -> dict[str, str | None]:
    """user_id -> country of residence (None where the survey names none)."""
    out: dict[str, str | None] = {}
    for where, row in survey:
        _require(where, row, SURVEY_KEYS, "survey")
        loc = row["location"]
        if not isinstance(loc, dict) or "reside_country" not in loc:
            raise UserInputError(
                f"{where} has no location.reside_country; PRISM's survey 'location' is an object "
                f"with reside_country (and birth_country, reside_countryISO, ...)"
            )
        user = str(row["user_id"])
        if user in out:
            raise UserInputError(f"{where} repeats user_id {user!r}; each survey row is one user")
        country = loc["reside_country"]
        country = str(country).strip() if country is not None else ""
        out[user] = None if country.lower() in NO_COUNTRY else country
    return out


def _score(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserInputError(
            f"{where} has score {value!r}; a PRISM score is a number from 1 to 100"
        )
    return float(value)


def build_prism(survey: Iterable[Row], utterances: Iterable[Row], *, source: str) -> PrismData:
    """Pair up the scored responses of each (user_id, interaction_id).

    Every two responses with different scores make a pair (chosen = the higher score,
    prompt = the turn's ``user_prompt``); equal scores are dropped and counted as ties, and so
    are pairs whose two response texts are identical. ``community`` is the user's country of
    residence, ``group`` (the split key) and ``user_id`` are the user. Utterances of users
    with no survey row, or whose survey names no country, are skipped and counted; if no
    utterance matches the survey at all, that is an error.
    """
    country_of = _countries(survey)
    groups: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    no_survey: set[str] = set()
    data = PrismData(pairs=[], source=source)
    data.survey_countries = frozenset(c for c in country_of.values() if c is not None)
    n_rows = 0
    for where, row in utterances:
        n_rows += 1
        _require(where, row, UTTERANCE_KEYS, "utterances")
        user = str(row["user_id"])
        if user not in country_of:
            no_survey.add(user)
            data.n_utterances_without_survey += 1
            continue
        _score(where, row["score"])
        kept = {k: row.get(k) for k in _KEPT_KEYS if k in row}  # the hub rows carry 14 fields
        groups[(user, str(row["interaction_id"]))].append((where, kept))
    data.n_users_without_survey = len(no_survey)
    if n_rows == 0:
        raise UserInputError(
            f"the utterances of {source} hold no rows; give PRISM's utterances.jsonl"
        )
    if not groups:
        raise UserInputError(
            f"none of the {len(no_survey)} user_ids in the utterances of {source} has a survey "
            f"row; give the survey.jsonl and utterances.jsonl of the same PRISM release"
        )
    no_country: set[str] = set()
    users: dict[str, set[str]] = defaultdict(set)
    for (user, interaction), rows in groups.items():
        country = country_of[user]
        if country is None:
            no_country.add(user)
            continue
        data.n_interactions += 1
        for pair in _interaction_pairs(
            data, rows, user=user, country=country, interaction=interaction
        ):
            data.pairs.append(pair)
            data.communities[country] = data.communities.get(country, 0) + 1
            users[country].add(user)
    data.n_users_without_country = len(no_country)
    data.users_per_community = {c: len(u) for c, u in sorted(users.items())}
    data.n_users = sum(data.users_per_community.values())
    data.communities = dict(sorted(data.communities.items()))
    return data


def _interaction_pairs(
    data: PrismData,
    rows: list[tuple[str, dict[str, Any]]],
    *,
    user: str,
    country: str,
    interaction: str,
) -> Iterator[PairRecord]:
    """All score-ordered pairs of one interaction's responses (ties counted in ``data``)."""
    rows = sorted(rows, key=lambda wr: str(wr[1].get("within_turn_id", "")))
    first_where, first = rows[0]
    prompt = str(first["user_prompt"])
    for where, r in rows[1:]:
        if str(r["user_prompt"]) != prompt:
            raise UserInputError(
                f"{where} has a different user_prompt from {first_where} within interaction "
                f"{interaction!r} of user {user!r}; one interaction is one human message"
            )
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            a, b = rows[i][1], rows[j][1]
            sa, sb = float(a["score"]), float(b["score"])
            if sa == sb:
                data.n_ties += 1
                continue
            hi, lo = (a, b) if sa > sb else (b, a)
            if str(hi["model_response"]) == str(lo["model_response"]):
                data.n_same_text += 1
                continue
            yield PairRecord(
                prompt=prompt,
                chosen=str(hi["model_response"]),
                rejected=str(lo["model_response"]),
                community=country,
                group=user,
                user_id=user,
                meta={
                    "interaction_id": interaction,
                    "conversation_id": hi.get("conversation_id"),
                    "turn": hi.get("turn"),
                    "score_chosen": float(hi["score"]),
                    "score_rejected": float(lo["score"]),
                    "model_chosen": hi.get("model_name"),
                    "model_rejected": lo.get("model_name"),
                },
            )


def check_communities(data: PrismData, communities: list[str] | None) -> list[str]:
    """Validate requested countries; ``None`` means the paper's countries present (else all).

    Names match case-insensitively and by alias (``raysearch.data.names``). Raises on a country absent
    from the survey (with at most five close matches) and on a country that is in the survey but has no
    pairs (all ties, or survey-only users).
    """
    available = sorted(data.communities)
    if communities is None:
        found = [c for c in (*PAPER_MINORITY, *PAPER_MAJORITY) if c in data.communities]
        return found or available
    communities = resolve_names(communities, sorted({*data.survey_countries, *data.communities}),
                                where=f"PRISM from {data.source}")  # case-insensitive, aliases, close matches
    for c in communities:
        if c not in data.communities:
            raise UserInputError(
                f"community {c!r} has no preference pairs in PRISM from {data.source} (its users' "
                f"scores are all tied, or they only took the survey); pick one of: "
                f"{', '.join(available)}"
            )
    return list(dict.fromkeys(communities))


def prism_pairs(data: PrismData, communities: list[str] | None) -> list[PairRecord]:
    """The pairs of the validated ``communities`` (see :func:`check_communities`)."""
    chosen = set(check_communities(data, communities))
    return [p for p in data.pairs if p.community in chosen]
