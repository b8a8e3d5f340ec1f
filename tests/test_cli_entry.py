"""The ``raysearch`` command: subcommands are the module CLIs, ``--version``, one line for a bad command."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys

import pytest

import raysearch
from raysearch.__main__ import COMMANDS, main
from raysearch._extras import DISTRIBUTION


def test_version_and_usage(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"raysearch {raysearch.__version__}"
    assert main([]) == 2
    usage = capsys.readouterr().out
    assert all(f"  {name} " in usage for name in COMMANDS)


def test_unknown_command_is_one_line(capsys):
    assert main(["tuen"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == ["error: unknown command 'tuen'; valid: tune, train, softprompt"]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_is_its_module_cli(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "--" in capsys.readouterr().out  # the module's own flags


def test_bad_flag_of_a_command_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["tune", "scpo", "--num-sample", "3"])
    assert e.value.code == 2


def test_console_script_is_installed():
    """Installed as the distribution raysearch-align (``raysearch`` on the index is another project)."""
    dist = importlib.metadata.distribution(DISTRIBUTION)
    assert dist.version == raysearch.__version__
    scripts = {e.name: e.value for e in dist.entry_points if e.group == "console_scripts"}
    assert scripts == {"raysearch": "raysearch.__main__:console"}
    exe = shutil.which("raysearch") or str(__import__("pathlib").Path(sys.executable).parent / "raysearch")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"raysearch {raysearch.__version__}"
    out = subprocess.run([sys.executable, "-m", "raysearch", "--version"], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == f"raysearch {raysearch.__version__}"
