"""The figures of a finished search read from its study and its confirmation (no Ray)."""

import json
import logging
import math
import sys
import warnings
from datetime import datetime, timedelta

import numpy as np
import optuna
import pytest

from raysearch.metrics.paired import paired_summary
from raysearch.pareto import build_front
from raysearch.tune import plots
from raysearch.tune.confirm import Confirmation, ModelRuns, write_confirmation
from raysearch.tune.study import open_storage, read_front

PNG = b"\x89PNG\r\n\x1a\n"
OBJECTIVES = ["val/mean_acc", "val/worst3_acc"]
COMMUNITIES = ["Chile", "Israel", "Mexico"]


def _study(tmp_path, name="run"):
    """A study as a search leaves it: named objectives, trials finished out of number order, one stopped, one failed."""
    journal = str(tmp_path / name / "study.journal")
    study = optuna.create_study(storage=open_storage(journal), study_name=name, directions=["maximize", "maximize"])
    with warnings.catch_warnings():  # experimental in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(OBJECTIVES)
    study.set_user_attr("objectives", OBJECTIVES)
    study.set_user_attr("reference_point", [0.5, 0.3])
    t0 = datetime(2026, 1, 1)
    rows = [  # number, state, values, fidelity, minutes after t0 it finished
        (0, "COMPLETE", [0.6, 0.4], 10, 4),
        (1, "COMPLETE", [0.7, 0.5], 10, 1),  # finished first
        (2, "PRUNED", None, 3, 2),
        (3, "FAIL", None, None, 3),
        (4, "COMPLETE", [0.65, 0.55], 8, 5),
    ]
    dist = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)}
    for number, state, values, fid, minutes in rows:
        attrs = {"tune_trial_id": f"t{number}"} | ({"fidelity": float(fid)} if fid is not None else {})
        trial = optuna.trial.create_trial(state=getattr(optuna.trial.TrialState, state), values=values,
                                          params={"lr": 1e-4}, distributions=dist, user_attrs=attrs)
        trial.datetime_start = t0
        trial.datetime_complete = t0 + timedelta(minutes=minutes)
        study.add_trial(trial)
    return journal, study


def test_curve_follows_the_order_trials_finished_and_ends_at_the_fronts_hypervolume(tmp_path):
    journal, _ = _study(tmp_path)
    front = read_front(journal, "run")
    curve = plots.hypervolume_from_study(journal, "run", front)
    assert curve.trial_ids == ["t1", "t2", "t3", "t0", "t4"]
    assert curve.states == ["complete", "pruned", "failed", "complete", "complete"]
    # t1 (0.7, 0.5): 0.2*0.2; t0 (0.6, 0.4) is dominated; t4 (0.65, 0.55) adds 0.15*0.05
    assert curve.hypervolume == pytest.approx([0.04, 0.04, 0.04, 0.04, 0.0475])
    assert np.all(np.diff(curve.hypervolume) >= 0) and curve.final == pytest.approx(front.hypervolume)
    assert curve.steps is not None and curve.steps.tolist() == [10, 13, 13, 23, 31]  # the failed one reported none
    assert curve.objectives == tuple(OBJECTIVES) and curve.reference_point == (0.5, 0.3)


def _confirm(seeds, *, with_paired=True, n_pairs=60):
    rng = np.random.default_rng(1)
    comm = [COMMUNITIES[i % 3] for i in range(n_pairs)]
    groups = [f"q{i // 6}" for i in range(n_pairs)]
    models = []
    for name, kind, p in (("t0", "pareto", 0.7), ("global model G", "baseline", 0.6), ("fine-tuning from G", "baseline", 0.65)):
        per_seed, flat = [], []
        for _ in seeds:
            ok = rng.random(n_pairs) < p
            per_seed.append({"test": ok})
            accs = {c: float(np.mean([o for o, cc in zip(ok, comm, strict=True) if cc == c])) for c in COMMUNITIES}
            flat.append({**{f"test/acc/{c}": a for c, a in accs.items()}, "test/mean_acc": float(np.mean(list(accs.values()))),
                         "val/mean_acc": 0.6, "val/worst3_acc": 0.5})
        models.append(ModelRuns(name, kind, list(seeds), flat, per_seed))
    paired = {}
    if with_paired:
        correct = {m.name: m.correct["test"] for m in models}
        paired = {"global model G": paired_summary(correct, comm, groups, reference="global model G", n_boot=200)}
    return Confirmation(objectives=tuple(OBJECTIVES), models=models, paired_vs=paired, noise=[])


