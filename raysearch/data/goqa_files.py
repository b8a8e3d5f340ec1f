"""Reading GlobalOpinionQA files into checked per-country rows: the per-country JSON and the release's schema.

Two schemas are read, from ``.json`` (a list), ``.jsonl`` (one record a line; either may be gzipped),
``.csv`` or ``.parquet``:

- per country (the bundled slice, ``eval.json``): ``{country, question, options, distribution}``,
  ``options`` and ``distribution`` lists;
- the release as published (``Anthropic/llm_global_opinions``): ``{question, selections, options,
  source}``, where ``options`` is the text of a Python list (``"['Yes', 'No']"``) and ``selections``
  the text of a per-country mapping (``"defaultdict(<class 'list'>, {'Belgium': [0.1, 0.9], ...})"``):
  one row per country.

Every row is checked (:func:`check_row`): one finite, non-negative share per option, summing to 1
within :data:`RAW_SUM_TOL` before anything is dropped, or to 0 (no data, which the loader counts
apart). A row that fails carries its ``problem``; the loader skips and counts it, or with
``strict`` stops at it.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError

__all__ = ["RAW_SUM_TOL", "STRICT_HELP", "SUFFIXES", "RawRow", "check_row", "is_goqa_file", "read_rows"]

#: GlobalOpinionQA's shares are rounded to 3 decimals: over up to 12 options they miss 1 by at most 0.003
#: in the bundled slice (2,093 records), so a row off by more than 0.01 is an error, not rounding.
RAW_SUM_TOL = 0.01
SUFFIXES = (".json", ".json.gz", ".gz", ".jsonl", ".jsonl.gz", ".csv", ".parquet")
#: the help of every ``--strict`` flag
STRICT_HELP = ("an invalid GlobalOpinionQA record (shares not finite, negative, not one per option or not summing "
               "to 1) stops the run with one line naming it (default: skip it and count it in the summary)")
_PER_COUNTRY = ("country", "question", "options", "distribution")
_RELEASE = ("question", "selections", "options")
_EXPECTED = ("per-country {country, question, options, distribution} records or the release's "
             "{question, selections, options} records")
_DEFAULTDICT = re.compile(r"^\s*defaultdict\(\s*<class '[\w.]+'>\s*,\s*(?P<body>.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class RawRow:
    """One country's answers to one question, as in the file (nothing dropped or renormalized yet)."""

    index: int  #: the record's position in the file (a release record gives one row per country)
    country: str
    question: str
    options: tuple[Any, ...]
    shares: tuple[float, ...]
    problem: str | None = None  #: why the row is invalid, or None

    def where(self) -> str:
        return f"record {self.index}" + (f" ({self.country})" if self.country else "")


def is_goqa_file(path: str | Path) -> bool:
    """Whether ``path`` has a suffix :func:`read_rows` reads."""
    return str(path).lower().endswith(SUFFIXES)


def read_rows(path: Path) -> list[RawRow]:
    """Every per-country row of the GlobalOpinionQA file ``path``, each checked by :func:`check_row`.

    A file that cannot be read or is not a list of records of either schema is one ``UserInputError``
    line; a record with unparsable or invalid values becomes a row with a ``problem``."""
    rows: list[RawRow] = []
    for i, rec in enumerate(_read_records(path)):
        if not isinstance(rec, dict) or not (set(_PER_COUNTRY) <= set(rec) or set(_RELEASE) <= set(rec)):
            raise UserInputError(
                f"GlobalOpinionQA record {i} in {str(path)!r} lacks one of country, question, options, "
                f"distribution (or question, selections, options); expected {_EXPECTED}"
            )
        rows.extend(_rows_of(i, rec))
    return [check_row(r) for r in rows]


