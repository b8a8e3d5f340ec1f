"""Experiment tracking: ``--callback tensorboard|mlflow|wandb`` of ``python -m raysearch.tune`` and ``train``.

A search uses Ray Tune's own logger callbacks (``make_callbacks``), each writing under the run folder
by default, so the offline modes work without a server:

- ``tensorboard``: ``ray.tune.logger.TBXLoggerCallback`` (tensorboardX), one folder per trial in
  ``RUN/tensorboard/<trial>/`` instead of Ray's trial folders (those are deleted by checkpoint retention
  and may live in s3://); ``tensorboard --logdir RUN/tensorboard``. Tags are Ray's: ``ray/tune/<metric>``.
- ``mlflow``: ``ray.air.integrations.mlflow.MLflowLoggerCallback``; tracking URI ``$MLFLOW_TRACKING_URI``
  if set (read by MLflow itself, never held by the pickled callback), else ``file:RUN/mlruns``
  (``mlflow ui --backend-store-uri RUN/mlruns``); one MLflow run per trial, experiment = the run name.
- ``wandb``: ``ray.air.integrations.wandb.WandbLoggerCallback``; project ``$WANDB_PROJECT`` or the run
  name, files in ``RUN/wandb/``, offline unless ``$WANDB_MODE`` is set (``wandb sync RUN/wandb/offline-*``).

A single training run (``python -m raysearch.train``) has no Tune loop to hang callbacks on (a one-worker
run is a plain Ray task); ``log_history`` writes its per-epoch reports, collected by the run, from the
driver once it has finished, to the same three back ends (``TrackingTarget``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raysearch._extras import require
from raysearch.errors import UserInputError

#: callback name -> the module it needs (all three come with the ``tracking`` extra)
MODULES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}
NAMES = tuple(MODULES)
EXTRA = "tracking"
CALLBACK_HELP = ("experiment tracking, repeatable: tensorboard (RUN/tensorboard/), mlflow (file:RUN/mlruns unless "
                 "MLFLOW_TRACKING_URI is set), wandb (offline in RUN/wandb/ unless WANDB_MODE is set)")


def add_callback_flag(parser: Any) -> None:
    """``--callback NAME [NAME ...]``, repeatable; names are checked by :func:`check_names` (one line, exit 2)."""
    parser.add_argument("--callback", action="extend", nargs="+", default=[], metavar="NAME", help=CALLBACK_HELP)


def check_names(names: Iterable[str] | None) -> list[str]:
    """The callback names in order, without repeats (``a,b`` also splits); an unknown one is a ``UserInputError``,
    a missing package the one-line ``MissingExtraError`` naming ``raysearch-align[tracking]``."""
    out: list[str] = []
    for raw in names or []:
        for name in (n.strip().lower() for n in str(raw).split(",")):
            if not name:
                continue
            if name not in MODULES:
                raise UserInputError(f"--callback {name!r}: unknown; choose from {', '.join(NAMES)}")
            if name not in out:
                out.append(name)
    for name in out:
        require(MODULES[name], EXTRA, f"--callback {name}")
    return out


def mlflow_uri(run_dir: Path) -> str | None:
    """``file:RUN/mlruns``, or None when ``MLFLOW_TRACKING_URI`` is set: MLflow then reads it itself, so a
    URI carrying a password never sits in a callback that Ray Tune pickles into ``tuner.pkl``."""
    return None if os.environ.get("MLFLOW_TRACKING_URI") else (Path(run_dir).resolve() / "mlruns").as_uri()


def mlflow_where(run_dir: Path) -> str:
    """Where MLflow runs go, for a message (a password in ``MLFLOW_TRACKING_URI`` masked)."""
    from raysearch.redact import redact

    return redact(os.environ.get("MLFLOW_TRACKING_URI") or str(mlflow_uri(run_dir)))


def wandb_settings(run_dir: Path, experiment_name: str) -> dict[str, Any]:
    """``wandb.init`` keywords: offline unless WANDB_MODE is set, files under ``run_dir``."""
    (Path(run_dir) / "wandb").mkdir(parents=True, exist_ok=True)
    return {"project": os.environ.get("WANDB_PROJECT") or experiment_name,
            "mode": os.environ.get("WANDB_MODE") or "offline", "dir": str(Path(run_dir).resolve())}


def make_callbacks(names: Sequence[str] | None, run_dir: str | Path, experiment_name: str) -> list[Any]:
    """Ray Tune logger callbacks for ``names`` writing under ``run_dir`` (see the module's docstring)."""
    names = check_names(names)
    run_dir = Path(run_dir)
    callbacks: list[Any] = []
    for name in names:
        if name == "tensorboard":
            callbacks.append(_tensorboard_callback(run_dir / "tensorboard"))
        elif name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback  # --- Ray ---

            callbacks.append(MLflowLoggerCallback(tracking_uri=mlflow_uri(run_dir), experiment_name=experiment_name,
                                                  save_artifact=False))
        elif name == "wandb":
            from ray.air.integrations.wandb import WandbLoggerCallback  # --- Ray ---

            s = wandb_settings(run_dir, experiment_name)
            callbacks.append(WandbLoggerCallback(project=s.pop("project"), group=experiment_name, **s))
    return callbacks


def _tensorboard_callback(logdir: Path) -> Any:
    """Ray's ``TBXLoggerCallback`` with each trial's event file in ``logdir/<trial id>/``."""
    from ray.tune.logger import TBXLoggerCallback  # --- Ray ---

    class RunFolderTBXLoggerCallback(TBXLoggerCallback):
        def log_trial_start(self, trial: Any) -> None:
            if trial in self._trial_writer:
                self._trial_writer[trial].close()
            trial.init_local_path()  # what the parent does; Ray's other loggers need it
            path = logdir / str(trial.trial_id)
            path.mkdir(parents=True, exist_ok=True)
            self._trial_writer[trial] = self._summary_writer_cls(str(path), flush_secs=30)
            self._trial_result[trial] = {}

    return RunFolderTBXLoggerCallback()


# --- single runs: the per-epoch reports, written from the driver after the run ---------------------------


@dataclass
class TrackingTarget:
    """Where a single run's reports go: ``names`` (checked), under ``run_dir``, as ``experiment_name``."""

    names: list[str]
    run_dir: Path
    experiment_name: str


_ACTIVE: TrackingTarget | None = None


def activate(names: Sequence[str] | None, run_dir: str | Path, experiment_name: str) -> TrackingTarget | None:
    """Send every single run of this process (``fit_with_ray``) to ``names``; None/empty turns it off."""
    global _ACTIVE
    checked = check_names(names)
    _ACTIVE = TrackingTarget(checked, Path(run_dir), experiment_name) if checked else None
    return _ACTIVE


def active() -> TrackingTarget | None:
    return _ACTIVE


def _scalars(report: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in report.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(float(v)):
            out[k] = float(v)
    return out


def _step(report: dict[str, Any], i: int) -> int:
    for key in ("train/global_step", "global_step", "epoch"):
        if isinstance(report.get(key), (int, float)):
            return int(report[key])
    return i + 1


def log_history(name: str, history: Sequence[dict[str, Any]], *, config: dict[str, Any] | None = None,
                target: TrackingTarget | None = None) -> list[str]:
    """Write a finished single run's reports (one dict per report, in order) to the active target's back
    ends, as run ``name``; returns where each went (one string per back end), nothing when none is active."""
    target = target or _ACTIVE
    if target is None or not history:
        return []
    where = []
    rows = [(_step(r, i), _scalars(r)) for i, r in enumerate(history)]
    if "tensorboard" in target.names:
        from tensorboardX import SummaryWriter

        logdir = target.run_dir / "tensorboard" / name
        writer = SummaryWriter(str(logdir))
        try:
            for step, vals in rows:
                for k, v in vals.items():
                    writer.add_scalar(k, v, global_step=step)
        finally:
            writer.close()
        where.append(f"TensorBoard: {logdir}")
    if "mlflow" in target.names:
        mlflow: Any = require("mlflow", EXTRA, "--callback mlflow")
        if (uri := mlflow_uri(target.run_dir)) is not None:
            mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(target.experiment_name)
        with mlflow.start_run(run_name=name):
            if config:
                mlflow.log_params({k: str(v)[:250] for k, v in config.items()})
            for step, vals in rows:
                mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in vals.items()}, step=step)
        where.append(f"MLflow: {mlflow_where(target.run_dir)}")
    if "wandb" in target.names:
        wandb: Any = require("wandb", EXTRA, "--callback wandb")
        s = wandb_settings(target.run_dir, target.experiment_name)
        run = wandb.init(name=name, group=target.experiment_name, config=config or {}, reinit=True, **s)
        try:
            for step, vals in rows:
                run.log(vals, step=step)
        finally:
            run.finish()
        where.append(f"W&B ({s['mode']}): {target.run_dir / 'wandb'}")
    return where


