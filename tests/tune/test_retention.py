"""Checkpoint retention of a search: running and Pareto trials keep their checkpoints, nothing else does."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from raysearch.tune import retention

OBJ, MODES = ["val/mean_acc", "val/worst3_acc"], ["max", "max"]


def _res(a: float, b: float, *, fid: float = 10, full: float = 10) -> dict:
    return {OBJ[0]: a, OBJ[1]: b, "fidelity": fid, "fidelity_max": full}


def test_keep_set_is_the_front_of_full_fidelity_finite_trials():
    finished = {
        "a": _res(0.7, 0.5), "b": _res(0.6, 0.6), "c": _res(0.5, 0.4),  # c dominated by both
        "d": _res(0.9, 0.9, fid=4),  # stopped early: never kept, however good its partial values
        "e": _res(math.nan, 0.9), "f": {OBJ[0]: 0.8},  # non-finite, missing objective
        "g": _res(0.7, 0.5),  # equal to a: both on the front
    }
    assert retention.keep_set(finished, OBJ, MODES) == {"a", "b", "g"}
    assert retention.keep_set(finished, OBJ, ["min", "min"]) == {"c"}
    assert retention.keep_set({}, OBJ, MODES) == set()


@dataclass
class _Trial:
    trial_id: str
    status: str = "RUNNING"
    last_result: dict = field(default_factory=dict)


def _stored(storage: Path, run: str, tid: str, *, ray_train: bool = False) -> Path:
    folder = storage / (f"train-{tid}" if ray_train else f"{run}/checkpoints/{tid}")
    (folder / "epoch-1").mkdir(parents=True)
    (folder / "epoch-1" / "model.safetensors").write_bytes(b"x" * 10)
    return folder


def test_the_callback_deletes_dominated_stopped_and_failed_trials_and_keeps_running_and_pareto(tmp_path):
    cb = retention.make_callback(storage=str(tmp_path), run="r", objectives=OBJ, modes=MODES, keep="pareto")
    t = {k: _Trial(k) for k in ("a", "b", "c", "d", "e")}
    folders = {k: _stored(tmp_path, "r", k, ray_train=(k == "b")) for k in t}

    t["a"].last_result = _res(0.6, 0.5)
    cb.on_trial_complete(0, list(t.values()), t["a"])
    t["a"].status = "TERMINATED"
    assert all(f.exists() for f in folders.values())  # a is the front; the others run

    t["b"].last_result = _res(0.7, 0.6)  # dominates a: a's checkpoint goes, b's (a Ray Train run) stays
    cb.on_trial_complete(0, list(t.values()), t["b"])
    t["b"].status = "TERMINATED"
    assert not folders["a"].exists() and folders["b"].exists()

    t["c"].last_result = _res(0.9, 0.9, fid=3, full=10)  # stopped by the scheduler
    cb.on_trial_complete(0, list(t.values()), t["c"])
    t["c"].status = "TERMINATED"
    cb.on_trial_error(0, list(t.values()), t["d"])  # failed
    t["d"].status = "ERROR"
    assert not folders["c"].exists() and not folders["d"].exists()
    assert folders["b"].exists() and folders["e"].exists()  # the Pareto trial and the running one


def test_keep_all_deletes_nothing(tmp_path):
    cb = retention.make_callback(storage=str(tmp_path), run="r", objectives=OBJ, modes=MODES, keep="all")
    a, b = _Trial("a", last_result=_res(0.1, 0.1)), _Trial("b", "TERMINATED", _res(0.9, 0.9))
    fa = _stored(tmp_path, "r", "a")
    cb.on_trial_complete(0, [a, b], a)
    assert fa.exists()


def test_drop_stored_removes_only_the_named_trials(tmp_path):
    keep = _stored(tmp_path, "r", "other")
    gone = [_stored(tmp_path, "r", "x"), _stored(tmp_path, "r", "y", ray_train=True)]
    retention.drop_stored(str(tmp_path), "r", ["x", "y", "never-stored"])
    assert keep.exists() and not any(f.exists() for f in gone)
