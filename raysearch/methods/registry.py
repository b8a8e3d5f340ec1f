"""The one list of methods. Every list of method names (CLI choices, search-space ``experiment:``
values, config ``objective``) derives from :data:`METHODS`; adding a method is its folder plus one line here."""

from __future__ import annotations

from typing import Any

from raysearch.errors import UserInputError
from raysearch.methods import dprm, npbtl, pairwise
from raysearch.methods.base import Method

METHODS: dict[str, Method] = {m.name: m for m in (
    pairwise.BT,
    pairwise.SCPO,
    dprm.METHOD,
    npbtl.METHOD,
)}
NAMES: tuple[str, ...] = tuple(METHODS)


def get(name: str) -> Method:
    """The method called ``name``; one clear line naming the valid ones otherwise."""
    if name not in METHODS:
        raise UserInputError(f"objective {name!r} is unknown; valid: {', '.join(NAMES)}")
    return METHODS[name]


def config_from_dict(d: dict[str, Any]) -> Any:
    """A config object from its ``to_dict()`` (the ``objective`` key picks the method's class)."""
    return get(d.get("objective", "bt")).config_cls.from_dict(d)