# --- reading TensorBoard event files back (tests, and a user without tensorboard installed) ----------------


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the ``events.out.tfevents.*`` files under ``logdir``: tag -> [(step, value), ...].

    Reads the TFRecord framing itself and decodes each record with tensorboardX's ``Event`` protobuf
    (no tensorflow or tensorboard needed); each record's length and data CRCs are checked."""
    import struct

    from tensorboardX.crc32c import crc32c
    from tensorboardX.proto.event_pb2 import Event

    def masked(data: bytes) -> int:
        crc = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        buf = f.read_bytes()
        pos = 0
        while pos + 12 <= len(buf):
            header = buf[pos:pos + 8]
            (length,) = struct.unpack("<Q", header)
            (len_crc,) = struct.unpack("<I", buf[pos + 8:pos + 12])
            if masked(header) != len_crc:
                raise ValueError(f"{f}: corrupt record length at byte {pos}")
            data = buf[pos + 12:pos + 12 + length]
            (data_crc,) = struct.unpack("<I", buf[pos + 12 + length:pos + 16 + length])
            if masked(data) != data_crc:
                raise ValueError(f"{f}: corrupt record at byte {pos}")
            pos += 16 + length
            event = Event.FromString(data)
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    out.setdefault(v.tag, []).append((int(event.step), float(v.simple_value)))
    return out
