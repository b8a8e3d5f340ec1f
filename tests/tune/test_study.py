"""The strict OptunaSearch: failures and NaN become FAIL, results become user attributes; the front reads back."""

import math

import optuna
import pytest

from raysearch.tune.study import open_storage, read_front, strict_optuna_search


def test_failed_and_nan_trials_are_never_numbers(tmp_path):
    from ray import tune

    journal = str(tmp_path / "study.journal")
    storage = open_storage(journal)
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "maximize"])
    study.set_user_attr("objectives", ["val/mean_acc", "val/worst_acc"])
    study.set_user_attr("reference_point", [0.5, 0.3])
    search = strict_optuna_search(metric=["val/mean_acc", "val/worst_acc"], mode=["max", "max"],
                                  sampler=optuna.samplers.RandomSampler(seed=0), storage=storage, study_name="s")
    search.set_search_properties(None, None, {"lr": tune.loguniform(1e-5, 1e-3)})
    results = {
        "t0": {"val/mean_acc": 0.7, "val/worst_acc": 0.5, "val/acc/Chile": 0.5, "test/mean_acc": 0.68},
        "t1": {"val/mean_acc": 0.6, "val/worst_acc": 0.6, "checkpoint_path": "/x"},
        "t2": {"val/mean_acc": 0.5, "val/worst_acc": 0.4},
        "t3": {"val/mean_acc": math.nan, "val/worst_acc": 0.9},
        "t4": {"val/mean_acc": 0.9, "val/worst_acc": 0.9},
    }
    for tid, res in results.items():
        assert "lr" in search.suggest(tid)
        search.on_trial_complete(tid, result=res, error=(tid == "t4"))
    trials = {t.user_attrs["tune_trial_id"]: t for t in optuna.load_study(study_name="s", storage=storage).get_trials()}
    assert trials["t3"].state == trials["t4"].state == optuna.trial.TrialState.FAIL
    assert trials["t3"].values is None and trials["t4"].values is None
    assert trials["t0"].values == [0.7, 0.5] and trials["t0"].user_attrs["val/acc/Chile"] == 0.5
    front = read_front(journal, "s")
    assert [p.trial_id for p in front.points] == ["t1", "t0"]  # sorted by the first objective
    assert [p.trial_id for p in front.dominated] == ["t2"]
    assert sorted(front.failed) == ["t3", "t4"]
    # staircase above (0.5, 0.3): (0.6-0.5)*(0.6-0.3) + (0.7-0.6)*(0.5-0.3) = 0.03 + 0.02
    assert front.hypervolume == pytest.approx(0.05)
    assert front.points[1].extra["test/mean_acc"] == 0.68


def test_missing_study_is_one_clear_error(tmp_path):
    from raysearch.errors import UserInputError

    open_storage(str(tmp_path / "j.journal"))
    with pytest.raises(UserInputError, match="no study 'nope'"):
        read_front(str(tmp_path / "j.journal"), "nope")


def test_bad_rdb_url_is_one_clear_error():
    from raysearch.errors import UserInputError

    with pytest.raises(UserInputError, match="cannot be opened"):
        open_storage("nosuchdb://user@host/db")


def test_a_trial_told_before_a_crash_is_not_told_again(tmp_path):
    from ray import tune

    storage = open_storage(str(tmp_path / "j.journal"))
    optuna.create_study(storage=storage, study_name="s", directions=["maximize", "maximize"])
    search = strict_optuna_search(metric=["a", "b"], mode=["max", "max"], sampler=optuna.samplers.RandomSampler(seed=0),
                                  storage=storage, study_name="s")
    search.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    search.suggest("t0")
    state = search.__dict__.copy()  # the searcher as Tune snapshotted it, before t0 finished
    search.on_trial_complete("t0", result={"a": 0.5, "b": 0.4})
    search.__dict__.update(state)
    search._completed_trials = set()
    search.on_trial_complete("t0", result={"a": 0.5, "b": 0.4}, error=True)  # replayed after --resume
    trials = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [(t.state, t.values) for t in trials] == [(optuna.trial.TrialState.COMPLETE, [0.5, 0.4])]


def _journal_with_three_trials(path):
    storage = open_storage(str(path))
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "maximize"])
    for i in range(3):
        t = study.ask()
        study.tell(t, [0.1 * i, 0.2])
    return path.read_bytes()


def test_a_journal_cut_short_is_repaired_once_and_the_study_writable_again(tmp_path):
    from raysearch.tune.study import check_journal

    path = tmp_path / "study.journal"
    data = _journal_with_three_trials(path)
    assert check_journal(str(path)) is None  # a whole file is left alone
    path.write_bytes(data[:-30])  # the last record (the third tell) cut short
    note = check_journal(str(path))
    assert note and "dropped an incomplete last record (" in note and str(path) in note
    assert (tmp_path / "study.journal.before-repair").read_bytes() == data[:-30]
    study = optuna.load_study(study_name="s", storage=open_storage(str(path)))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "RUNNING"]  # close_orphans fails it
    t = study.ask()  # without the repair Optuna cannot append after the cut-short line
    study.tell(t, [0.5, 0.5])
    assert len(optuna.load_study(study_name="s", storage=open_storage(str(path))).trials) == 4


def test_a_corrupt_journal_line_is_one_error_naming_the_file_and_line(tmp_path):
    from raysearch.errors import UserInputError
    from raysearch.tune.study import check_journal

    path = tmp_path / "study.journal"
    lines = _journal_with_three_trials(path).split(b"\n")
    lines[2] = b"{not json"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(UserInputError, match=r"study.journal: line 3 is not an Optuna journal record"):
        check_journal(str(path))


def test_a_repeated_configuration_is_told_its_twins_outcome_and_never_trained_or_shown(tmp_path):
    """Two configurations, three trials: the second gets the other configuration (the repeat is told
    the first trial's values and asked again); once both are taken the repeat is trained as asked."""
    from ray import tune

    from raysearch.tune.study import DUPLICATE_OF, MAX_DUPLICATE_ASKS

    storage = open_storage(str(tmp_path / "study.journal"))
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "maximize"])
    search = strict_optuna_search(metric=["a", "b"], mode=["max", "max"], sampler=optuna.samplers.RandomSampler(seed=0),
                                  storage=storage, study_name="s")
    search.set_search_properties(None, None, {"x": tune.choice([1, 2])})
    first = search.suggest("t0")
    search.on_trial_complete("t0", result={"a": 0.5, "b": 0.4})
    second = search.suggest("t1")
    assert second != first  # the repeat was not handed to Tune
    search.on_trial_complete("t1", result={"a": 0.6, "b": 0.3})
    third = search.suggest("t2")  # every configuration taken: trained after MAX_DUPLICATE_ASKS asks
    search.on_trial_complete("t2", result={"a": 0.55, "b": 0.35})
    trials = study.get_trials()
    dups = [t for t in trials if DUPLICATE_OF in t.user_attrs]
    assert len(dups) >= MAX_DUPLICATE_ASKS and all(t.state == optuna.trial.TrialState.COMPLETE for t in dups)
    for t in dups:  # each told exactly its twin's values
        twin = next(u for u in trials if u.user_attrs.get("tune_trial_id") == t.user_attrs[DUPLICATE_OF])
        assert t.values == twin.values and t.params == twin.params and "tune_trial_id" not in t.user_attrs
    assert third in (first, second)
    front = read_front(str(tmp_path / "study.journal"), "s")
    assert front.n_trials == 3 and sorted(p.trial_id for p in front.points + front.dominated) == ["t0", "t1", "t2"]
