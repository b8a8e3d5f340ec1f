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
