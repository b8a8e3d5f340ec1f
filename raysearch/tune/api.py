"""``search(...)``: the search of ``python -m raysearch.tune`` as one Python call returning the front.

Every keyword is the CLI flag of the same name (``num_samples`` is ``--num-samples``), checked by
the same parser and the same validation, so a call and a command line cannot drift apart::

    from raysearch.tune import search

    front = search("scpo", smoke_test=True, communities=["Chile", "Mexico"], out="runs/api")
    for p in front.points:
        print(p.trial_id, dict(zip(front.objectives, p.values)), p.params)

Bad input raises ``raysearch.errors.UserInputError`` (the CLI prints it as one line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError
from raysearch.pareto import ParetoFront


def search(
    experiment: str = "scpo", *, space: str | Path | None = None, num_samples: int | None = None,
    max_concurrent: int | None = None, sampler: str | None = None, seed: int | None = None,
    scheduler: str | None = None, seed_reruns: int | None = None, workers: int | None = None,
    cpus_per_worker: float | None = None, gpus_per_worker: float | None = None, name: str | None = None,
    out: str | Path = "runs/tune", storage: str | None = None, optuna_storage: str | None = None,
    resume: bool = False, keep_checkpoints: str = "pareto", data: str = "goqa", strict: bool = False,
    communities: list[str] | None = None, backbone: str | None = None, reference: str | None = None,
    smoke_test: bool = False, **more: Any,
) -> ParetoFront:
    """Run (or, with ``resume=True``, continue) a search and return its Pareto front (validation
    objectives; each point's ``extra`` holds its per-community and test metrics). Outputs are written to
    ``out/name/`` exactly as by the CLI (``report.md``, ``pareto/<trial>/model``, ...). ``more``: flags
    added to the CLI after this function was written (``callback=["tensorboard"]``), same naming rule."""
    from raysearch.tune.__main__ import build_parser, main

    opts: dict[str, Any] = {
        "space": space, "num_samples": num_samples, "max_concurrent": max_concurrent, "sampler": sampler,
        "seed": seed, "scheduler": scheduler, "seed_reruns": seed_reruns, "workers": workers,
        "cpus_per_worker": cpus_per_worker, "gpus_per_worker": gpus_per_worker, "name": name, "out": out,
        "storage": storage, "optuna_storage": optuna_storage, "resume": resume, "keep_checkpoints": keep_checkpoints,
        "data": data, "strict": strict, "communities": communities, "backbone": backbone, "reference": reference,
        "smoke_test": smoke_test, **more,
    }
    argv = [experiment, *_flags(opts)]
    try:
        build_parser().parse_args(argv)
    except SystemExit:  # argparse printed why; say it as an exception, not an exit
        raise UserInputError(f"invalid search options: {' '.join(argv)}") from None
    main(argv)
    run = Path(out).expanduser().resolve() / (name or experiment)  # the CLI's default --name
    return ParetoFront.from_json(run / "pareto.json")


def _flags(opts: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            argv += [flag, *(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv

