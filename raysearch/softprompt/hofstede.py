"""Hofstede's country scores on the six dimensions: the targets the soft prompt is tuned toward.

Scores: Hofstede, G., Hofstede, G.J. & Minkov, M. (2010), *Cultures and Organizations:
Software of the Mind*, 3rd ed.; the 2015-08-16 data matrix is bundled (see SOURCE.md).
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from raysearch.data.names import resolve_name
from raysearch.errors import UserInputError

BUNDLED_NAME = "6-dimensions-2015-08-16.csv"
MISSING = "#NULL!"
#: CSV column -> survey dimension code.
COLUMNS = {"pdi": "PDI", "idv": "IDV", "mas": "MAS", "uai": "UAI", "ltowvs": "LTO", "ivr": "IVR"}


def bundled_targets_path() -> Path:
    """Path of the Hofstede CSV shipped with the package."""
    return Path(str(resources.files("raysearch.softprompt").joinpath(BUNDLED_NAME)))


def load_scores(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """country name -> {dimension code -> score}; missing scores are left out."""
    source = bundled_targets_path() if path is None else Path(path)
    if not source.exists():
        raise FileNotFoundError(
            f"Hofstede scores file {str(source)!r} does not exist; omit --targets for the bundled 2015 release"
        )
    table: dict[str, dict[str, float]] = {}
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        if reader.fieldnames is None or "country" not in reader.fieldnames:
            raise UserInputError(
                f"Hofstede file {str(source)!r} needs a ';'-separated header with 'country' "
                f"and some of {sorted(COLUMNS)}"
            )
        for row in reader:
            scores = {}
            for column, code in COLUMNS.items():
                value = (row.get(column) or "").strip()
                if value and value != MISSING:
                    try:
                        scores[code] = float(value)
                    except ValueError:
                        raise UserInputError(
                            f"Hofstede file {str(source)!r}: {column} of {row['country']!r} is {value!r}; "
                            f"give a number or {MISSING!r} for a missing score"
                        ) from None
            table[row["country"].strip()] = scores
    return table


def resolve_country(country: str, *, path: str | Path | None = None) -> str:
    """The Hofstede file's name for ``country``: case-insensitive, by alias ("usa" -> "U.S.A.", "uk" ->
    "Great Britain"), else one error line with a few close matches (``raysearch.data.names``)."""
    return resolve_name(country, load_scores(path), what="country", where="the Hofstede scores")


def country_targets(
    country: str, *, path: str | Path | None = None, dimensions: list[str] | None = None
) -> dict[str, float]:
    """The target scores of one country, restricted to ``dimensions`` when given.

    ``country`` is resolved as :func:`resolve_country` does. Raises ``UserInputError`` for an unknown
    country (listing at most five close matches) and for a
    country without any score on the requested dimensions (listing the countries that have).
    """
    table = load_scores(path)
    country = resolve_name(country, table, what="country", where="the Hofstede scores")
    scores = table[country]
    if dimensions is not None:
        scores = {d: s for d, s in scores.items() if d in dimensions}
    if not scores:
        wanted = dimensions or sorted(COLUMNS.values())
        having = sorted(n for n, s in table.items() if any(d in s for d in wanted))
        raise UserInputError(
            f"country {country!r} has no Hofstede score on {wanted}; pick one that has, "
            f"e.g. {having[:10]} ({len(having)} in all)"
        )
    return scores
