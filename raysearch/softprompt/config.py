"""The configuration of ``python -m raysearch.softprompt``: one dataclass, help on each field.

The CLI flags and the README table are generated from these fields (``add_arguments``).
Defaults are chosen so a run on the default LM fits in a few minutes on 2 CPU cores (see
docs/softprompt.md for the measurements behind them).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError

OPTIMIZERS = ("twopointsde", "de", "cma", "random")
#: How a country's file name reads in a persona sentence.
DISPLAY_NAMES = {
    "U.S.A.": "the United States",
    "Great Britain": "Great Britain",
    "Korea South": "South Korea",
    "Czech Rep": "the Czech Republic",
    "Slovak Rep": "Slovakia",
    "Dominican Rep": "the Dominican Republic",
    "Netherlands": "the Netherlands",
    "Philippines": "the Philippines",
    "Arab countries": "the Arab world",
}


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class SoftPromptConfig:
    """Everything that defines a soft-prompt search; ``result=False`` fields don't change it."""

    country: str = _f("", "country as named in the Hofstede file, e.g. 'U.S.A.', 'China', 'India' (case-insensitive; "
                          "aliases such as USA, UK, South Korea work)")
    model: str = _f(
        "smollm2",
        "frozen causal LM: 'smollm2' (bundled GGUF), a folder, a .gguf file, "
        "or a Hugging Face name already in the local cache",
    )
    survey: str | None = _f(None, "survey YAML/JSON (default: the bundled VSM 2013 paraphrase)")
    targets: str | None = _f(None, "Hofstede scores CSV (default: the bundled 2015 release)")
    constant: float = _f(50.0, "index constant C for every dimension (a neutral respondent scores C)")
    position: str = _f(
        "suffix",
        "where the soft prompt goes: 'suffix' = right before the answer "
        "(item KV cache shared, fast) or 'prefix' = in front (peft, the paper's)",
        choices=("suffix", "prefix"),
    )
    persona: str = _f(
        "As someone from {country}, I answer: ",
        "persona text ({country} is filled in): the in-context baseline and P0",
    )
    n_tokens: int = _f(
        0,
        "virtual tokens n; 0 = as many as the persona text has (z=0 is then exactly the persona prompt)",
    )
    subspace_dim: int = _f(24, "k, the dimension searched (prompt = P0 + A z); 0 = full n*d space")
    sigma: float = _f(1.5, "spread of A z per coordinate for z ~ N(0, I), in embedding std units")
    optimizer: str = _f("twopointsde", "Nevergrad optimizer", choices=OPTIMIZERS)
    budget: int = _f(96, "number of candidate prompts scored (persona start included)")
    popsize: int = _f(12, "candidates per generation, scored together in batched passes")
    seed: int = _f(0, "seed of the optimizer, of A and of sampled answers")
    mode: str = _f(
        "expected",
        "'expected' answers (deterministic) or 'sample' answers as in the paper",
        choices=("expected", "sample"),
    )
    samples: int = _f(20, "answers drawn per item in sample mode")
    search_draws: int = _f(
        1,
        "sample mode: independent draws per candidate during the search; its loss is their mean L1 "
        "(one forward pass, only the drawn answers differ), so the search chases less draw noise. "
        "1 = one draw, as in the paper. Ignored in expected mode",
    )
    rescore_draws: int = _f(
        20,
        "sample mode: after the search, naive, persona and the optimized prompt are all scored on "
        "this many fresh draws (seeds disjoint from every search draw, the same for every prompt); "
        "the report gives their means, 95% intervals and paired differences. Ignored in expected mode",
        result=False,
    )
    goqa: int = _f(
        0,
        "also ask N GlobalOpinionQA questions of the country (a Hofstede region such as 'Arab countries': "
        "its countries') and report the Jensen-Shannon distance of naive/persona/optimized answers to the "
        "country's, with paired intervals over questions (0 = skip)",
        result=False,
    )
    workers: int = _f(
        1,
        "Ray actors scoring populations (each loads the model once); 0 = in process, no Ray",
        result=False,
    )
    gpu: bool = _f(False, "one GPU per actor (cuda); the model runs on CPU otherwise", result=False)
    dtype: str = _f(
        "float32",
        "weights dtype: float32 (CPU), bfloat16 or float16 (GPU); changes scores slightly",
        choices=("float32", "bfloat16", "float16"),
    )
    max_rows: int = _f(96, "rows (candidates x items) per forward pass", result=False)
    out: str | None = _f(None, "output folder (default: runs/softprompt/<country>-seed<seed>)", result=False)
    resume: bool = _f(False, "continue the run in --out from its last generation", result=False)
    smoke_test: bool = _f(False, "tiny budget (12 evaluations, popsize 4): checks the pipeline", result=False)

    def __post_init__(self) -> None:
        if self.smoke_test:
            self.budget, self.popsize = min(self.budget, 12), min(self.popsize, 4)
        rules = [
            (self.budget >= 1, f"--budget {self.budget} must be at least 1"),
            (
                self.popsize >= 2,
                f"--popsize {self.popsize} must be at least 2 (DE needs a population)",
            ),
            (self.n_tokens >= 0, f"--n-tokens {self.n_tokens} must be >= 0 (0 = persona length)"),
            (
                self.subspace_dim >= 0,
                f"--subspace-dim {self.subspace_dim} must be >= 0 (0 = full space)",
            ),
            (self.sigma > 0, f"--sigma {self.sigma} must be positive"),
            (self.workers >= 0, f"--workers {self.workers} must be >= 0 (0 = no Ray)"),
            (self.goqa >= 0, f"--goqa {self.goqa} must be >= 0 (0 = skip the check)"),
            (self.samples >= 1, f"--samples {self.samples} must be at least 1"),
            (self.search_draws >= 1, f"--search-draws {self.search_draws} must be at least 1"),
            (
                self.rescore_draws >= 2,
                f"--rescore-draws {self.rescore_draws} must be at least 2 (an interval needs 2 draws)",
            ),
            (
                self.optimizer in OPTIMIZERS,
                f"--optimizer {self.optimizer!r} is not one of {OPTIMIZERS}",
            ),
        ]
        for ok, message in rules:
            if not ok:
                raise UserInputError(message)
        if not self.country:
            raise UserInputError("--country is required, e.g. --country 'U.S.A.'")

    @property
    def out_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.country).strip("-").lower() or "country"
        return Path("runs") / "softprompt" / f"{slug}-seed{self.seed}"

    def persona_text(self) -> str:
        return self.persona.format(country=DISPLAY_NAMES.get(self.country, self.country))

    def result_fields(self) -> dict[str, Any]:
        """The fields that change results: a resumed run must match them exactly."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("result", True)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (``n_tokens`` -> ``--n-tokens``), help and default from it."""
    for f in dataclasses.fields(SoftPromptConfig):
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"help": f.metadata["help"].replace("%", "%%"), "dest": f.name}  # argparse formats help with %
        if f.type in ("bool", bool):
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = {"int": int, "float": float}.get(str(f.type), str)
            kwargs["default"] = f.default
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        if f.name == "country":
            kwargs["required"] = True
        parser.add_argument(flag, **kwargs)


def config_from_args(args: argparse.Namespace) -> SoftPromptConfig:
    return SoftPromptConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SoftPromptConfig)})


def markdown_table() -> str:
    """The flags as a Markdown table (docs/softprompt.md is generated from the same fields)."""
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(SoftPromptConfig):
        blank = f.default is None or f.default is False or f.default == ""
        default = "" if blank else f"`{f.default!r}`".replace("|", "\\|")
        rows.append(f"| `--{f.name.replace('_', '-')}` | {default} | {f.metadata['help']} |")
    return "\n".join(rows)
