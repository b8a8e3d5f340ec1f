"""Checkpoint retention of a search: keep what a user or a resume can still need, delete the rest.

A trial's checkpoints live in the Ray storage: ``<storage>/<run>/checkpoints/<trial>/`` for a
trial of one worker (``raysearch.train.ray_train.CheckpointStore``), ``<storage>/train-<trial>/``
for a Ray Train trial. Under ``keep="pareto"`` (the default) a search keeps

- the checkpoints of **running** trials (a restarted trial resumes from them), and
- those of the trials on the **current Pareto front** of the finished ones (the front of the
  trials that reached full fidelity, in the search's objectives and modes),

and deletes a trial's folder as soon as it finishes dominated, is stopped early, fails, or falls
off the front because a later trial dominates it. After the search the Pareto trials' checkpoints
are copied to ``<run>/pareto/<trial>/`` and the stored copies deleted (``drop_stored``), so a
finished search holds each Pareto model once. ``keep="all"`` deletes nothing (every trial's last
checkpoint stays, as before retention existed).

Deletion works on local paths and on ``s3://``/``gs://`` URIs (through pyarrow, like the store).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from raysearch.pareto.front import non_dominated
from raysearch.train.runner import FIDELITY, FIDELITY_MAX

KEEP = ("pareto", "all")


def trial_folders(storage: str, run: str, trial_id: str) -> list[str]:
    """Where a trial's checkpoints can be: its store folder (one worker) and its Ray Train run (several)."""
    root = storage.rstrip("/")
    return [f"{root}/{run}/checkpoints/{trial_id}", f"{root}/train-{trial_id}"]


def delete_folder(path_or_uri: str) -> bool:
    """Delete a folder (local or remote) if it exists; returns whether something was deleted."""
    from raysearch.train.ray_train import CheckpointStore

    return CheckpointStore(path_or_uri).clear()


def keep_set(finished: dict[str, dict[str, Any]], objectives: Sequence[str], modes: Sequence[str]) -> set[str]:
    """The finished trials whose checkpoints are kept: those on the front of the trials that reached
    full fidelity with finite objectives (``finished``: trial id -> its last result)."""
    ids, rows = [], []
    for tid, r in finished.items():
        vals = [r.get(m) for m in objectives]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            continue
        fid, full = r.get(FIDELITY), r.get(FIDELITY_MAX)
        if isinstance(fid, (int, float)) and isinstance(full, (int, float)) and fid < full:
            continue  # stopped early: never on the front
        ids.append(tid)
        rows.append([float(v) for v in vals])  # type: ignore[arg-type]
    if not rows:
        return set()
    mask = non_dominated(np.array(rows, dtype=float), modes)
    return {tid for tid, m in zip(ids, mask, strict=True) if m}


def make_callback(*, storage: str, run: str, objectives: Sequence[str], modes: Sequence[str], keep: str) -> Any:
    """A Ray Tune callback applying the retention rule after every finished or failed trial."""
    from ray import tune  # --- Ray ---

    if keep not in KEEP:
        raise ValueError(f"keep={keep!r}; valid: {', '.join(KEEP)}")

    class _Retention(tune.Callback):
        def __init__(self) -> None:
            self.deleted: set[str] = set()

        def _apply(self, trials: list) -> None:
            if keep == "all":
                return
            finished = {t.trial_id: dict(t.last_result or {}) for t in trials if t.status == "TERMINATED"}
            failed = {t.trial_id for t in trials if t.status == "ERROR"}
            kept = keep_set(finished, objectives, modes)
            for tid in (set(finished) | failed) - kept - self.deleted:
                for folder in trial_folders(storage, run, tid):
                    delete_folder(folder)
                self.deleted.add(tid)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            # Tune marks the trial TERMINATED after the callbacks run: count it as finished here
            self._apply([*[t for t in trials if t is not trial], _Finished(trial, "TERMINATED")])

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._apply([*[t for t in trials if t is not trial], _Finished(trial, "ERROR")])

    return _Retention()


class _Finished:
    """A trial seen with the status it is about to get."""

    def __init__(self, trial: Any, status: str) -> None:
        self.trial_id, self.last_result, self.status = trial.trial_id, trial.last_result, status


def drop_stored(storage: str, run: str, trial_ids: Sequence[str]) -> None:
    """Delete the stored checkpoints of ``trial_ids`` (the Pareto trials, once copied to ``pareto/``)."""
    for tid in trial_ids:
        for folder in trial_folders(storage, run, tid):
            delete_folder(folder)
