"""Thin Ray Train shell around the runner (``raysearch.train.runner``): TorchTrainer, DDP workers,
report, checkpoint, retries; the same for every method of ``raysearch.methods.registry``.

All Ray Train API calls of the project live here (Ray 2.60, Train V2); ``build_trainer`` makes
the ``TorchTrainer`` of both a single run (``fit_with_ray``) and a search trial (``raysearch.tune.trial``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raysearch.io import atomic_dir, atomic_write_text
from raysearch.train.checkpoint import read_meta
from raysearch.train.runner import LoopResult, run

COMPLETE = "COMPLETE"  # written into a stored checkpoint folder after its last file
BEST_DIR = "best"  # a single run's best validation epoch, when not its last: <out>/best/ (a whole checkpoint)


@dataclass
class RayTrainResult:
    """The final metrics of a Ray Train run and the path of its last checkpoint (a local copy)."""

    flat: dict[str, float]
    metrics: dict[str, Any]
    checkpoint: str
    #: the epoch a retried one-worker run resumed from (0: it was not retried)
    resumed_at_epoch: int = 0
    #: every report of the run, in order (per epoch, and per ``eval_every`` steps): what tracking logs
    history: list[dict[str, Any]] = field(default_factory=list)


def local_copy(path: str | None) -> str | None:
    """A local folder for ``path``: itself, or a download of an ``s3://``/``gs://`` folder (pyarrow)."""
    if path is None or "://" not in path:
        return path
    import pyarrow.fs

    dst = tempfile.mkdtemp(prefix="raysearch-model-")
    pyarrow.fs.copy_files(path, dst)
    return dst


def upload(local: str | Path, uri: str) -> str:
    """Copy a local folder to ``uri`` (a path or ``s3://``/``gs://``) so every node can read it."""
    import pyarrow.fs

    fs, dst = pyarrow.fs.FileSystem.from_uri(uri) if "://" in uri else (pyarrow.fs.LocalFileSystem(), uri)
    fs.create_dir(dst if Path(local).is_dir() else dst.rsplit("/", 1)[0], recursive=True)
    pyarrow.fs.copy_files(str(local), dst, destination_filesystem=fs)
    return uri


def localize(cfg: Any) -> Any:
    """``cfg`` with its starting and reference models on local disk (G may sit in cloud storage on a
    multi-node cluster); the one download serves both when they are the same model."""
    if hasattr(cfg, "init_from"):
        same = getattr(cfg, "reference", None) == cfg.init_from
        cfg.init_from = local_copy(cfg.init_from)
        if hasattr(cfg, "reference"):
            cfg.reference = cfg.init_from if same else local_copy(cfg.reference)
    return cfg


def _quiet_report_log() -> None:
    """Ray Train V2 logs every report (all metrics) at INFO to the driver; keep the console readable."""
    try:
        from ray.train.v2._internal.execution import context  # --- Ray (internal, 2.60) ---
    except ImportError:
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def _worker_nodes() -> str:
    """The Ray node ids of all workers of this run, comma-joined (where the run actually ran)."""
    import ray  # --- Ray ---
    import torch.distributed as dist

    mine = ray.get_runtime_context().get_node_id()
    if not (dist.is_available() and dist.is_initialized()):
        return mine
    ids: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(ids, mine)
    return ",".join(sorted(set(ids)))


