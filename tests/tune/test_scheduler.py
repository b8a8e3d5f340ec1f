"""MO-ASHA: the rung decision on fake results, stopped trials PRUNED in Optuna, and a real Tune run on a tiny model."""

from __future__ import annotations

import optuna
import pytest

from raysearch.tune.scheduler import CONTINUE, STOP, MoAshaRungs, SchedulerSpec, make_scheduler, priority, promoted
from raysearch.tune.study import open_storage, read_front, read_rungs, strict_optuna_search

MAXMAX = ["max", "max"]


def _res(fid: float, a: float, b: float, full: float = 100) -> dict[str, float]:
    return {"fidelity": fid, "fidelity_max": full, "a": a, "b": b}


def test_rungs_are_grace_times_eta_to_the_k():
    assert SchedulerSpec(grace=2, eta=2).rungs(12) == [2, 4, 8]
    assert SchedulerSpec(grace=4, eta=3).rungs(36) == [4, 12, 36]
    assert SchedulerSpec(grace=5).rungs(4) == []


def test_a_dominated_trial_is_stopped_and_a_non_dominated_one_promoted():
    rungs = MoAshaRungs(SchedulerSpec(kind="moasha", eta=2, grace=2), ["a", "b"], MAXMAX)
    assert rungs.on_result("first", _res(2, 0.7, 0.5)) == CONTINUE  # the first at a rung always goes on
    assert rungs.on_result("worse", _res(2, 0.6, 0.4)) == STOP  # dominated by 'first'
    # better in b, worse in a: non-dominated, in the top 1/eta of three (position 1 < 3/2), promoted
    assert rungs.on_result("other", _res(2, 0.5, 0.8)) == CONTINUE
    # a trial is recorded once per rung: later reports below the next rung do not decide again
    assert rungs.on_result("other", _res(3, 0.1, 0.1)) == CONTINUE
    assert rungs.recorded[2.0]["other"] == (0.5, 0.8)
    # at the next rung 'other' is judged again, against those recorded there before it
    assert rungs.on_result("first", _res(4, 0.8, 0.6)) == CONTINUE
    assert rungs.on_result("other", _res(4, 0.7, 0.5)) == STOP  # now dominated by 'first'
    assert rungs.counts() == [(2.0, 3, 1), (4.0, 2, 1)]
    assert rungs.stopped == {"worse": 2.0, "other": 4.0}


def test_the_last_report_of_a_trial_is_never_stopped():
    rungs = MoAshaRungs(SchedulerSpec(kind="moasha", eta=2, grace=2), ["a", "b"], MAXMAX)
    rungs.on_result("good", _res(2, 0.9, 0.9))
    assert rungs.on_result("short", _res(2, 0.1, 0.1, full=2)) == CONTINUE  # its full fidelity: it ends anyway
    assert rungs.on_result("noise", {"fidelity": 2, "a": 0.1}) == CONTINUE  # no objectives: no decision
    assert rungs.on_result("early", _res(1, 0.0, 0.0)) == CONTINUE  # before the first rung nothing stops
    assert "short" in rungs.recorded[2.0] and "early" not in rungs.recorded.get(1.0, {})


def test_modes_decide_what_dominates():
    # objective a minimized: (0.2, 0.5) dominates (0.3, 0.4); with both maximized neither dominates
    assert priority([[0.3, 0.4], [0.2, 0.5]], ["min", "max"]) == [1, 0]
    assert not promoted([[0.2, 0.5], [0.3, 0.4]], ["min", "max"], 1, eta=2)
    assert promoted([[0.2, 0.5], [0.3, 0.4]], ["max", "max"], 1, eta=1.5)


@pytest.mark.parametrize("tie_break", ["epsnet", "crowding"])
def test_diversity_breaks_ties_within_a_front(tie_break):
    # four non-dominated points; 'near' almost repeats 'best_a'; 'far' trades a for b; one dominated point
    values = {"best_a": (0.70, 0.50), "near": (0.69, 0.51), "far": (0.55, 0.65), "bad": (0.50, 0.40)}
    rows = list(values.values())
    order = [list(values)[i] for i in priority(rows, MAXMAX, tie_break=tie_break)]
    assert order[0] == "best_a" and order[-1] == "bad"  # the dominated point comes after the whole front
    assert order.index("far") < order.index("near")  # the spread-out point before the near-duplicate
    # with eta 2 the top two of four go on: 'far' is promoted and 'near' stopped, although 'near' is better
    # than 'far' in the first objective (ordering the front by one objective would do the opposite)
    spec = SchedulerSpec(kind="moasha", eta=2, grace=1, tie_break=tie_break)
    rungs = MoAshaRungs(spec, ["a", "b"], MAXMAX)
    for name in ("best_a", "bad", "far", "near"):
        rungs.on_result(name, _res(1, *values[name]))
    assert rungs.stopped == {"bad": 1.0, "near": 1.0}


def test_fifo_is_tunes_default_and_moasha_a_tune_scheduler():
    from ray.tune.schedulers import TrialScheduler

    assert make_scheduler(SchedulerSpec(), ["a", "b"], MAXMAX) is None
    sched = make_scheduler(SchedulerSpec(kind="moasha", eta=2, grace=2), ["a", "b"], MAXMAX)
    assert isinstance(sched, TrialScheduler) and sched.set_search_properties(None, None)

    class T:
        trial_id = "x"

    assert sched.on_trial_result(None, T(), _res(2, 0.5, 0.5)) == TrialScheduler.CONTINUE
    T.trial_id = "y"
    assert sched.on_trial_result(None, T(), _res(2, 0.4, 0.4)) == TrialScheduler.STOP


def test_a_stopped_trial_is_pruned_never_complete(tmp_path):
    from ray import tune

    journal = str(tmp_path / "study.journal")
    storage = open_storage(journal)
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "maximize"])
    study.set_user_attr("scheduler", SchedulerSpec(kind="moasha", eta=2, grace=2).model_dump())
    search = strict_optuna_search(metric=["a", "b"], mode=["max", "max"], sampler=optuna.samplers.RandomSampler(0),
                                  storage=storage, study_name="s")
    search.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    for tid in ("full", "stopped"):
        search.suggest(tid)
    for f in (2.0, 4.0, 6.0):
        search.on_trial_result("full", _res(f, 0.5 + f / 100, 0.5, full=6))
    search.on_trial_complete("full", result={**_res(6, 0.56, 0.5, full=6), "checkpoint_path": "/ckpt"})
    search.on_trial_result("stopped", _res(2, 0.9, 0.9, full=6))
    search.on_trial_complete("stopped", result=_res(4, 0.95, 0.95, full=6))  # better, but only at 4 of 6 steps
    trials = {t.user_attrs["tune_trial_id"]: t for t in optuna.load_study(study_name="s", storage=storage).get_trials()}
    assert trials["full"].state == optuna.trial.TrialState.COMPLETE and trials["full"].values == [0.56, 0.5]
    assert trials["stopped"].state == optuna.trial.TrialState.PRUNED and trials["stopped"].values is None
    assert trials["stopped"].user_attrs["fidelity"] == 4 and "checkpoint_path" not in trials["stopped"].user_attrs
    assert trials["stopped"].user_attrs["intermediate"] == [[2.0, 0.9, 0.9], [4.0, 0.95, 0.95]]
    assert trials["full"].user_attrs["intermediate"] == [[2.0, 0.52, 0.5], [4.0, 0.54, 0.5], [6.0, 0.56, 0.5]]
    front = read_front(journal, "s")  # only trials at full fidelity: the pruned one is not a point
    assert [p.trial_id for p in front.points] == ["full"] and not front.dominated and not front.failed
    rows = [(r.label, r.fidelity, r.reached, r.stopped) for r in read_rungs(journal, "s")]
    assert rows == [("rung 0", 2.0, 2, 0), ("rung 1", 4.0, 2, 1), ("full fidelity", None, 1, 0)]


