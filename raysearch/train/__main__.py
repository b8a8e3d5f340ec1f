"""CLI: ``python -m raysearch.train {bt,scpo,dprm,npbtl}`` — one training run on Ray Train, with its result table."""

from __future__ import annotations

import argparse

from raysearch.errors import run_cli
from raysearch.train.registry import OBJECTIVES, objective_module

HELP = {
    "bt": "Bradley–Terry fine-tuning on all community pairs, compared with the global model G",
    "scpo": "SCPO from G: the pairs G gets wrong or weakly right, re-weighted; compared with G",
    "dprm": "distributional reward model: per-option scores → answer distribution, optimal-transport loss",
    "npbtl": "few-shot steerable reward (neural process over a user's choices), next to BTL and DPL",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raysearch.train", allow_abbrev=False,
        description="Train one reward model with Ray Train workers and print its per-community results.",
    )
    sub = p.add_subparsers(dest="objective", required=True, metavar="OBJECTIVE",
                           help=", ".join(OBJECTIVES))
    for name in OBJECTIVES:
        sp = sub.add_parser(name, help=HELP[name], description=HELP[name], allow_abbrev=False)
        module = objective_module(name)
        if name in ("bt", "scpo"):
            module.add_cli(sp, name)
        else:
            module.add_cli(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(objective_module(args.objective).run_cli(args))


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
