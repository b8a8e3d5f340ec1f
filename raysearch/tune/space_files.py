"""Search-space files on disk: the built-in ones (``search_spaces/``), reading a YAML with one-line errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from raysearch.errors import UserInputError
from raysearch.tune.space import EXPERIMENTS, SearchSpace


def load_space(
    path: str | os.PathLike[str], *, valid_keys: set[str] | frozenset[str] | None
) -> SearchSpace:
    """Read and validate a search-space YAML; parameter and fixed names must be in ``valid_keys``.

    Every problem is one ``UserInputError`` line naming the file, the key path (e.g.
    ``params.tau.low``) and what is valid; a missing file is a one-line ``FileNotFoundError``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"search space {p}: no such file; give a YAML path, or a built-in "
            f"experiment ({', '.join(builtin_space_names())})"
        )
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise UserInputError(f"{p}: not valid YAML: {_yaml_message(exc)}") from None
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if data is None:
        raise UserInputError(f"{p}: the file is empty; see search_spaces/scpo.yaml for an example")
    return SearchSpace.from_dict(data, source=str(p), valid_keys=valid_keys)


def peek_experiment(path: str | os.PathLike[str]) -> str:
    """The ``experiment`` a space file names (to pick the valid keys), or the one-line error of loading it."""
    p = Path(path)
    if p.is_file():
        try:
            data = yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
        except (yaml.YAMLError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and data.get("experiment") in EXPERIMENTS:
            return str(data["experiment"])
    load_space(p, valid_keys=None)  # raises the precise one-line error (missing file, bad YAML, bad key)
    raise UserInputError(f"{p}: experiment is missing; valid: {', '.join(EXPERIMENTS)}")


def _spaces_dir() -> Path:
    """The one copy of the shipped search spaces: the repository's ``search_spaces/``.

    pyproject.toml installs that folder as the package ``raysearch.search_spaces``, so a wheel has it
    inside the package; code run from a checkout (an editable install, or a Ray job's uploaded
    ``--working-dir``) finds it next to the package, the copy that matches that code."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "search_spaces"
    return installed if installed.is_dir() else package.parent / "search_spaces"


def builtin_space_names() -> list[str]:
    """Names of the search spaces shipped in search_spaces/ (``raysearch.search_spaces`` once installed)."""
    return sorted(f.stem for f in _spaces_dir().glob("*.yaml"))


def builtin_space_path(name: str) -> Path:
    """The shipped YAML for ``name`` (e.g. ``scpo``), from search_spaces/."""
    path = _spaces_dir() / f"{name}.yaml"
    if re.fullmatch(r"[A-Za-z0-9_-]+", name) and path.is_file():
        return path
    raise UserInputError(
        f"no built-in search space {name!r}; built-in: {', '.join(builtin_space_names())}; "
        "or give a file with --space PATH"
    )


# ---- YAML: a safe loader that reads 1e-5 as a number and refuses repeated keys -------------------


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_implicit_resolver(  # YAML 1.2 floats: PyYAML (1.1) reads 1e-5 as a string
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is repeated; keep one", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(exc).splitlines()[0]


# ---- pydantic errors to one line ----------------------------------------------------------------
