"""The objectives raysearch trains, and where each one's config, data, loop and reports live.

Every objective is a module exposing the same small interface, so the Ray Train wrapper
(``raysearch.train.ray_train``), the single-run CLI (``python -m raysearch.train``) and the
search (``python -m raysearch.tune``) handle all of them alike:

- ``CONFIG_CLS``: the config dataclass (``to_dict``, ``from_dict``, ``validate`` raising
  ``UserInputError``; fields ``objective`` and ``seed``; field metadata ``help`` feeds the CLI).
- ``DATA_KEYS``: options of a search space's ``fixed`` block that shape the data, not training.
- ``prepare(source, communities, cfg, *, seed, **data_opts) -> (data, notes)``: load and split
  the data (validated; one ``UserInputError`` line on bad input); ``data`` is picklable.
- ``run_loop(cfg, data, *, device, reporter, resume_from, workdir) -> LoopResult``: the pure
  torch loop (no Ray): reports ``(flat_metrics, checkpoint_dir_or_None)`` per epoch, resumes
  exactly from a checkpoint it wrote.
- ``prepare_trials(space, data, base, paths) -> (trial_base, trial_data, baselines)``: what a
  search's trials share, and reference points ``{name: (x, y)}`` for the Pareto plot.
- ``PER_COMMUNITY_PREFIX``: the flat metric prefix (``val/acc/``) the search report tabulates.
- ``load_model(path)``: a checkpoint's model, ready to score, in one call.
- ``add_cli(parser)`` and ``run_cli(args) -> int``: the ``python -m raysearch.train NAME`` command.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from raysearch.errors import UserInputError

#: objective name → the module implementing it
MODULES: dict[str, str] = {
    "bt": "raysearch.train.pairwise",
    "scpo": "raysearch.train.pairwise",
    "dprm": "raysearch.train.dprm",
    "npbtl": "raysearch.train.npbtl",
}
OBJECTIVES: tuple[str, ...] = tuple(MODULES)


def objective_module(name: str) -> ModuleType:
    """The module implementing objective ``name`` (see the module docstring for its interface)."""
    if name not in MODULES:
        raise UserInputError(f"objective {name!r} is unknown; valid: {', '.join(OBJECTIVES)}")
    return importlib.import_module(MODULES[name])


def config_class(name: str) -> Any:
    """The config dataclass of objective ``name``."""
    return objective_module(name).CONFIG_CLS


def config_from_dict(d: dict[str, Any]) -> Any:
    """A config object from its ``to_dict()`` (the ``objective`` key picks the class)."""
    return config_class(d.get("objective", "bt")).from_dict(d)
