"""The search loop: Nevergrad ask/tell over a population, checkpointed every generation.

Each generation asks ``popsize`` points, scores them together (in process or on Ray actors,
through the ``Evaluator`` seam), tells the losses, and writes a complete checkpoint
(optimizer with its RNG, history, best point, numpy/torch RNG states) atomically. A run killed
at any moment resumes from the last generation to the same result as an uninterrupted one:
the optimizer replays the same asks, and evaluation is deterministic given (seed, eval id).
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nevergrad as ng
import numpy as np
import torch

from raysearch.errors import UserInputError
from raysearch.io import atomic_write_bytes
from raysearch.softprompt.config import SoftPromptConfig

CHECKPOINT = "checkpoint.pkl"
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
    """Pickle ``state`` to folder/checkpoint.pkl (atomic: written beside, then renamed)."""
    state.rng = _rng_states()
    return atomic_write_bytes(folder / CHECKPOINT, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def load_checkpoint(folder: Path, cfg: SoftPromptConfig) -> SearchState:
    """Read the checkpoint of ``folder`` and check it was made with the same settings."""
    path = folder / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(
            f"--resume: no checkpoint at {str(path)!r}; run without --resume to start, or give "
            "the --out folder of the run to continue"
        )
    with path.open("rb") as handle:
        state: SearchState = pickle.load(handle)
    expected = cfg.result_fields()
    for key, value in expected.items():
        if state.config.get(key) != value:
            raise UserInputError(
                f"--resume: the checkpoint was made with {key}={state.config.get(key)!r}, not "
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
