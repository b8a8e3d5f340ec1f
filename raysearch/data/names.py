"""Community and country names as users type them: case-insensitive, common aliases, a few close matches.

Each data source spells countries its own way: GlobalOpinionQA has "United States", "Britain" (Pew)
and "Great Britain" (WVS), "S. Korea"; PRISM "United States", "United Kingdom"; the Hofstede file
"U.S.A.", "Great Britain", "Korea South". :func:`resolve_name` maps what a user typed onto the
names of one source:

1. the name itself, then the name compared case- and space-insensitively;
2. an alias group (:data:`ALIASES`: USA, US, U.S.A., America, United States...): the first name of
   the group, in the group's order, that the source has;
3. else one ``UserInputError`` line with at most five close matches (``difflib``), never the whole list.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from raysearch.errors import UserInputError

__all__ = ["ALIASES", "MAX_SUGGESTIONS", "resolve_name", "resolve_names"]

MAX_SUGGESTIONS = 5
#: spellings of one country, in order of preference when a source has several of them (GlobalOpinionQA has
#: both "Britain" and "Great Britain": "uk" takes "Britain", the SCPO countries' name; "great britain" is
#: an exact match and stays itself)
ALIASES: tuple[tuple[str, ...], ...] = (
    ("united states", "u.s.a.", "usa", "us", "u.s.", "united states of america", "america"),
    ("britain", "united kingdom", "great britain", "uk", "u.k.", "gb"),
    ("south korea", "s. korea", "korea south", "korea, south", "republic of korea", "korea"),
    ("south africa", "s. africa"),
    ("czechia", "czech rep.", "czech rep", "czech republic"),
    ("slovakia", "slovak rep", "slovak republic"),
    ("north macedonia", "macedonia rep", "macedonia"),
    ("bosnia herzegovina", "bosnia", "bosnia and herzegovina"),
    ("kyrgyzstan", "kyrgyz rep"),
    ("taiwan", "taiwan roc"),
    ("hong kong sar", "hong kong"),
    ("palest. ter.", "palestine", "palestinian territories"),
)


def _key(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def resolve_name(name: str, available: Iterable[str], *, what: str = "community", where: str = "the data") -> str:
    """The name in ``available`` that ``name`` means (see the module docstring), or one error line."""
    names = list(dict.fromkeys(available))
    if name in names:
        return name
    by_key = {_key(n): n for n in names}
    key = _key(name)
    if key in by_key:
        return by_key[key]
    for group in ALIASES:
        if key in group:
            for spelling in group:
                if spelling in by_key:
                    return by_key[spelling]
    raise UserInputError(f"unknown {what} {name!r} in {where}; {_suggest(name, names)}")


def resolve_names(names: Iterable[str], available: Iterable[str], *, what: str = "community",
                  where: str = "the data") -> list[str]:
    """:func:`resolve_name` of each of ``names``, duplicates dropped, order kept."""
    pool = list(available)
    return list(dict.fromkeys(resolve_name(n, pool, what=what, where=where) for n in names))


def _suggest(name: str, names: list[str]) -> str:
    if len(names) <= MAX_SUGGESTIONS:
        return f"available: {', '.join(sorted(names))}"
    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(_key(n), n)
    close = difflib.get_close_matches(_key(name), list(by_key), n=MAX_SUGGESTIONS, cutoff=0.6)
    if not close:  # a part of a name: "zealand", "korea"
        close = [k for k in by_key if len(_key(name)) >= 3 and _key(name) in k][:MAX_SUGGESTIONS]
    hint = f"close matches: {', '.join(repr(by_key[k]) for k in close)}" if close else "no close match"
    return f"{hint} ({len(names)} names; matched case-insensitively and by aliases such as USA, UK)"
