"""A multi-objective search of community weighting schedules with Ray Tune + Optuna.

Stages: data → global model G and the same-init baseline (fine-tuning from G) → SCPO margins Δ,
computed once with G → Tune trials (each a Ray Train run) sampled by Optuna (NSGA-II by
default), optionally stopped early by MO-ASHA (``raysearch.tune.scheduler``; stopped trials are
PRUNED in Optuna) → Pareto front of the trials trained to full fidelity, hypervolume, checkpoints
of the Pareto trials → the front confirmed (seed reruns, test read once, paired;
``raysearch.tune.confirm``) → plot, report.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from raysearch.errors import UserInputError
from raysearch.io import atomic_dir
from raysearch.methods.registry import get
from raysearch.pareto import ParetoFront, markdown_report, plot_front
from raysearch.redact import redact
from raysearch.tracking import make_callbacks
from raysearch.train.checkpoint import read_meta
from raysearch.train.config import BaseConfig
from raysearch.train.runner import FIDELITY, FIDELITY_MAX
from raysearch.tune.confirm import Confirmation, confirmation_markdown, write_confirmation
from raysearch.tune.scheduler import make_scheduler
from raysearch.tune.study import (
    close_orphans,
    error_reason,
    open_storage,
    read_front,
    read_rungs,
    record_failure,
    strict_optuna_search,
)


@dataclass
class SearchPaths:
    """Where a run keeps everything: ``root`` (outputs), Ray storage, and the Optuna storage."""

    root: Path
    ray_storage: str
    optuna_storage: str
    name: str

    @classmethod
    def make(cls, *, out: str, name: str, storage: str | None, optuna_storage: str | None) -> SearchPaths:
        root = Path(out).expanduser().resolve() / name
        ray_storage = storage or str(root / "ray")
        if "://" not in ray_storage:
            ray_storage = str(Path(ray_storage).expanduser().resolve())
        return cls(root=root, ray_storage=ray_storage, optuna_storage=optuna_storage or str(root / "study.journal"),
                   name=name)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5940 else f"{seconds / 3600:.1f} h"


def progress_line(*, done: int, total: int, trial_id: str, what: str, values: dict[str, float],
                  running: int, finished: int, failed: int, front_size: int | None, hypervolume: float | None,
                  elapsed_s: float, eta_s: float | None) -> str:
    """The one line a search prints when a trial ends: which trial and how, its objectives, the counts,
    the best-so-far front (size, validation hypervolume) and the elapsed time with an ETA."""
    vals = ", ".join(f"{k} {v:.3f}" for k, v in values.items()) or "no metrics"
    front = "front -" if front_size is None else \
        f"front {front_size}" + ("" if hypervolume is None else f", HV {hypervolume:.4f}")
    eta = "" if eta_s is None else (", ETA 0 min" if eta_s <= 0 else f", ETA {_minutes(eta_s)}")
    return (f"[raysearch.tune] trial {done}/{total} {trial_id} {what}: {vals} | running {running}, finished "
            f"{finished}, failed {failed} | {front} | {_minutes(elapsed_s)}{eta}")


def eta_seconds(trial_seconds: list[float], left: int, max_concurrent: int) -> float | None:
    """Mean wall time of the trials that ended x the trials still to end / trials at once (None: nothing ended)."""
    if not trial_seconds:
        return None
    return sum(trial_seconds) / len(trial_seconds) * max(0, left) / max(1, max_concurrent)


def _progress_callback(total: int, objectives: list[str], storage: Any, study_name: str, *, modes: list[str] | None = None,
                       reference_point: list[float] | None = None, max_concurrent: int = 1) -> Any:
    """One line per finished or failed trial instead of Tune's wide status tables (``progress_line``): counts,
    the best-so-far front of the trials trained to the end (validation hypervolume against the space's
    reference point) and an ETA; a failed trial's line says why (its error's last line), and the reason is
    stored in the study for ``trials.csv``.

    ``storage`` is the opened Optuna storage, never its URL: Ray Tune pickles this callback into
    ``tuner.pkl``, and an RDB storage pickles with its password masked (``raysearch.tune.study``)."""
    from ray import tune  # --- Ray ---

    from raysearch.pareto import ParetoPoint, build_front

    class _Progress(tune.Callback):
        def __init__(self) -> None:
            self.t0, self.done = time.perf_counter(), 0
            self.started: dict[str, float] = {}
            self.durations: list[float] = []
            self.points: dict[str, tuple[float, float]] = {}
            self.n_finished = self.n_failed = 0

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.started.setdefault(trial.trial_id, time.perf_counter())

        def _front(self) -> tuple[int | None, float | None]:
            if modes is None or reference_point is None or len(objectives) != 2:
                return None, None
            if not self.points:
                return 0, 0.0
            front = build_front([ParetoPoint(t, v) for t, v in self.points.items()], objectives=objectives,
                                modes=modes, reference_point=reference_point)
            return len(front.points), front.hypervolume

        def _line(self, trial: Any, trials: list, what: str) -> None:
            self.done += 1
            now = time.perf_counter()
            r = trial.last_result or {}
            self.durations.append(now - self.started.pop(trial.trial_id, self.t0))
            vals = {m: float(r[m]) for m in objectives if isinstance(r.get(m), (int, float))}
            running = sum(1 for t in trials if t.status == "RUNNING" and t is not trial)
            size, hv = self._front()
            print(progress_line(done=self.done, total=total, trial_id=trial.trial_id, what=what, values=vals,
                                running=running, finished=self.n_finished, failed=self.n_failed, front_size=size,
                                hypervolume=hv, elapsed_s=now - self.t0,
                                eta_s=eta_seconds(self.durations, total - self.done, max_concurrent)), flush=True)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            r = trial.last_result or {}
            early = isinstance(r.get(FIDELITY), (int, float)) and r[FIDELITY] < r.get(FIDELITY_MAX, r[FIDELITY])
            self.n_finished += 1
            if not early and all(isinstance(r.get(m), (int, float)) for m in objectives) and len(objectives) == 2:
                self.points[trial.trial_id] = (float(r[objectives[0]]), float(r[objectives[1]]))
            self._line(trial, trials, f"stopped at step {r[FIDELITY]:g} of {r[FIDELITY_MAX]:g}" if early else "done")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            reason = "unknown error"
            try:
                if trial.error_file:
                    reason = redact(error_reason(Path(trial.error_file).read_text()))
            except OSError:
                pass
            record_failure(storage, study_name, trial.trial_id, reason)
            self.n_failed += 1
            self._line(trial, trials, f"FAILED ({reason})")

    return _Progress()


def run_search(
    space: Any, data: Any, base: BaseConfig, paths: SearchPaths, *, resume: bool,
    reference: str | None = None, command: str = "", keep_checkpoints: str = "pareto",
    callbacks: list[str] | None = None,
) -> ParetoFront:
    """Run (or resume) the search and write every output into ``paths.root``.

    ``keep_checkpoints``: ``pareto`` keeps the stored checkpoints of running and current Pareto trials only
    and, at the end, the Pareto models once, in ``pareto/``; ``all`` keeps every trial's last one
    (``raysearch.tune.retention``). ``callbacks``: tracking back ends (``raysearch.tracking``:
    ``tensorboard``, ``mlflow``, ``wandb``), writing under ``paths.root`` by default."""
    from ray import tune  # --- Ray ---

    from raysearch.tune import retention
    from raysearch.tune.trial import run_trial, trial_resources

    t0 = time.perf_counter()
    objectives = [o.metric for o in space.objectives]
    modes = [o.mode for o in space.objectives]
    storage = open_storage(paths.optuna_storage)
    study = optuna.create_study(
        storage=storage, study_name=paths.name, load_if_exists=True,
        directions=["maximize" if m == "max" else "minimize" for m in modes],
    )
    with warnings.catch_warnings():  # experimental in Optuna; names the axes of optuna-dashboard and Optuna's plots
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objectives)
    study.set_user_attr("objectives", objectives)
    study.set_user_attr("reference_point", list(space.reference_point))
    study.set_user_attr("experiment", space.experiment)
    study.set_user_attr("scheduler", space.scheduler.model_dump())
    method = get(space.experiment)
    trial_base, trial_data, baselines = method.prepare_trials(space, data, base, paths, reference=reference)
    (paths.root / "baselines.json").write_text(json.dumps(baselines, indent=2))
    if space.scheduler.kind != "fifo" and "eval_every" not in space.fixed:  # a validation report at every rung
        trial_base = {**trial_base, "eval_every": space.scheduler.grace}

    resources = {**space.resources.model_dump(), "storage_path": paths.ray_storage}
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, base=trial_base, data=trial_data, resources=resources),
        trial_resources(resources),
    )
    # a trial with no objectives in its result is recorded as FAIL by our searcher, not a driver crash
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    # snapshot the experiment (and the searcher) every 2 s, so a killed driver loses little
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    exp_path = f"{paths.ray_storage.rstrip('/')}/{paths.name}"
    if resume and tune.Tuner.can_restore(exp_path):
        print(f"[raysearch.tune] resuming {redact(exp_path)}", flush=True)
        if callbacks:  # Ray Tune restores the run's callbacks (pickled with it); new ones cannot be added
            print("[raysearch.tune] --callback on --resume: the run keeps the tracking callbacks of its first "
                  "invocation (Ray Tune restores them with the run)", flush=True)
        tuner = tune.Tuner.restore(exp_path, trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
    else:
        search = strict_optuna_search(
            metric=objectives, mode=modes, sampler=space.make_sampler(), storage=storage, study_name=paths.name,
        )
        from ray.tune.search import ConcurrencyLimiter  # --- Ray ---

        tuner = tune.Tuner(
            trainable, param_space=space.to_tune_param_space(),
            tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(search, max_concurrent=space.max_concurrent),
                                        scheduler=make_scheduler(space.scheduler, objectives, modes),
                                        num_samples=space.num_samples),
            run_config=tune.RunConfig(name=paths.name, storage_path=paths.ray_storage, verbose=0,
                                      callbacks=[_progress_callback(space.num_samples, objectives, storage, paths.name, modes=modes,
                                                                    reference_point=list(space.reference_point),
                                                                    max_concurrent=space.max_concurrent),
                                                 retention.make_callback(storage=paths.ray_storage, run=paths.name,
                                                                         objectives=objectives, modes=modes,
                                                                         keep=keep_checkpoints),
                                                 *make_callbacks(callbacks, paths.root, paths.name)],
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
    tuner.fit()
    if (n := close_orphans(paths.optuna_storage, paths.name)) > 0:
        print(f"[raysearch.tune] {n} trial(s) asked just before the driver died were marked FAIL (interrupted)")
    front = read_front(paths.optuna_storage, paths.name)
    copy_pareto_checkpoints(front, paths)
    if keep_checkpoints == "pareto":  # the Pareto models now live in pareto/; nothing else is needed
        retention.drop_stored(paths.ray_storage, paths.name, _tune_trial_ids(paths))
    # pairwise methods: seed reruns and the test read, paired; the others return None
    confirmation = method.confirm_trials(front, space, data, base, paths, trial_base=trial_base,
                                         trial_data=trial_data, reference=reference)
    if confirmation is not None:
        write_confirmation(confirmation, paths.root)
    write_outputs(front, paths, baselines=baselines, command=command, minutes=(time.perf_counter() - t0) / 60,
                  per_community_prefix=method.per_community_prefix, confirmation=confirmation)
    return front


def _copy_checkpoint(src: str, dst: Path) -> None:
    """Copy a Pareto trial's Ray Train checkpoint (local or remote storage) to ``dst`` atomically."""
    from ray.train import Checkpoint  # --- Ray ---

    with atomic_dir(dst) as tmp:
        Checkpoint(src).to_directory(str(tmp))


