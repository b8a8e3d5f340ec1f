"""run_cli: a user error is one line on stderr and exit code 2; a bug keeps its traceback."""

import subprocess
import sys

import pytest

from raysearch.errors import EXIT_USAGE, UserInputError, run_cli


def _raise(exc: BaseException):
    def main(argv):
        raise exc

    return main


@pytest.mark.parametrize("exc", [UserInputError("bad --tau 2\nmore detail"), FileNotFoundError("data.json: no such file")])
def test_user_errors_are_one_line_and_exit_2(exc, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(_raise(exc), [])
    assert info.value.code == EXIT_USAGE
    assert capsys.readouterr().err == f"error: {str(exc).splitlines()[0]}\n"


@pytest.mark.parametrize("exc", [ValueError("shapes differ"), RuntimeError("no checkpoint"), KeyError("x")])
def test_other_exceptions_propagate(exc, capsys):
    with pytest.raises(type(exc)) as info:
        run_cli(_raise(exc), [])
    assert info.value is exc and info.traceback[-1].name == "main"  # raised where it happened
    assert capsys.readouterr().err == ""


def test_a_bug_prints_its_traceback():
    code = ("from raysearch.errors import run_cli\n"
            "def main(argv):\n    raise ValueError('internal bug')\n"
            "raise SystemExit(run_cli(main))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 1
    assert "Traceback (most recent call last)" in p.stderr and "ValueError: internal bug" in p.stderr
    assert "error: internal bug" not in p.stderr


def test_success_and_interrupt():
    assert run_cli(lambda argv: None, []) == 0
    assert run_cli(lambda argv: 3, []) == 3
    assert run_cli(_raise(KeyboardInterrupt()), []) == 130
