"""The ``raysearch`` command: ``raysearch {tune,train,softprompt} ...`` and ``raysearch --version``.

Each subcommand is the same CLI as ``python -m raysearch.<subcommand>`` (its flags, help and exit
codes); ``python -m raysearch`` works without the console script.
"""

from __future__ import annotations

import importlib
import sys

import raysearch
from raysearch.errors import run_cli

#: subcommand -> (module with ``main(argv)``, one line of help)
COMMANDS = {
    "tune": ("raysearch.tune.__main__", "a Ray Tune + Optuna search over a search-space file; the Pareto front"),
    "train": ("raysearch.train.__main__", "one reward-model training run (bt, scpo, dprm, npbtl)"),
    "softprompt": ("raysearch.softprompt.__main__", "a Nevergrad soft-prompt search toward a country's Hofstede profile"),
}


def usage() -> str:
    lines = [f"usage: raysearch {{{','.join(COMMANDS)}}} ... | --version", "", "commands:"]
    lines += [f"  {name:<11} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "raysearch COMMAND --help shows a command's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        print(f"raysearch {raysearch.__version__}")
        return 0
    if args[0] not in COMMANDS:
        print(f"error: unknown command {args[0]!r}; valid: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    sys.argv[0] = f"raysearch {args[0]}"
    return int(run_cli(module.main, args[1:]))


def console() -> None:
    """The ``raysearch`` console script."""
    raise SystemExit(main())


if __name__ == "__main__":
    console()
