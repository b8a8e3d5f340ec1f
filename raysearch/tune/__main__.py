"""CLI: ``python -m raysearch.tune EXPERIMENT`` — a two-objective search; returns a Pareto front."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from raysearch.data.goqa_files import STRICT_HELP
from raysearch.errors import UserInputError, run_cli
from raysearch.redact import redact, redact_argv

SMOKE_SAMPLES = 2
#: the Optuna storage when --optuna-storage is not given (an RDB URL with a password stays off the command line)
STORAGE_ENV = "RAYSEARCH_OPTUNA_STORAGE"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raysearch.tune", allow_abbrev=False,
        description="Ray Tune + Optuna search over a search-space YAML; writes the Pareto front of the "
                    "two objectives (default: mean and worst-community validation accuracy).",
    )
    from raysearch.methods.registry import NAMES

    p.add_argument("experiment", help=f"a search space shipped in search_spaces/ ({', '.join(NAMES)}) or with --space")
    p.add_argument("--space", default=None, help="search-space YAML (default: search_spaces/EXPERIMENT.yaml)")
    p.add_argument("--num-samples", type=int, default=None, help="trial budget (overrides the space file)")
    p.add_argument("--max-concurrent", type=int, default=None, help="trials at once (overrides the space file)")
    p.add_argument("--sampler", choices=["nsga2", "tpe", "gp", "random"], default=None, help="Optuna sampler")
    p.add_argument("--seed", type=int, default=None, help="sampler and training seed (overrides the space file)")
    p.add_argument("--scheduler", choices=["fifo", "moasha"], default=None,
                   help="fifo: every trial trains to the end; moasha: multi-objective ASHA stops trials dominated at "
                        "a rung (rungs and eta: the space file's scheduler block; overrides its kind)")
    p.add_argument("--seed-reruns", type=int, default=None,
                   help="more seeds for every Pareto configuration and baseline after the search (overrides the space file)")
    p.add_argument("--workers", type=int, default=None,
                   help="workers per trial (overrides the space file's resources): 1 trains in the trial's own "
                        "process, more make each trial a Ray Train DDP run")
    p.add_argument("--cpus-per-worker", type=float, default=None, help="CPUs (and torch threads) per worker")
    p.add_argument("--gpus-per-worker", type=float, default=None, help="GPUs per worker (fractions allowed)")
    p.add_argument("--name", default=None, help="run and study name (default: EXPERIMENT)")
    p.add_argument("--out", default="runs/tune", help="outputs go to OUT/NAME/")
    p.add_argument("--storage", default=None,
                   help="Ray results: a local or shared path, s3://... or gs://... (default: OUT/NAME/ray)")
    p.add_argument("--optuna-storage", default=None,
                   help=f"Optuna study: a journal file path or an RDB URL (default: ${STORAGE_ENV} if set, else "
                        f"OUT/NAME/study.journal); set {STORAGE_ENV} instead to keep a password off the command "
                        f"line; a password in the URL is masked in every report and log line")
    p.add_argument("--resume", action="store_true", help="continue the run NAME after the driver died")
    p.add_argument("--keep-checkpoints", choices=["pareto", "all"], default="pareto",
                   help="pareto (default): keep the checkpoints of running and Pareto trials only, the Pareto models "
                        "once in OUT/NAME/pareto/ at the end; all: every trial's last checkpoint in the Ray storage")
    p.add_argument("--data", default="goqa",
                   help="goqa (bundled), prism, a GlobalOpinionQA file (.json, .jsonl, .csv, .parquet), a PRISM folder; "
                        "npbtl also: synthetic")
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    p.add_argument("--communities", nargs="+", default=None, metavar="NAME", help="communities (default: SCPO countries)")
    p.add_argument("--backbone", default=None, help="reward-model backbone name or path")
    p.add_argument("--reference", default=None, help="global model G (a model folder) instead of training one")
    p.add_argument("--smoke-test", action="store_true", help="2 trials on 32 pairs: checks the wiring in minutes")
    from raysearch.tracking import add_callback_flag

    add_callback_flag(p)
    return p


def dashboard_url() -> str | None:
    """The Ray dashboard's address (``http://host:port``) when this Ray has one, else None."""
    try:
        from ray._private.worker import get_dashboard_url  # --- Ray (no public accessor in 2.60) ---

        url = get_dashboard_url()
    except Exception:  # noqa: BLE001 - a missing dashboard is not an error
        return None
    if not url:
        return None
    return url if "://" in url else f"http://{url}"