@pytest.mark.slow
def test_a_real_search_stops_the_dominated_trial_and_trains_the_non_dominated_ones(tiny_backbone, pairs_factory,
                                                                                   tmp_path):
    """Three BT trials of the tiny BERT (6 steps each, validation every 2), one at a time, with learning rates
    chosen so that the second is dominated at the first rung (it hardly moves from its start); MO-ASHA with
    eta 2 and rungs at 2 and 4 steps. Measured on this data: lr 2e-2 gives (acc A, acc B) = (0.5, 1.0) at steps
    2, 4 and 6; lr 1e-6 (0.0, 0.5); lr 5e-3 (0.5, 1.0) at step 2, then (1.0, 0.5)."""
    import ray

    from raysearch.data.splits import Split
    from raysearch.methods.pairwise.config import PairwiseConfig
    from raysearch.methods.pairwise.data import PreferenceData
    from raysearch.ray_env import init_ray
    from raysearch.tune.pipeline import SearchPaths, run_search
    from raysearch.tune.space import SearchSpace

    pairs = pairs_factory(12)
    data = PreferenceData(source="test", kind="goqa", communities=["A", "B"], notes=[], global_pairs=None,
                          pairs=Split(train=pairs, val=pairs[:16], test=pairs[16:32]))
    space = SearchSpace.from_dict({
        "experiment": "bt", "sampler": "random", "num_samples": 3, "max_concurrent": 1, "seed_reruns": 0,
        "objectives": [{"metric": "val/acc/A", "mode": "max"}, {"metric": "val/acc/B", "mode": "max"}],
        "reference_point": [0.0, 0.0], "resources": {"workers": 1, "cpus_per_worker": 1},
        "params": {"lr": {"type": "float", "low": 1e-6, "high": 3e-2, "log": True}},
        "scheduler": {"kind": "moasha", "eta": 2, "grace": 2},
    })
    # the trajectories above were measured in fp32 with dropout, one padded pass a step
    base = PairwiseConfig(objective="bt", backbone=tiny_backbone, epochs=1, batch_size=8, eval_batch_size=16,
                          max_length=24, freeze_layers=0, n_boot=10, log_every=100, seed=1, precision="fp32",
                          dropout=True, length_buckets=1)
    paths = SearchPaths.make(out=str(tmp_path), name="moasha", storage=None, optuna_storage=None)
    paths.root.mkdir(parents=True)
    storage = open_storage(paths.optuna_storage)
    lrs = {"good": 2e-2, "dominated": 1e-6, "other": 5e-3}
    study = optuna.create_study(storage=storage, study_name="moasha", directions=["maximize", "maximize"])
    for lr in lrs.values():  # the trials in this order, whatever the sampler would draw
        study.enqueue_trial({"lr": lr})
    init_ray(num_cpus=2)
    try:
        front = run_search(space, data, base, paths, resume=False, command="test")
    finally:
        ray.shutdown()

    trials = {name: t for t in optuna.load_study(study_name="moasha", storage=storage).get_trials()
              for name, lr in lrs.items() if t.params["lr"] == pytest.approx(lr)}
    seen = {n: (t.state.name, t.user_attrs.get("fidelity"), t.user_attrs.get("failure")) for n, t in trials.items()}
    assert len(trials) == 3 and all(s != "FAIL" for s, _, _ in seen.values()), seen
    good, dominated, other = trials["good"], trials["dominated"], trials["other"]
    history = {name: {h[0]: tuple(h[1:]) for h in t.user_attrs["intermediate"]} for name, t in trials.items()}
    # at the first rung (2 steps) the dominated trial is worse in both objectives than the first trial there
    assert all(g > d for g, d in zip(history["good"][2.0], history["dominated"][2.0], strict=True)), history
    assert dominated.state == optuna.trial.TrialState.PRUNED and dominated.values is None, (seen, history)
    assert dominated.user_attrs["fidelity"] == 2 and list(history["dominated"]) == [2.0], (seen, history)
    # the non-dominated trials were promoted at both rungs and trained to the end (6 steps): COMPLETE
    for t in (good, other):
        assert t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs["fidelity"] == 6, t
    assert list(history["other"]) == [2.0, 4.0, 6.0], history
    assert history["other"][4.0] != history["good"][4.0]  # a different trade-off at rung 1, not a copy of 'good'
    # the front holds the trials at full fidelity only; the report counts the rungs
    ids = {p.trial_id for p in front.points + front.dominated} | set(front.failed)
    assert ids == {good.user_attrs["tune_trial_id"], other.user_attrs["tune_trial_id"]}
    report = (paths.root / "report.md").read_text()
    assert "| rung 0 | 2 | 3 | 1 |" in report and "| rung 1 | 4 | 2 | 0 |" in report
    assert "| full fidelity | full | 2 | 0 |" in report
