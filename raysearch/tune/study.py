"""The Optuna side of a search: storage, a strict OptunaSearch, and the front read back from a study."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna

from raysearch.errors import UserInputError
from raysearch.pareto import ParetoFront, ParetoPoint, build_front
from raysearch.pareto.report import RungCount
from raysearch.redact import MASK, redact
from raysearch.train.runner import FIDELITY, FIDELITY_MAX

#: result keys copied onto each Optuna trial, so the study alone holds the whole front
_ATTR_PREFIXES = ("val/", "test/", "scpo/", "ray/", "checkpoint_path")


#: the real URL of every RDB storage this process opened, by its redacted form (what a pickle of it holds)
_OPENED: dict[str, str] = {}


class _RDBStorage(optuna.storages.RDBStorage):
    """An RDB storage whose pickle holds its URL redacted (``raysearch.redact``).

    Ray Tune pickles the searcher, and with it this storage, into the experiment folder (``tuner.pkl``,
    ``searcher-state-*.pkl``), which may be shared storage: the password stays out of it. Unpickled in a
    process that opened the same storage (a resumed driver, which calls ``open_storage`` first), it
    reconnects with the real URL."""

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["url"] = redact(state["url"])
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        url = _OPENED.get(state["url"], state["url"])
        if MASK in url and redact(url) == url:  # still masked: this process never opened the storage
            raise UserInputError(
                f"a saved Optuna storage {url!r} needs its password, which is not saved: open it in this process "
                f"first (run with the same --optuna-storage or RAYSEARCH_OPTUNA_STORAGE)"
            )
        super().__setstate__({**state, "url": url})


def open_storage(url_or_path: str) -> optuna.storages.BaseStorage:
    """A journal file (a path) or an RDB (``sqlite:///...``, ``postgresql://...``, ``mysql://...``).

    An RDB storage pickles with its password masked (``_RDBStorage``)."""
    if "://" in url_or_path:
        try:
            storage = _RDBStorage(url_or_path)
            _OPENED[redact(url_or_path)] = url_or_path
            return storage
        except Exception as exc:  # bad URL, missing driver, unreachable server
            raise UserInputError(redact(
                f"Optuna storage {url_or_path!r} cannot be opened ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160]}); give a journal file path or a reachable RDB URL"
            )) from None
    path = Path(url_or_path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def check_journal(url_or_path: str) -> str | None:
    """Before a (resumed) search writes to a journal file: every complete line must be a JSON record, else one
    ``UserInputError`` naming the file and the line. An incomplete last line (a write cut short by a kill or a
    full disk) is dropped, because Optuna cannot append after it; the original is kept beside it as
    ``<file>.before-repair``. Returns a note saying so, or None. Call it only while nothing writes the file."""
    import json
    import shutil

    if "://" in url_or_path or not Path(url_or_path).is_file():
        return None
    path = Path(url_or_path)
    data = path.read_bytes()
    complete, _, tail = data.rpartition(b"\n")
    for n, line in enumerate(complete.split(b"\n") if complete else [], start=1):
        try:
            json.loads(line)
        except ValueError as exc:
            raise UserInputError(
                f"{path}: line {n} is not an Optuna journal record ({type(exc).__name__}: {str(exc)[:80]}); the study "
                f"is corrupt: restore the file from a copy, or start a new run with --name NEW") from None
    if not tail:
        return None
    shutil.copyfile(path, path.with_name(path.name + ".before-repair"))
    with path.open("r+b") as fh:
        fh.truncate(len(complete) + 1 if complete else 0)
    return (f"{path}: dropped an incomplete last record ({len(tail)} bytes, a write cut short); a trial it "
            f"belonged to is marked failed (interrupted); the original is {path.name}.before-repair")


#: Optuna trial user attribute: the trial (Tune id) whose configuration this one repeated; it was never trained
DUPLICATE_OF = "duplicate_of"
#: how often a suggestion is asked again while it repeats a finished trial; then the repeat is trained (a space
#: with fewer configurations than trials)
MAX_DUPLICATE_ASKS = 8


def strict_optuna_search(**kwargs: Any) -> Any:
    """``OptunaSearch`` that tells Optuna FAIL for errored or non-finite trials (never a number), PRUNED for
    trials stopped before their full fidelity (an early-stopping scheduler; never their partial values as
    COMPLETE), and stores each trial's per-community and test metrics, checkpoint, fidelity reached and
    validation history (``intermediate``: ``[fidelity, objective values...]`` per report) as user attributes."""
    from ray.tune.search.optuna import OptunaSearch  # --- Ray ---

    class _StrictOptunaSearch(OptunaSearch):
        def suggest(self, trial_id: str) -> dict | None:
            for attempt in range(MAX_DUPLICATE_ASKS + 1):
                config = super().suggest(trial_id)
                ot_trial = self._ot_trials.get(trial_id)
                if ot_trial is None or attempt == MAX_DUPLICATE_ASKS or not self._skip_duplicate(ot_trial):
                    break
                del self._ot_trials[trial_id]  # asked again below: a new Optuna trial
            if trial_id in self._ot_trials:  # tie the Optuna trial to its Tune trial from the start
                self._ot_trials[trial_id].set_user_attr("tune_trial_id", trial_id)
            return config

        def _skip_duplicate(self, ot_trial: Any) -> bool:
            """An asked configuration identical to a finished trial's is not trained again: it is told its
            twin's outcome (so the sampler sees it as it would after training), marked ``duplicate_of``
            (no front, table or count shows it) and the caller asks again. NSGA-II's crossover and mutation
            can return a parent unchanged; without this, one trial in 16 retrained a twin."""
            assert self._ot_study is not None
            for twin in self._ot_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                                          optuna.trial.TrialState.PRUNED)):
                if twin.number == ot_trial.number or DUPLICATE_OF in twin.user_attrs or twin.params != ot_trial.params:
                    continue
                ot_trial.set_user_attr(DUPLICATE_OF, str(twin.user_attrs.get("tune_trial_id", twin.number)))
                if twin.state == optuna.trial.TrialState.COMPLETE:
                    self._ot_study.tell(ot_trial, values=twin.values)
                else:
                    self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
                return True
            return False

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self._intermediate: dict[str, list[list[float]]] = {}

        def _history(self, trial_id: str) -> list[list[float]]:
            return self._intermediate.setdefault(trial_id, [])

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            raw = [result.get(m) for m in [FIDELITY, *self.metric]]
            if not all(isinstance(v, (int, float)) for v in raw):
                return
            values, history = [float(v) for v in raw], self._history(trial_id)  # type: ignore[arg-type]
            if not history or history[-1][0] < values[0]:
                history.append(values)

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is None or trial_id in self._completed_trials:
                return super().on_trial_complete(trial_id, result, error)
            assert self._ot_study is not None
            if self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished():
                # told before the driver died, after Tune's last experiment snapshot: a resumed
                # run replays it from its final checkpoint; the study already has its values
                self._completed_trials.add(trial_id)
                return None
            ot_trial.set_user_attr("tune_trial_id", trial_id)
            values = [(result or {}).get(m) for m in self.metric]
            finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
            if error or not result or not finite:
                ot_trial.set_user_attr("failure", "error" if error else f"non-finite objectives {values}")
                self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
                self._completed_trials.add(trial_id)
                return None
            self.on_trial_result(trial_id, result)
            ot_trial.set_user_attr("intermediate", self._history(trial_id))
            fid, full = result.get(FIDELITY), result.get(FIDELITY_MAX)
            for k, v in ((FIDELITY, fid), (FIDELITY_MAX, full)):
                if isinstance(v, (int, float)):
                    ot_trial.set_user_attr(k, v)
            if isinstance(fid, (int, float)) and isinstance(full, (int, float)) and fid < full:
                # stopped early by the scheduler: its values are at a lower fidelity, never a finished trial's
                self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
                self._completed_trials.add(trial_id)
                return None
            for k, v in result.items():
                if k.startswith(_ATTR_PREFIXES) and isinstance(v, (int, float, str)):
                    ot_trial.set_user_attr(k, v)
            return super().on_trial_complete(trial_id, result, False)

    return _StrictOptunaSearch(**kwargs)


INTERRUPTED = "interrupted: asked just before the driver died, unknown to the resumed run"


def close_orphans(storage: str, study_name: str) -> int:
    """After a run, trials still RUNNING in the study were lost with a killed driver: mark them FAIL."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    n = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "failure", INTERRUPTED)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        n += 1
    return n


def read_front(
    storage: str, study_name: str, *, reference_point: tuple[float, float] | None = None
) -> ParetoFront:
    """The Pareto front of a (possibly still running) study, from its storage alone."""
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise UserInputError(f"no study {study_name!r} in Optuna storage {redact(storage)!r}") from None
    directions = study.directions
    if len(directions) != 2:
        raise UserInputError(f"study {study_name!r} has {len(directions)} objectives; a front needs 2")
    modes = tuple("max" if d == optuna.study.StudyDirection.MAXIMIZE else "min" for d in directions)
    attrs = study.user_attrs
    objectives = tuple(attrs.get("objectives", ["objective 0", "objective 1"]))
    ref = reference_point or tuple(attrs.get("reference_point", (0.0, 0.0)))
    points, failed, failures = [], [], {}
    for t in study.get_trials(deepcopy=False):
        if DUPLICATE_OF in t.user_attrs:  # never trained: its twin is the trial
            continue
        tid = str(t.user_attrs.get("tune_trial_id", f"optuna-{t.number}"))
        if t.state == optuna.trial.TrialState.COMPLETE and t.values is not None:
            points.append(ParetoPoint(trial_id=tid, values=(float(t.values[0]), float(t.values[1])),
                                      params=dict(t.params), extra=dict(t.user_attrs)))
        elif t.state == optuna.trial.TrialState.FAIL:
            failed.append(tid)
            reason = attrs.get(f"{FAILURE_PREFIX}{tid}", t.user_attrs.get("failure"))
            if reason is not None:
                failures[tid] = str(reason)
    return build_front(points, objectives=objectives, modes=modes,
                       reference_point=(float(ref[0]), float(ref[1])), failed=failed, failures=failures)


#: study user attribute ``failure/<tune trial id>``: why that trial failed (a finished Optuna trial is read-only,
#: and Tune tells the searcher FAIL before the error is known to the driver's callbacks)
FAILURE_PREFIX = "failure/"


def record_failure(storage: str | optuna.storages.BaseStorage, study_name: str, tune_trial_id: str, reason: str) -> None:
    """Store why Tune trial ``tune_trial_id`` failed, for :func:`read_front` (``ParetoFront.failures``);
    ``storage``: a URL or path, or an opened storage."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage) if isinstance(storage, str) else storage)
    study.set_user_attr(f"{FAILURE_PREFIX}{tune_trial_id}", reason)


def error_reason(error_text: str, limit: int = 300) -> str:
    """The line of a trial's error (Ray's ``error.txt``: a traceback) that says what went wrong: the last
    ``SomeError: message`` line, shortened to ``limit`` characters."""
    lines = [ln.strip() for ln in error_text.splitlines() if ln.strip()]
    named = [ln for ln in lines if ln.split(":", 1)[0].replace(".", "").isidentifier() and ":" in ln
             and ln.split(":", 1)[0].endswith(("Error", "Exception", "Interrupt"))]
    line = (named or lines or ["unknown error"])[-1]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def read_rungs(storage: str, study_name: str) -> list[RungCount]:
    """How many finished trials reached each rung of the study's early-stopping scheduler, how many were
    stopped there, and how many reached full fidelity (the last row); empty without a scheduler.

    A trial reached a rung when it reported at that fidelity or beyond (``fidelity`` of its last report)."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    spec = study.user_attrs.get("scheduler") or {}
    if spec.get("kind", "fifo") == "fifo":
        return []
    from raysearch.tune.scheduler import SchedulerSpec

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = [t for t in study.get_trials(deepcopy=False, states=done) if FIDELITY in t.user_attrs]
    reached = [float(t.user_attrs[FIDELITY]) for t in trials]
    rungs = SchedulerSpec.model_validate(spec).rungs(max(reached, default=0.0))
    out = []
    for i, r in enumerate(rungs):
        nxt = rungs[i + 1] if i + 1 < len(rungs) else math.inf
        stopped = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED
                   and r <= float(t.user_attrs[FIDELITY]) < nxt]
        out.append(RungCount(f"rung {i}", r, sum(f >= r for f in reached), len(stopped)))
    full = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    out.append(RungCount("full fidelity", None, len(full), 0))
    return out
