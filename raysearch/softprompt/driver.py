"""The search loop: Nevergrad ask/tell over a population, checkpointed every generation.

Each generation asks ``popsize`` points, scores them together (in process or on Ray actors,
through the ``Evaluator`` seam), tells the losses, and writes a complete checkpoint
(optimizer with its RNG, history, best point, numpy/torch RNG states) atomically, with its SHA-256
in a sidecar that a resume checks before unpickling. A run killed
at any moment resumes from the last generation to the same result as an uninterrupted one:
the optimizer replays the same asks, and evaluation is deterministic given (seed, eval id).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from raysearch._extras import require
from raysearch.errors import UserInputError
from raysearch.io import atomic_write_bytes, atomic_write_text
from raysearch.softprompt.config import SoftPromptConfig

if TYPE_CHECKING:
    import nevergrad as ng
else:  # one line naming the extra when nevergrad is not installed
    ng = require("nevergrad", "softprompt", "the soft-prompt search")

CHECKPOINT = "checkpoint.pkl"
#: the SHA-256 of the pickle (and of the one before it), written by the same run; no match, no unpickling
DIGEST = "checkpoint.sha256.json"
CHECKPOINT_VERSION = 1


class Evaluator(Protocol):
    """Anything that scores a population: in-process objective or a pool of Ray actors."""

    def losses(self, zs: np.ndarray, eval_ids: list[int]) -> np.ndarray: ...


def make_optimizer(name: str, *, dim: int, budget: int, popsize: int, seed: int) -> ng.optimizers.base.Optimizer:
    """A seeded Nevergrad optimizer over z in R^dim, starting at z = 0 (the persona prompt)."""
    param = ng.p.Array(init=np.zeros(dim))
    param.random_state = np.random.RandomState(seed)
    families: dict[str, Any] = {
        "twopointsde": ng.families.DifferentialEvolution(crossover="twopoints", popsize=popsize),
        "de": ng.families.DifferentialEvolution(popsize=popsize),
        "cma": ng.families.ParametrizedCMA(popsize=popsize),
        "random": ng.optimizers.registry["RandomSearch"],
    }
    if name not in families:
        raise UserInputError(f"optimizer {name!r} is not one of {sorted(families)}")
    optimizer = families[name](parametrization=param, budget=budget, num_workers=popsize)
    optimizer.suggest(np.zeros(dim))  # the first candidate is the persona prompt itself
    return optimizer


@dataclass
class SearchState:
    """Everything a resume needs; pickled whole after every generation."""

    config: dict[str, Any]
    optimizer: Any
    evaluations: int = 0
    generation: int = 0
    history: list[float] = field(default_factory=list)  #: loss of every evaluation, in order
    best_loss: float = float("inf")
    best_z: np.ndarray | None = None
    best_eval: int = -1
    elapsed_s: float = 0.0
    rng: dict[str, Any] = field(default_factory=dict)
    version: int = CHECKPOINT_VERSION


def _rng_states() -> dict[str, Any]:
    return {"numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def save_checkpoint(state: SearchState, folder: Path) -> Path:
    """Pickle ``state`` to folder/checkpoint.pkl and its SHA-256 to folder/checkpoint.sha256.json.

    The sidecar is written first and names the new digest and the previous one, each file atomically:
    a kill between the two writes leaves the previous pickle, which the sidecar still accepts."""
    state.rng = _rng_states()
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    try:  # the digest of the pickle now in place (this run's previous generation)
        previous = json.loads((folder / DIGEST).read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        previous = None
    digests = {"file": CHECKPOINT, "sha256": hashlib.sha256(data).hexdigest(), "previous_sha256": previous}
    atomic_write_text(folder / DIGEST, json.dumps(digests, indent=2) + "\n")
    return atomic_write_bytes(folder / CHECKPOINT, data)


def _read_digests(folder: Path) -> dict[str, Any]:
    try:
        digests = json.loads((folder / DIGEST).read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(
            f"--resume: {str(folder / DIGEST)!r} cannot be read ({type(exc).__name__}), so {CHECKPOINT} will not "
            f"be unpickled; restart without --resume, or delete the folder {str(folder)!r}"
        ) from None
    return digests if isinstance(digests, dict) else {}


def load_checkpoint(folder: Path, cfg: SoftPromptConfig) -> SearchState:
    """Read the checkpoint of ``folder`` and check it was made with the same settings.

    The pickle is unpickled only when its SHA-256 is one the sidecar ``checkpoint.sha256.json`` names
    (written by the run that wrote the pickle). Nevergrad's optimizers (their RNG included) are
    serializable by pickle only, so the pickle stays; the digest protects against a truncated or
    corrupted file and against a pickle replaced by another (another run's, a copied one) on its own.
    It does not protect against a writer who can rewrite both files: whoever can write the run folder
    can run code on ``--resume`` (docs/RELIABILITY.md).
    """
    path = folder / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(
            f"--resume: no checkpoint at {str(path)!r}; run without --resume to start, or give "
            "the --out folder of the run to continue"
        )
    if not (folder / DIGEST).exists():
        raise UserInputError(
            f"--resume: {str(path)!r} has no {DIGEST} beside it (written by an older raysearch, or not by "
            f"raysearch), so it will not be unpickled; restart without --resume, or delete the folder {str(folder)!r}"
        )
    data = path.read_bytes()
    digests = _read_digests(folder)
    if hashlib.sha256(data).hexdigest() not in (digests.get("sha256"), digests.get("previous_sha256")):
        raise UserInputError(
            f"--resume: {str(path)!r} does not match the SHA-256 in {DIGEST} (truncated, corrupted or replaced), "
            f"so it will not be unpickled; restart without --resume, or delete the folder {str(folder)!r}"
        )
    state: SearchState = pickle.loads(data)
    expected = cfg.result_fields()
    defaults = {f.name: f.default for f in fields(SoftPromptConfig)}
    for key, value in expected.items():
        # a setting the checkpoint lacks was added later, with a default that keeps the old behaviour
        made_with = state.config.get(key, defaults[key])
        if made_with != value:
            raise UserInputError(
                f"--resume: the checkpoint was made with {key}={made_with!r}, not "
                f"{value!r}; pass the same settings to resume or use another --out"
            )
    np.random.set_state(state.rng["numpy"])
    torch.set_rng_state(state.rng["torch"])
    return state


def new_state(cfg: SoftPromptConfig, dim: int) -> SearchState:
    optimizer = make_optimizer(cfg.optimizer, dim=dim, budget=cfg.budget, popsize=cfg.popsize, seed=cfg.seed)
    return SearchState(config=cfg.result_fields(), optimizer=optimizer)


def run_search(
    cfg: SoftPromptConfig,
    evaluator: Evaluator,
    *,
    dim: int,
    folder: Path,
    state: SearchState | None = None,
    on_generation: Callable[[SearchState, float], None] | None = None,
    stop_after: int | None = None,
) -> SearchState:
    """Ask/tell until the budget is spent; checkpoint after every generation.

    ``stop_after`` ends the loop after that many generations of this call (tests use it to
    simulate a kill between two generations).
    """
    state = state or new_state(cfg, dim)
    optimizer = state.optimizer
    done_here = 0
    while state.evaluations < cfg.budget:
        if stop_after is not None and done_here >= stop_after:
            break
        start = time.perf_counter()
        size = min(cfg.popsize, cfg.budget - state.evaluations)
        candidates = [optimizer.ask() for _ in range(size)]
        zs = np.stack([np.asarray(c.value, dtype=np.float64) for c in candidates])
        ids = list(range(state.evaluations, state.evaluations + size))
        losses = np.asarray(evaluator.losses(zs, ids), dtype=np.float64)
        for candidate, loss in zip(candidates, losses, strict=True):
            if not np.isfinite(loss):  # never feed NaN to the optimizer
                loss = np.float64(1e9)
            optimizer.tell(candidate, float(loss))
        best = int(np.argmin(losses))
        if losses[best] < state.best_loss:
            state.best_loss, state.best_z, state.best_eval = (
                float(losses[best]),
                zs[best],
                ids[best],
            )
        state.history.extend(float(v) for v in losses)
        state.evaluations += size
        state.generation += 1
        seconds = time.perf_counter() - start
        state.elapsed_s += seconds
        save_checkpoint(state, folder)
        done_here += 1
        if on_generation is not None:
            on_generation(state, seconds)
    return state
