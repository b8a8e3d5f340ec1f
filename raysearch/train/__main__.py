"""CLI: ``python -m raysearch.train METHOD`` — one training run on Ray Train, with its result table."""

from __future__ import annotations

import argparse

from raysearch.errors import run_cli
from raysearch.methods.registry import METHODS, NAMES, get


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raysearch.train", allow_abbrev=False,
        description="Train one reward model with Ray Train workers and print its per-community results.",
    )
    sub = p.add_subparsers(dest="objective", required=True, metavar="OBJECTIVE", help=", ".join(NAMES))
    for name, method in METHODS.items():
        method.add_cli(sub.add_parser(name, help=method.help, description=method.help, allow_abbrev=False))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pathlib import Path

    from raysearch.tracking import activate

    push = getattr(args, "push_to_hub", None)
    if push:  # checked before training: offline, a bad id or a method without a model folder is one line now
        from raysearch.errors import UserInputError
        from raysearch.models.hub import check_push

        if args.objective == "npbtl":
            raise UserInputError("--push-to-hub: npbtl trains small networks on cached features, not a reward-model "
                                 "folder; push a bt, scpo or dprm model")
        check_push(push)
    # --callback: every run of this command (G, then the model) logs its reports under OUT/ once it has finished
    activate(args.callback, Path(args.out), args.objective)
    try:
        code = int(get(args.objective).run_cli(args))
        if code == 0 and push:
            from raysearch.models.hub import push_from_cli
            from raysearch.train.checkpoint import MODEL_DIR

            push_from_cli(Path(args.out) / args.objective / MODEL_DIR, push)  # bt/scpo/dprm: OUT/<objective>/model
        return code
    finally:
        activate(None, args.out, args.objective)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
