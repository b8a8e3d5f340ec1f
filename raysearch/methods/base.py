"""What a method provides: the typed interface the runner, the Ray Train wrapper, the CLI and the search use.

Every method lives in ``raysearch/methods/<name>/`` with the same files:

- ``config.py``: its config class (a ``raysearch.train.config.BaseConfig`` subclass with only its own fields);
- ``data.py``: ``prepare`` (load, validate and split the data; picklable result);
- ``losses.py``: its loss functions (pure torch, no model, no data loading);
- ``step.py``: its ``raysearch.train.runner.Session`` (model, optimizer, batches, batch loss, evaluation);
- ``report.py``: its result tables;
- ``search.py``: what a search's trials share (``prepare_trials``) and the baselines of its Pareto plot;
- ``cli.py``: ``add_cli`` / ``run_cli`` of ``python -m raysearch.train <name>``;
- ``__init__.py``: the :class:`Method` object(s) the registry (``raysearch.methods.registry``) lists.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from raysearch.train.config import BaseConfig
from raysearch.train.runner import Session

#: the files every ``raysearch/methods/<name>/`` folder has (a test checks it)
METHOD_FILES = ("__init__.py", "config.py", "data.py", "losses.py", "step.py", "report.py", "search.py", "cli.py")


@runtime_checkable
class Method(Protocol):
    """One trainable objective (``name`` is what CLIs, search spaces and configs call it)."""

    @property
    def name(self) -> str:
        """What CLIs, search spaces and configs call the method."""
        ...

    @property
    def help(self) -> str:
        """One line for ``--help``."""
        ...

    @property
    def config_cls(self) -> type[BaseConfig]:
        """Its config class."""
        ...

    @property
    def data_keys(self) -> tuple[str, ...]:
        """Search-space ``fixed`` options that shape the data (passed to ``prepare``), not the training config."""
        ...

    @property
    def per_community_prefix(self) -> str:
        """The flat metric prefix of per-community values (``val/acc/``) the search report tabulates."""
        ...

    @property
    def monitor(self) -> tuple[str, str]:
        """The validation metric and mode (``max``/``min``) that name a run's best epoch (kept beside its last)."""
        ...

    @property
    def smoke_fixed(self) -> dict[str, Any]:
        """``fixed`` options ``python -m raysearch.tune NAME --smoke-test`` sets (short trials)."""
        ...

    def prepare(self, source: str, communities: list[str] | None, cfg: Any, *, seed: int,
                **data_opts: Any) -> tuple[Any, list[str]]:
        """Load and split the data (one ``UserInputError`` line on bad input); the data is picklable."""
        ...

    def start(self, cfg: Any, data: Any, *, device: torch.device, resume_from: str | None,
              state: dict[str, Any] | None) -> Session:
        """A training session on this rank (the runner restores ``state`` into it afterwards)."""
        ...

    def metrics_from_dict(self, d: dict[str, Any]) -> dict[str, Any]:
        """Metrics objects from a checkpoint's ``meta.json['metrics']``."""
        ...

    def prepare_trials(self, space: Any, data: Any, base: Any, paths: Any, *,
                       reference: str | None = None) -> tuple[dict[str, Any], Any, dict[str, tuple[float, float]]]:
        """What a search's trials share: their base config dict, their data, baseline points ``{name: (x, y)}``."""
        ...

    def confirm_trials(self, front: Any, space: Any, data: Any, base: Any, paths: Any, *, trial_base: dict[str, Any],
                       trial_data: Any, reference: str | None = None) -> Any:
        """Seed reruns and the test read of a finished search's front, or None where the method has none."""
        ...

    def load_model(self, path: str | Path) -> Any:
        """A checkpoint's model, ready to score."""
        ...

    def add_cli(self, parser: argparse.ArgumentParser) -> None:
        """Flags of ``python -m raysearch.train NAME``."""
        ...

    def run_cli(self, args: argparse.Namespace) -> int:
        """Run ``python -m raysearch.train NAME``; returns the exit code."""
        ...


@dataclass(frozen=True)
class MethodHome:
    """A :class:`Method` whose functions live in the files of its folder ``package``, imported on first use.

    ``data.prepare``; ``step.start``, ``step.metrics_from_dict``, ``step.load_model``;
    ``search.prepare_trials``, ``search.confirm_trials``; ``cli.add_cli``, ``cli.run_cli``.
    Importing the registry stays cheap, and a method folder is read by the names of its files.
    """

    name: str
    help: str
    package: str
    config_cls: type[BaseConfig]
    data_keys: tuple[str, ...] = ()
    per_community_prefix: str = "val/"
    smoke_fixed: dict[str, Any] = field(default_factory=dict)
    monitor: tuple[str, str] = ("val/mean_acc", "max")

    def _file(self, stem: str) -> Any:
        return importlib.import_module(f"{self.package}.{stem}")

    def prepare(self, source: str, communities: list[str] | None, cfg: Any, *, seed: int,
                **data_opts: Any) -> tuple[Any, list[str]]:
        return self._file("data").prepare(source, communities, cfg, seed=seed, **data_opts)

    def start(self, cfg: Any, data: Any, *, device: torch.device, resume_from: str | None,
              state: dict[str, Any] | None) -> Session:
        return self._file("step").start(cfg, data, device=device, resume_from=resume_from, state=state)

    def metrics_from_dict(self, d: dict[str, Any]) -> dict[str, Any]:
        return self._file("step").metrics_from_dict(d)

    def prepare_trials(self, space: Any, data: Any, base: Any, paths: Any, *,
                       reference: str | None = None) -> tuple[dict[str, Any], Any, dict[str, tuple[float, float]]]:
        return self._file("search").prepare_trials(space, data, base, paths, reference=reference)

    def confirm_trials(self, front: Any, space: Any, data: Any, base: Any, paths: Any, *, trial_base: dict[str, Any],
                       trial_data: Any, reference: str | None = None) -> Any:
        return self._file("search").confirm_trials(front, space, data, base, paths, trial_base=trial_base,
                                                   trial_data=trial_data, reference=reference)

    def load_model(self, path: str | Path) -> Any:
        return self._file("step").load_model(path)

    def add_cli(self, parser: argparse.ArgumentParser) -> None:
        self._file("cli").add_cli(parser)

    def run_cli(self, args: argparse.Namespace) -> int:
        return int(self._file("cli").run_cli(args))