def test_community_chart_draws_the_confirmations_bootstrap_intervals(tmp_path):
    write_confirmation(_confirm([0, 1]), tmp_path)
    confirm = json.loads((tmp_path / "confirm.json").read_text())  # exactly what the search wrote
    chart = plots.community_chart(confirm)
    assert chart.columns == [*COMMUNITIES, "mean of communities"] and chart.n_communities == 3
    assert chart.models == ["t0", "global model G", "fine-tuning from G"]
    assert chart.kinds == ["pareto", "baseline", "baseline"]
    acc = confirm["paired_test"]["global model G"]["accuracy"]
    for k, m in enumerate(chart.models):
        for j, s in enumerate([*COMMUNITIES, "mean"]):
            assert (chart.value[k, j], chart.low[k, j], chart.high[k, j]) == (
                acc[m][s]["value"], acc[m][s]["low"], acc[m][s]["high"])
            assert chart.low[k, j] <= chart.value[k, j] <= chart.high[k, j]
        flat = confirm["models"][k]["flat"]
        assert chart.seeds[k].tolist() == [[f[f"test/acc/{c}"] for c in COMMUNITIES] + [f["test/mean_acc"]]
                                           for f in flat]
        # the interval's point is the accuracy of correctness averaged over seeds: the mean of the seeds' accuracies
        assert chart.value[k] == pytest.approx(chart.seeds[k].mean(axis=0))
    assert chart.n_pairs == [20, 20, 20, 60]
    assert "bootstrap interval over test questions" in chart.interval and "2 seeds" in chart.interval
    data = plots.plot_communities(chart, tmp_path / "communities.png").read_bytes()
    assert data[:8] == PNG


def test_community_chart_without_stored_intervals_says_so():
    two = plots.community_chart(_confirm([0, 1, 2], with_paired=False).to_dict())
    assert "Student-t" in two.interval and np.all(two.low < two.value) and np.all(two.value < two.high)
    assert two.value == pytest.approx(np.array([s.mean(axis=0) for s in two.seeds]))
    one = plots.community_chart(_confirm([0], with_paired=False).to_dict())
    assert one.interval.startswith("none") and np.array_equal(one.low, one.high) and one.n_pairs is None


def test_write_plots_writes_the_figures_and_skips_html_without_plotly(tmp_path, monkeypatch, caplog):
    journal, _ = _study(tmp_path)
    front = read_front(journal, "run")
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if not installed
    with caplog.at_level(logging.DEBUG, logger="raysearch.tune.plots"):
        written = plots.write_plots(front, tmp_path / "run", storage=journal, study_name="run",
                                    confirm=_confirm([0]).to_dict())
    assert sorted(p.name for p in written) == ["communities.png", "hypervolume.png"]
    assert all(p.read_bytes()[:8] == PNG for p in written)
    assert not (tmp_path / "run" / "pareto.html").exists() and "plotly is not installed" in caplog.text


def test_optuna_html_shows_the_objective_names(tmp_path):
    pytest.importorskip("plotly")
    journal, _ = _study(tmp_path)
    front = read_front(journal, "run")
    written = plots.write_optuna_html(journal, "run", tmp_path, reference_point=front.reference_point)
    assert [p.name for p in written] == ["pareto.html", "hypervolume.html"]
    html = (tmp_path / "pareto.html").read_text()
    assert "mean_acc" in html and "worst3_acc" in html and "Objective 0" not in html


def test_a_figure_that_cannot_be_drawn_is_one_redacted_line(tmp_path, capsys):
    front = build_front([], objectives=OBJECTIVES, modes=("max", "max"), reference_point=(0.5, 0.3))
    url = "postgresql://alice:s3cret@db.invalid:5432/optuna"
    assert plots.write_plots(front, tmp_path, storage=url, study_name="run") == []
    out = capsys.readouterr().out
    assert "hypervolume.png not drawn" in out and "s3cret" not in out
    assert plots.write_plots(front, tmp_path, storage=str(tmp_path / "none.journal"), study_name="run") == []
    assert not (tmp_path / "none.journal").exists()  # a missing journal is never created


def test_cli_redraws_a_run_folder(tmp_path, capsys):
    journal, _ = _study(tmp_path)
    run = tmp_path / "run"
    read_front(journal, "run").to_json(run / "pareto.json")
    write_confirmation(_confirm([0]), run)
    assert plots.main([str(run), "--out", str(tmp_path / "figs")]) == 0
    assert {p.name for p in (tmp_path / "figs").iterdir()} >= {"hypervolume.png", "communities.png"}
    assert math.isfinite(json.loads((run / "pareto.json").read_text())["hypervolume"])