def check_row(row: RawRow) -> RawRow:
    """``row`` with its ``problem`` set when its shares are not one finite, non-negative number per option
    summing to 1 (within :data:`RAW_SUM_TOL`) or to 0."""
    if row.problem is not None:
        return row
    problem = None
    if len(row.options) != len(row.shares):
        problem = f"has {len(row.options)} options but {len(row.shares)} shares; each option needs one share"
    elif bad := [(o, x) for o, x in zip(row.options, row.shares, strict=True) if not math.isfinite(x) or x < 0]:
        o, x = bad[0]
        problem = f"has the share {x!r} for option {str(o)!r}; shares must be finite and >= 0"
    elif (total := sum(row.shares)) != 0 and abs(total - 1) > RAW_SUM_TOL:
        problem = f"has a distribution that sums to {total:.4f}, not 1 (tolerance {RAW_SUM_TOL}); give fractions"
    return row if problem is None else _with_problem(row, problem)


def _with_problem(row: RawRow, problem: str) -> RawRow:
    return RawRow(row.index, row.country, row.question, row.options, row.shares, problem)


def _rows_of(i: int, rec: dict[str, Any]) -> list[RawRow]:
    question = str(rec["question"]).strip()
    try:
        options = tuple(_literal(rec["options"]))
    except (ValueError, SyntaxError, TypeError):
        return [RawRow(i, str(rec.get("country", "")).strip(), question, (), (),
                       f"has options {_short(rec['options'])}; give a list of option texts")]
    if "distribution" in rec:
        return [_row(i, str(rec["country"]).strip(), question, options, rec["distribution"])]
    try:
        selections = _literal(rec["selections"])
        if not isinstance(selections, dict):
            raise TypeError
    except (ValueError, SyntaxError, TypeError):
        return [RawRow(i, "", question, options, (),
                       f"has selections {_short(rec['selections'])}; give a mapping of country to one share per option")]
    return [_row(i, str(country).strip(), question, options, shares) for country, shares in selections.items()]


def _row(i: int, country: str, question: str, options: tuple[Any, ...], raw: Any) -> RawRow:
    try:
        values = _literal(raw)
        if isinstance(values, (str, bytes, dict)) or any(isinstance(x, (str, bool)) for x in values):
            raise TypeError
        shares = tuple(math.nan if x is None else float(x) for x in values)  # None: a NaN or null in the file
    except (ValueError, SyntaxError, TypeError):
        return RawRow(i, country, question, options, (),
                      f"has distribution {_short(raw)}; give a list of numbers, one share per option")
    return RawRow(i, country, question, options, shares)


def _literal(value: Any) -> Any:
    """A list or mapping as stored: itself, or its text (``"[0.1, nan]"``, ``"defaultdict(<class 'list'>, {...})"``)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if m := _DEFAULTDICT.match(text):
        text = m["body"]
    return ast.literal_eval(re.sub(r"\bnan\b", "None", text) if "nan" in text else text)  # literal_eval has no NaN


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _read_records(path: Path) -> list[Any]:
    if not path.exists():
        raise FileNotFoundError(
            f"GlobalOpinionQA file {str(path)!r} does not exist; give the path to eval.json "
            f"or use --data goqa for the bundled slice"
        )
    if path.is_dir():
        raise UserInputError(f"GlobalOpinionQA path {str(path)!r} is a directory; give eval.json")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return list(pq.read_table(path).to_pylist())
        opener: Any = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            if name.endswith(".csv"):
                return list(csv.DictReader(fh))
            if name.endswith((".jsonl", ".jsonl.gz")):
                return [json.loads(line) for line in fh if line.strip()]
            raw = json.load(fh)
    except (ValueError, OSError, csv.Error) as exc:  # JSON, UTF-8 and Arrow errors are ValueErrors
        kind = "valid JSON" if ".json" in name or name.endswith(".gz") else "readable"
        raise UserInputError(
            f"GlobalOpinionQA file {str(path)!r} is not {kind} ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); expected a list of {_EXPECTED}"
        ) from None
    if not isinstance(raw, list):
        raise UserInputError(
            f"GlobalOpinionQA file {str(path)!r} holds a {type(raw).__name__}; expected a JSON list of {_EXPECTED}"
        )
    return raw
