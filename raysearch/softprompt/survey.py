"""A survey instrument as data: items on 1-5 scales and the index formulas over their mean answers.

The default instrument is the VSM 2013 (Hofstede, G. & Minkov, M. (2013), *Values Survey
Module 2013 Manual*), paraphrased in ``vsm2013.yaml``. Any YAML or JSON file with the same
keys (``items``, ``scales``, ``dimensions``) is another instrument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from raysearch.errors import UserInputError

N_OPTIONS = 5
DEFAULT_CONSTANT = 50.0
DEFAULT_INSTRUCTION = "Reply with one number from 1 to 5."


@dataclass(frozen=True)
class Item:
    """One survey question: its number, text and the labels of answers 1..5."""

    number: int
    text: str
    options: tuple[str, ...]

    def render(self, instruction: str) -> str:
        """The item as the LM reads it: question, the five labelled answers, the instruction."""
        lines = [self.text] + [f"{k} = {label}" for k, label in enumerate(self.options, start=1)]
        return "\n".join(lines + [instruction])


@dataclass(frozen=True)
class Dimension:
    """An index ``sum_t w_t * (m[plus_t] - m[minus_t]) + constant`` over mean answers m."""

    code: str
    name: str
    terms: tuple[tuple[float, int, int], ...]
    constant: float = DEFAULT_CONSTANT


@dataclass(frozen=True)
class Survey:
    """Items and index formulas. ``items`` are kept in file order; formulas refer to numbers."""

    name: str
    items: tuple[Item, ...]
    dimensions: tuple[Dimension, ...]
    instruction: str = DEFAULT_INSTRUCTION
    citation: str = ""

    @property
    def numbers(self) -> list[int]:
        return [item.number for item in self.items]

    def with_constants(self, constants: dict[str, float]) -> Survey:
        """A copy whose index constants C_x are replaced (keys are dimension codes)."""
        unknown = sorted(set(constants) - {d.code for d in self.dimensions})
        if unknown:
            raise UserInputError(
                f"constant for unknown dimension(s) {unknown}; this survey's dimensions are "
                f"{[d.code for d in self.dimensions]}"
            )
        dims = tuple(
            Dimension(d.code, d.name, d.terms, float(constants.get(d.code, d.constant))) for d in self.dimensions
        )
        return Survey(self.name, self.items, dims, self.instruction, self.citation)

    def index_matrix(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, c) with indices = means @ W.T + c; W: (n_dimensions, n_items), c: (n_dimensions,)."""
        column = {number: j for j, number in enumerate(self.numbers)}
        weights = torch.zeros(len(self.dimensions), len(self.items), dtype=torch.float64)
        for i, dim in enumerate(self.dimensions):
            for w, plus, minus in dim.terms:
                weights[i, column[plus]] += w
                weights[i, column[minus]] -= w
        const = torch.tensor([d.constant for d in self.dimensions], dtype=torch.float64)
        return weights, const

    def indices(self, means: torch.Tensor) -> torch.Tensor:
        """Index scores from mean answers: means (..., n_items) in item order -> (..., n_dims)."""
        weights, const = self.index_matrix()
        return means.to(torch.float64) @ weights.T + const


def bundled_survey_path() -> Path:
    """Path of the paraphrased VSM 2013 shipped with the package."""
    return Path(str(resources.files("raysearch.softprompt").joinpath("vsm2013.yaml")))


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(
            f"survey file {str(path)!r} does not exist; give a YAML/JSON survey path or omit "
            "--survey for the bundled VSM 2013"
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserInputError(f"survey file {str(path)!r} is not valid YAML/JSON: {first}") from exc
    if not isinstance(data, dict):
        raise UserInputError(f"survey file {str(path)!r} must hold a mapping with keys items, scales, dimensions")
    return data


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{what} is {value!r}; give a number") from None


def _whole(value: Any, what: str) -> int:
    number = _number(value, what)
    if not number.is_integer():
        raise UserInputError(f"{what} is {value!r}; give a whole number")
    return int(number)


def _parse_items(data: dict[str, Any], where: str) -> tuple[Item, ...]:
    scales = data.get("scales") or {}
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise UserInputError(f"{where}: 'items' must be a non-empty list of {{number, text, scale}}")
    items: list[Item] = []
    for k, raw in enumerate(raw_items):
        if not isinstance(raw, dict) or "number" not in raw or "text" not in raw:
            raise UserInputError(f"{where}: item #{k + 1} needs 'number' and 'text', got {raw!r}")
        options = raw.get("options")
        if options is None:
            scale = raw.get("scale")
            if scale not in scales:
                raise UserInputError(
                    f"{where}: item {raw['number']} uses scale {scale!r}, which is not under "
                    f"'scales' (have {sorted(scales)}); add it or give the item 'options'"
                )
            options = scales[scale]
        if not isinstance(options, list) or len(options) != N_OPTIONS:
            raise UserInputError(
                f"{where}: item {raw['number']} has {options!r} as options; it needs exactly "
                f"{N_OPTIONS} labels (answers 1..{N_OPTIONS})"
            )
        items.append(Item(_whole(raw["number"], f"{where}: item #{k + 1}'s number"), str(raw["text"]).strip(),
                          tuple(map(str, options))))
    numbers = [item.number for item in items]
    dupes = sorted({n for n in numbers if numbers.count(n) > 1})
    if dupes:
        raise UserInputError(f"{where}: item numbers {dupes} appear more than once; number each once")
    return tuple(items)


def _parse_dimensions(data: dict[str, Any], where: str, numbers: set[int]) -> tuple[Dimension, ...]:
    raw_dims = data.get("dimensions")
    if not isinstance(raw_dims, dict) or not raw_dims:
        raise UserInputError(f"{where}: 'dimensions' must map a code to {{name, terms: [[weight, plus, minus], ...]}}")
    dims: list[Dimension] = []
    for code, raw in raw_dims.items():
        terms = raw.get("terms") if isinstance(raw, dict) else None
        if not isinstance(terms, list) or not all(isinstance(t, list) and len(t) == 3 for t in terms):
            raise UserInputError(f"{where}: dimension {code} needs 'terms' as [[weight, plus_item, minus_item], ...]")
        parsed = tuple((_number(w, f"{where}: a {code} weight"), _whole(p, f"{where}: a {code} item"),
                        _whole(m, f"{where}: a {code} item")) for w, p, m in terms)
        for _, plus, minus in parsed:
            for number in (plus, minus):
                if number not in numbers:
                    raise UserInputError(
                        f"{where}: the {code} formula uses item {number}, which the survey does "
                        f"not have (items: {sorted(numbers)}); add item {number} or fix the formula"
                    )
        constant = _number(raw.get("constant", DEFAULT_CONSTANT), f"{where}: the {code} constant")
        dims.append(Dimension(str(code), str(raw.get("name", code)), parsed, constant))
    return tuple(dims)


def load_survey(path: str | Path | None = None) -> Survey:
    """Read a survey file (YAML or JSON); ``None`` loads the bundled VSM 2013."""
    source = bundled_survey_path() if path is None else Path(path)
    data = _read(source)
    where = f"survey {source.name!r}"
    items = _parse_items(data, where)
    dims = _parse_dimensions(data, where, {item.number for item in items})
    return Survey(
        name=str(data.get("name", source.stem)),
        items=items,
        dimensions=dims,
        instruction=str(data.get("instruction", DEFAULT_INSTRUCTION)),
        citation=str(data.get("citation", "")),
    )
