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


def test_a_run_failure_a_user_can_act_on_is_one_line_and_exit_1(capsys):
    import errno

    from raysearch.errors import run_cli, run_failure

    def diverged(argv):
        try:
            raise FloatingPointError("non-finite loss nan at epoch 1 step 3 (the run diverged)")
        except FloatingPointError as e:
            raise RuntimeError("Training failed due to worker errors") from e

    assert run_cli(diverged, []) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: training diverged: non-finite loss nan at epoch 1 step 3 (the run diverged); "
                   "try a lower --lr or --weight-decay"]
    # a Ray error carries the worker's traceback only as text
    ray_text = RuntimeError("ray::_run_task()\n  File \"runner.py\", line 9\nFloatingPointError: non-finite weights after epoch 2")
    assert run_failure(ray_text) == "training diverged: non-finite weights after epoch 2; try a lower --lr or --weight-decay"
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.safetensors")
    assert run_failure(full).startswith("No space left on device writing /runs/x/model.safetensors")

    def bug(argv):
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        run_cli(bug, [])