def _check_storage_for_cluster(optuna_storage: str) -> None:
    """A journal file lives on one node's disk: refuse it when the cluster has several nodes."""
    import ray

    alive = [n for n in ray.nodes() if n.get("Alive")]
    if len(alive) > 1 and "://" not in optuna_storage:
        raise UserInputError(
            f"--optuna-storage {redact(optuna_storage)!r} is a journal file on one node's disk, but the cluster has "
            f"{len(alive)} nodes; give an RDB URL every node can reach, e.g. postgresql://user@host/db"
        )


def _check_gpus(resources: Any, *, local: bool) -> None:
    """A trial asking for more GPUs than Ray can ever give it would wait forever: refuse it before any trial
    starts on a local Ray (this machine is all there is); on a cluster say that trials wait for GPU nodes
    (an autoscaler may add them: ``cluster/*.yaml`` start GPU workers from zero)."""
    import ray

    workers, per = int(resources.workers), float(resources.gpus_per_worker)
    have = float(ray.cluster_resources().get("GPU", 0.0))
    biggest = max((float(n.get("Resources", {}).get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive")), default=0.0)
    need = workers * per
    fits = per <= biggest and need <= have  # every worker on some node, all of them at once
    if per <= 0 or fits:
        return
    ask = f"each trial asks for {need:g} GPU(s) ({workers} worker(s) x {per:g})"
    if local:
        raise UserInputError(f"{ask}, but this machine's Ray has {have:g} GPU(s); use --gpus-per-worker 0 on a CPU "
                             "machine, fewer --workers, or join a GPU cluster (RAY_ADDRESS / ray job submit)")
    print(f"[raysearch.tune] {ask}; the cluster has {have:g} now: trials wait until GPU nodes join "
          "(an autoscaler adds them; without one, stop and lower --gpus-per-worker)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from raysearch.methods.registry import get
    from raysearch.tracking import check_names

    tracking = check_names(args.callback)  # an unknown name or a missing package: one line, before anything runs
    from raysearch.train.config import fields
    from raysearch.tune.pipeline import SearchPaths, run_search
    from raysearch.tune.space_files import builtin_space_path, load_space, peek_experiment

    path = Path(args.space) if args.space else builtin_space_path(args.experiment)
    method = get(peek_experiment(path) if args.space else args.experiment)
    cfg_cls = method.config_cls
    valid = {f.name for f in fields(cfg_cls)} - {"objective", "init_from", "reference"} | set(method.data_keys)
    space = load_space(path, valid_keys=valid)
    if space.experiment != args.experiment and args.space is None:
        raise UserInputError(f"{path}: experiment is {space.experiment!r}, not {args.experiment!r}")
    overrides = {k: v for k, v in {"num_samples": args.num_samples, "max_concurrent": args.max_concurrent,
                                   "sampler": args.sampler, "seed": args.seed,
                                   "seed_reruns": args.seed_reruns}.items() if v is not None}
    if args.scheduler is not None:
        overrides["scheduler"] = {**space.scheduler.model_dump(), "kind": args.scheduler}
    res = {k: v for k, v in {"workers": args.workers, "cpus_per_worker": args.cpus_per_worker,
                             "gpus_per_worker": args.gpus_per_worker}.items() if v is not None}
    if res:
        overrides["resources"] = {**space.resources.model_dump(), **res}
    fixed = dict(space.fixed)
    if args.smoke_test:
        overrides.setdefault("num_samples", SMOKE_SAMPLES)
        overrides.setdefault("seed_reruns", 1)
        fixed.update({k: v for k, v in method.smoke_fixed.items() if k in valid})
    space = space.with_overrides(**overrides) if overrides else space
    train_fixed = {k: v for k, v in fixed.items() if k not in method.data_keys}
    base = cfg_cls.from_dict({**train_fixed, "objective": space.experiment, "seed": space.seed,
                              **({"backbone": args.backbone} if args.backbone else {})}).validate()
    from raysearch.models.backbone import resolve_backbone

    resolve_backbone(base.backbone)
    reference = resolve_backbone(args.reference) if args.reference else None
    if reference is not None and space.experiment not in ("bt", "scpo"):
        raise UserInputError(f"--reference is the global model G of bt/scpo; {space.experiment} does not use one")
    name = args.name or space.experiment
    optuna_storage = args.optuna_storage or os.environ.get(STORAGE_ENV) or None
    paths = SearchPaths.make(out=args.out, name=name, storage=args.storage, optuna_storage=optuna_storage)
    if paths.root.exists() and any(paths.root.iterdir()) and not args.resume:
        raise UserInputError(f"run {name!r} already exists in {paths.root.parent}; pass --resume to continue it "
                             f"or --name NEW to start another")
    if args.resume and not paths.root.exists():
        raise UserInputError(f"--resume: no run {name!r} in {paths.root.parent}; drop --resume to start it")
    from raysearch.tune.study import check_journal

    if note := check_journal(paths.optuna_storage):  # nothing writes it yet: a cut-short record can be dropped
        print(f"[raysearch.tune] {note}", flush=True)

    data_opts = {k: v for k, v in fixed.items() if k in method.data_keys}
    if args.strict:
        data_opts["strict"] = True
    data, notes = method.prepare(args.data, args.communities, base, seed=space.seed, **data_opts)
    for note in notes:
        print(f"[raysearch.tune] {note}", flush=True)
    from raysearch.ray_env import init_ray

    mode = init_ray()
    _check_storage_for_cluster(paths.optuna_storage)
    _check_gpus(space.resources, local=(mode == "local"))
    paths.root.mkdir(parents=True, exist_ok=True)
    sched = space.scheduler
    stopping = "no early stopping" if sched.kind == "fifo" else \
        f"MO-ASHA (rungs at {sched.grace} * {sched.eta:g}^k steps, {sched.tie_break} tie-break)"
    print(f"[raysearch.tune] Ray: {mode}; {space.num_samples} trials ({space.sampler}, {stopping}), "
          f"{space.max_concurrent} at once; outputs in {paths.root}", flush=True)
    if url := dashboard_url():
        print(f"[raysearch.tune] Ray dashboard: {url}", flush=True)
    if tracking:
        print(f"[raysearch.tune] tracking: {', '.join(tracking)}"
              + (f" (tensorboard --logdir {paths.root / 'tensorboard'})" if "tensorboard" in tracking else ""),
              flush=True)
    command = "python -m raysearch.tune " + shlex.join(redact_argv(sys.argv[1:] if argv is None else argv))
    front = run_search(space, data, base, paths, resume=args.resume, reference=reference, command=command,
                       keep_checkpoints=args.keep_checkpoints, callbacks=tracking)
    o = front.objectives
    print(f"Pareto front: {len(front.points)} of {front.n_trials} trials ({len(front.failed)} failed); "
          f"hypervolume {front.hypervolume:.4f} against {front.reference_point} in ({o[0]}, {o[1]})")
    for p in front.points:
        print(f"  {p.trial_id}: {o[0]} {p.values[0]:.4f}, {o[1]} {p.values[1]:.4f}")
    from raysearch.tune.study import read_rungs

    if rungs := read_rungs(paths.optuna_storage, paths.name):
        print("Early stopping: " + "; ".join(
            f"{r.label}{'' if r.fidelity is None else f' ({r.fidelity:g} steps)'} reached by {r.reached}"
            + (f", {r.stopped} stopped there" if r.stopped else "") for r in rungs))
    print(f"Report: {paths.root / 'report.md'}; plot: {paths.root / 'pareto.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