def _train_fn(loop_config: dict[str, Any]) -> dict[str, Any]:  # runs on every Ray Train worker
    import ray.train  # --- Ray ---
    import ray.train.torch  # --- Ray ---
    import torch

    torch.set_num_threads(max(1, int(loop_config["threads"])))
    _quiet_report_log()
    method = loop_config["method"]
    cfg: Any = localize(method.config_cls.from_dict(loop_config["config"]))
    resume = ray.train.get_checkpoint()  # --- Ray: set when Ray restarts workers after a failure ---
    workdir = tempfile.mkdtemp(prefix="raysearch-ckpt-")
    nodes = _worker_nodes()
    history: list[dict[str, Any]] = []

    def report(metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        ckpt = ray.train.Checkpoint.from_directory(ckpt_dir) if ckpt_dir else None  # --- Ray ---
        history.append(dict(metrics))
        ray.train.report({**metrics, "ray/nodes": nodes}, checkpoint=ckpt)  # --- Ray ---

    local = None
    if resume is not None:
        with resume.as_directory() as d:
            local = str(Path(workdir) / "resume")
            shutil.copytree(d, local)
    res: LoopResult = run(method, cfg, loop_config["data"], device=ray.train.torch.get_device(), reporter=report,
                          resume_from=local, workdir=workdir)
    return {"flat": res.flat, "metrics": {s: m.to_dict() for s, m in res.metrics.items()}, "history": history}


def build_trainer(
    method: Any, cfg: Any, data: Any, *, name: str, storage_path: str, num_workers: int, cpus_per_worker: float = 1,
    gpus_per_worker: float = 0, max_failures: int = 1, callbacks: list[Any] | None = None, keep_checkpoints: int | None = None,
) -> Any:
    """The ``TorchTrainer`` that runs ``method`` with ``cfg`` on ``data`` over ``num_workers`` DDP workers.

    ``storage_path`` is where Ray keeps the run (a local path, NFS, ``s3://`` or ``gs://``)."""
    from ray.train import (  # --- Ray ---
        CheckpointConfig,
        FailureConfig,
        LoggingConfig,
        RunConfig,
        ScalingConfig,
    )
    from ray.train.torch import TorchTrainer  # --- Ray ---

    return TorchTrainer(
        _train_fn,  # type: ignore[arg-type]  # Ray 2.60 accepts a return value (Result.return_value)
        train_loop_config={"method": method, "config": cfg.to_dict(), "data": data, "threads": cpus_per_worker},
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=gpus_per_worker > 0,
            resources_per_worker={"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if gpus_per_worker > 0 else {})},
        ),
        run_config=RunConfig(  # type: ignore[call-arg]  # V2 RunConfig; the stubs mypy sees are V1
            name=name, storage_path=storage_path, callbacks=callbacks or [],
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=keep_checkpoints),
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )


def fit_with_ray(
    cfg: Any, data: Any, *, name: str, storage_path: str, num_workers: int = 2,
    use_gpu: bool = False, cpus_per_worker: float = 1, max_failures: int = 1, out_dir: str | Path,
    method: Any = None,
) -> RayTrainResult:
    """Run ``cfg``'s method (``method``, else the registry's ``cfg.objective``) on ``num_workers`` DDP
    workers; copy the final checkpoint to ``out_dir``.

    ``storage_path`` is where Ray keeps the run (a local path, NFS, ``s3://`` or ``gs://``).
    """
    if method is None:
        from raysearch.methods.registry import get

        method = get(cfg.objective)
    if num_workers == 1:
        return _fit_in_task(method, cfg, data, name=name, storage_path=storage_path, cpus=cpus_per_worker,
                            use_gpu=use_gpu, max_failures=max_failures, out_dir=out_dir)
    trainer = build_trainer(method, cfg, data, name=name, storage_path=storage_path, num_workers=num_workers,
                            cpus_per_worker=cpus_per_worker, gpus_per_worker=1 if use_gpu else 0,
                            max_failures=max_failures, keep_checkpoints=1)
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    assert result.checkpoint is not None, "the runner reports a checkpoint every epoch"
    with atomic_dir(out_dir) as tmp:
        result.checkpoint.to_directory(str(tmp))
    result.checkpoint.filesystem.delete_dir(result.checkpoint.path)  # out_dir holds it now
    ret = getattr(result, "return_value", None) or {}
    out = RayTrainResult(flat=dict(result.metrics or {}), metrics=ret.get("metrics", {}), checkpoint=str(out_dir),
                         history=list(ret.get("history") or []))
    _track(name, cfg, out)
    return out


def _track(name: str, cfg: Any, result: RayTrainResult) -> None:
    """Send a finished run's reports to the back ends of ``--callback`` (``raysearch.tracking``), if any."""
    from raysearch.tracking import active, log_history

    if active() is None:
        return
    for where in log_history(name, result.history, config=cfg.to_dict()):
        print(f"[raysearch.train] {name}: reports logged to {where}", flush=True)


class CheckpointStore:
    """A run's checkpoints under ``root`` (a local path, or ``s3://``/``gs://`` through pyarrow): the
    ``keep`` latest complete ones are kept (2: a resume falls back to the one before a corrupt latest),
    and, given ``monitor`` (a flat metric in each checkpoint's ``meta.json`` and ``max``/``min``), also
    the best one by it."""

    def __init__(self, root: str, *, keep: int = 2, monitor: tuple[str, str] | None = None) -> None:
        import pyarrow.fs

        self.root, self.keep, self.monitor = root, max(1, keep), monitor
        self.fs: Any
        self.path: str
        self.fs, self.path = (pyarrow.fs.FileSystem.from_uri(root) if "://" in root
                              else (pyarrow.fs.LocalFileSystem(), str(Path(root).resolve())))

    def fs_path(self, path_or_uri: str) -> str:
        """A path returned by :meth:`save`, as a path of ``self.fs``."""
        return path_or_uri.split("://", 1)[1] if "://" in path_or_uri else path_or_uri

    def _complete(self) -> list[str]:
        """Complete checkpoint folders, oldest first."""
        import pyarrow.fs

        found = self.fs.get_file_info(pyarrow.fs.FileSelector(self.path, allow_not_found=True))
        done = [f.path for f in found if f.type == pyarrow.fs.FileType.Directory
                and self.fs.get_file_info(f"{f.path}/{COMPLETE}").type == pyarrow.fs.FileType.File]
        return sorted(done, key=lambda p: int(p.rsplit("-", 1)[-1]) if p.rsplit("-", 1)[-1].isdigit() else -1)

    def save(self, local: str) -> str:
        """Copy the checkpoint folder ``local`` (named ``epoch-N``) here, mark it complete, delete older ones;
        returns its path or URI."""
        import pyarrow.fs

        dst = f"{self.path}/{Path(local).name}"
        if self.fs.get_file_info(dst).type == pyarrow.fs.FileType.Directory:
            self.fs.delete_dir(dst)  # a corrupt copy of the same epoch that a resume skipped: never half-overwritten
        self.fs.create_dir(dst, recursive=True)
        pyarrow.fs.copy_files(local, dst, destination_filesystem=self.fs)
        with self.fs.open_output_stream(f"{dst}/{COMPLETE}") as f:
            f.write(b"")
        self.prune(self.keep)
        return dst if "://" not in self.root else f"{self.root.split('://', 1)[0]}://{dst}"

    def clear(self) -> bool:
        """Delete the whole store (once its checkpoint has been copied where it is used); whether it existed."""
        import pyarrow.fs

        if self.fs.get_file_info(self.path).type != pyarrow.fs.FileType.Directory:
            return False
        self.fs.delete_dir(self.path)
        return True

    def prune(self, keep: int = 1) -> None:
        """Delete all but the ``keep`` latest complete checkpoints (a finished run needs only its last) and the best."""
        done = self._complete()
        best = self.best()
        for old in done[:-keep]:
            if old != best:
                self.fs.delete_dir(old)

    def _score(self, stored: str) -> float | None:
        import json
        import math

        if self.monitor is None:
            return None
        try:
            with self.fs.open_input_stream(f"{stored}/meta.json") as f:
                v = json.loads(f.read()).get("flat", {}).get(self.monitor[0])
        except (OSError, ValueError):
            return None
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    def best(self) -> str | None:
        """The complete checkpoint with the best ``monitor`` value (the latest of equals), or None without one."""
        if self.monitor is None:
            return None
        sign = 1.0 if self.monitor[1] == "max" else -1.0
        scored = [(sign * v, i, c) for i, c in enumerate(self._complete()) if (v := self._score(c)) is not None]
        return max(scored)[2] if scored else None

    def latest(self, *, into: Path) -> str | None:
        """A local copy (``into/epoch-N``, the stored name, so saving it again replaces it) of the latest
        complete checkpoint that reads back whole, or None when there is none. A truncated or corrupt one
        is reported in one line, naming the file, and the one before it is tried."""
        import pyarrow.fs

        from raysearch.errors import UserInputError
        from raysearch.train.checkpoint import verify_checkpoint

        for stored in reversed(self._complete()):
            local = into / stored.rsplit("/", 1)[-1]
            pyarrow.fs.copy_files(stored, str(local), source_filesystem=self.fs)
            try:
                verify_checkpoint(local)
            except UserInputError as exc:
                print(f"[raysearch.train] cannot resume from {stored}: {exc}; trying the checkpoint before it",
                      flush=True)
                shutil.rmtree(local, ignore_errors=True)
                continue
            return str(local)
        return None


def run_stored(method: Any, cfg: Any, data: Any, *, threads: float, store_root: str, device: Any = None,
               report: Any = None, monitor: tuple[str, str] | None = None) -> tuple[LoopResult, str, int]:
    """The runner in this process with each epoch's checkpoint kept in a :class:`CheckpointStore` at
    ``store_root``, resuming from the latest complete one there (a retried task, a restarted trial).
    ``report(metrics, stored_path_or_None)`` sees every report. Returns the result, the last stored
    checkpoint and the epoch it resumed at (0: from the start)."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    store = CheckpointStore(store_root, monitor=monitor)
    workdir = tempfile.mkdtemp(prefix="raysearch-ckpt-")
    last: dict[str, str] = {}

    def stored(metrics: dict[str, Any], ckpt_dir: str | None) -> None:
        if ckpt_dir:
            last["path"] = store.save(ckpt_dir)
        if report is not None:
            report(metrics, last["path"] if ckpt_dir else None)

    try:
        resume = store.latest(into=Path(workdir) / "resume")
        at = read_meta(resume)["epoch"] if resume else 0
        res = run(method, localize(cfg), data, device=device, reporter=stored, resume_from=resume, workdir=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    store.prune(keep=1)  # finished: the last checkpoint is the run's (and the best one, given a monitor)
    return res, last["path"], at


def _run_task(method: Any, config: dict[str, Any], data: Any, threads: float, store_root: str) -> dict[str, Any]:
    """The body of a one-worker run (a Ray task): :func:`run_stored`."""
    import ray  # --- Ray ---

    history: list[dict[str, Any]] = []
    res, path, at = run_stored(method, method.config_cls.from_dict(config), data, threads=threads, store_root=store_root,
                               report=lambda metrics, _ckpt: history.append(dict(metrics)),
                               monitor=getattr(method, "monitor", None))
    flat = {**res.flat, "ray/nodes": ray.get_runtime_context().get_node_id()}
    return {"flat": flat, "metrics": {s: m.to_dict() for s, m in res.metrics.items()}, "checkpoint": path,
            "resumed_at_epoch": at, "history": history}


def _fit_in_task(method: Any, cfg: Any, data: Any, *, name: str, storage_path: str, cpus: float, use_gpu: bool,
                 max_failures: int, out_dir: str | Path) -> RayTrainResult:
    """A one-worker run as one Ray task holding the worker's CPUs (and GPU): the same loop and checkpoints
    as a Ray Train run of one worker without its worker-group start-up and teardown (seconds that matter
    for the small runs of a search). A task killed with its process is retried ``max_failures`` times
    and resumes from its last checkpoint in ``storage_path``."""
    import pyarrow.fs
    import ray  # --- Ray ---

    store_root = f"{storage_path.rstrip('/')}/{name}/checkpoints"
    task: Any = ray.remote(_run_task).options(num_cpus=cpus, num_gpus=1 if use_gpu else 0, max_retries=max_failures)
    ret = ray.get(task.remote(method, cfg.to_dict(), data, cpus, store_root))
    store = CheckpointStore(store_root, monitor=getattr(method, "monitor", None))
    best = store.best()
    with atomic_dir(out_dir) as tmp:
        pyarrow.fs.copy_files(store.fs_path(ret["checkpoint"]), str(tmp), source_filesystem=store.fs)
        if best is not None and best != store.fs_path(ret["checkpoint"]):
            # an earlier epoch was better on validation: kept beside the last as out_dir/best (a whole checkpoint)
            pyarrow.fs.copy_files(best, str(tmp / BEST_DIR), source_filesystem=store.fs)
    store.clear()  # the run's model is out_dir now; a second copy in the Ray storage is only disk
    result = RayTrainResult(flat=ret["flat"], metrics=ret["metrics"], checkpoint=str(out_dir),
                            resumed_at_epoch=ret["resumed_at_epoch"], history=list(ret.get("history") or []))
    _track(name, cfg, result)
    return result


FINGERPRINT = "FINGERPRINT"


def fit_or_reuse(
    cfg: Any, data: Any, *, out: str | Path, name: str, fingerprint: str, workers: int, gpu: bool, method: Any = None,
    cpus_per_worker: float = 1,
) -> bool:
    """``fit_with_ray`` into ``out``, unless ``out`` already holds a finished run of the same ``fingerprint``
    (of config and data; written only once training has finished). Returns whether it was reused."""
    out = Path(out)
    if (out / FINGERPRINT).is_file() and (out / FINGERPRINT).read_text() == fingerprint:
        print(f"[raysearch.train] reusing {out} (same config and data)", flush=True)
        return True
    fit_with_ray(cfg, data, name=name, storage_path=str((out.parent / "ray").resolve()), num_workers=workers,
                 use_gpu=gpu, out_dir=out, method=method, cpus_per_worker=cpus_per_worker)
    atomic_write_text(out / FINGERPRINT, fingerprint)
    return False
