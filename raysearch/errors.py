"""The one place user-facing errors are turned into a single line and an exit code."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2


class UserInputError(ValueError):
    """Bad input from a user: printed as one line by the CLIs, exit code 2."""


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a CLI entry point; a user error (UserInputError, FileNotFoundError) becomes one line + exit 2.

    Any other exception is a bug and propagates with its traceback. ``RAYSEARCH_DEBUG=1`` prints
    the traceback of a user error as well."""
    try:
        return int(main(argv) or 0)
    except (UserInputError, FileNotFoundError) as exc:
        if os.environ.get("RAYSEARCH_DEBUG"):
            traceback.print_exc()
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(msg)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        failure = run_failure(exc)
        if failure is None:
            raise
        if os.environ.get("RAYSEARCH_DEBUG"):
            traceback.print_exc()
        print(f"error: {failure}", file=sys.stderr)
        return EXIT_FAILED


EXIT_FAILED = 1
_DIVERGED = "FloatingPointError: "


def run_failure(exc: BaseException) -> str | None:
    """One line for a run that failed for a reason a user can act on, else None (a bug: keep the traceback).

    - training diverged (the runner's ``FloatingPointError``, also when Ray Train or a Ray task wraps it);
    - the disk is full (``OSError`` ENOSPC) or not writable, naming the file.
    """
    import errno

    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    for e in seen:
        if isinstance(e, FloatingPointError):
            return f"training diverged: {str(e).splitlines()[0]}; try a lower --lr or --weight-decay"
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            where = f" writing {e.filename}" if e.filename else ""
            return f"{e.strerror or 'cannot write'}{where}; nothing written there is presented as complete (free space and rerun with --resume where the command has it)"
    text = str(exc)  # a Ray error carries the worker's traceback as text
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith(_DIVERGED):
            return f"training diverged: {line[len(_DIVERGED):]}; try a lower --lr or --weight-decay"
        if line.startswith("OSError: [Errno 28]"):
            return f"{line[len('OSError: '):]}; nothing written there is presented as complete"
    return None