def copy_pareto_checkpoints(front: ParetoFront, paths: SearchPaths) -> None:
    """``pareto/<trial>/``: the checkpoint of every Pareto trial, copied from Ray's storage (once: a copy
    that is already there, complete because it was written atomically, is kept)."""
    for p in front.points:
        ckpt = p.extra.get("checkpoint_path")
        dst = paths.root / "pareto" / p.trial_id
        if ckpt and not dst.is_dir():
            _copy_checkpoint(str(ckpt), dst)


def _tune_trial_ids(paths: SearchPaths) -> list[str]:
    """The Tune trial ids of every trial of the study (finished, stopped, failed or lost)."""
    study = optuna.load_study(study_name=paths.name, storage=open_storage(paths.optuna_storage))
    return [str(t.user_attrs["tune_trial_id"]) for t in study.get_trials(deepcopy=False) if "tune_trial_id" in t.user_attrs]


def write_outputs(front: ParetoFront, paths: SearchPaths, *, baselines: dict[str, tuple[float, float]],
                  command: str, minutes: float, per_community_prefix: str = "val/acc/",
                  confirmation: Confirmation | None = None) -> None:
    """trials.csv, pareto.csv/json/png, report.md (with the confirmation's test sections when given).

    Every string written (the command, storage URLs, trial parameters and extras) is redacted first
    (``raysearch.redact``): a ``user:password@`` in a URL never reaches these files."""
    from dataclasses import replace

    from raysearch.redact import redact_obj

    def clean(points: list) -> list:
        return [replace(p, params=redact_obj(p.params), extra=redact_obj(p.extra)) for p in points]

    root = paths.root
    front = replace(front, points=clean(front.points), dominated=clean(front.dominated))
    front.to_csv(root / "trials.csv", which="all")
    front.to_csv(root / "pareto.csv")
    front.to_json(root / "pareto.json")
    plot_front(front, root / "pareto.png", baselines=baselines, title=f"{paths.name}: Pareto front",
               seed_sd=confirmation.seed_sd() if confirmation is not None else None)
    per_comm, test = {}, {}
    for p in front.points:
        per_comm[p.trial_id] = {k[len(per_community_prefix):]: v for k, v in p.extra.items()
                                if k.startswith(per_community_prefix)}
        test[p.trial_id] = {k: v for k, v in p.extra.items() if k.startswith("test/") and k.count("/") == 1}
    notes = [f"Wall time of this invocation: {minutes:.1f} min.",
             f"Optuna storage: {redact(paths.optuna_storage)} (study {paths.name!r}); "
             f"Ray results: {redact(paths.ray_storage)}.",
             "Pareto checkpoints: `RewardModel.load('pareto/<trial>/model')` (raysearch.models)."]
    report = markdown_report(front, title=f"raysearch search {paths.name!r}", command=redact(command), baselines=baselines,
                             per_community=per_comm, test_scores=test, notes=notes,
                             sections=confirmation_markdown(confirmation) if confirmation is not None else (),
                             rungs=read_rungs(paths.optuna_storage, paths.name))
    (root / "report.md").write_text(report)
    from raysearch.tune.plots import write_plots  # hypervolume.png, communities.png, Optuna's HTML plots

    write_plots(front, root, storage=paths.optuna_storage, study_name=paths.name,
                confirm=confirmation.to_dict() if confirmation is not None else None)
    if "://" in paths.ray_storage:  # nothing should live only on the head node of a cluster
        from raysearch.train.ray_train import upload

        for f in ("trials.csv", "pareto.csv", "pareto.json", "pareto.png", "report.md", "baselines.json", "confirm.json",
                  "hypervolume.png", "communities.png", "pareto.html", "hypervolume.html"):
            if not (root / f).exists():
                continue
            upload(root / f, f"{paths.ray_storage.rstrip('/')}/{paths.name}/summary/{f}")
        if (root / "pareto").exists():
            upload(root / "pareto", f"{paths.ray_storage.rstrip('/')}/{paths.name}/summary/pareto")


def load_pareto_model(run_dir: str | Path, trial_id: str) -> Any:
    """The model of one Pareto trial of a finished run, ready to score (one call).

    A reward model (``RewardModel``) for bt, scpo and dprm; the NP-BTL model for npbtl.
    """
    ckpt = Path(run_dir) / "pareto" / trial_id
    if not ckpt.exists():
        available = sorted(p.name for p in (Path(run_dir) / "pareto").glob("*")) if (Path(run_dir) / "pareto").exists() else []
        raise UserInputError(f"no Pareto checkpoint for trial {trial_id!r} in {run_dir}; available: {', '.join(available) or 'none'}")
    objective = read_meta(ckpt).get("config", {}).get("objective", "bt")
    return get(objective).load_model(ckpt)
