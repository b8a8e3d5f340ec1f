from pathlib import Path

from raysearch.pareto import ParetoPoint, build_front, markdown_report, plot_front

BASELINES = {"BT baseline": (0.58, 0.33), "global model G": (0.52, 0.28)}


def _front():
    trials = [
        ParetoPoint("t0", (0.6, 0.4), {"tau": 0.5123456, "shape": "linear"}, {}),
        ParetoPoint("t1", (0.65, 0.35), {"tau": 0.7, "shape": "cos|ine"}, {}),
        ParetoPoint("t2", (0.55, 0.3), {"tau": 0.9, "shape": "step"}, {}),
        ParetoPoint("t4", (0.7, 0.32), {"tau": 0.4, "shape": "constant"}, {}),
    ]
    return build_front(
        trials,
        objectives=("val/mean_acc", "val/worst_acc"),
        modes=("max", "max"),
        reference_point=(0.5, 0.25),
        failed=["t5"],
    )


def test_plot_writes_a_png(tmp_path):
    out = plot_front(_front(), tmp_path / "run" / "pareto.png", baselines=BASELINES, title="scpo")
    data = Path(out).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["pareto.png"]


def test_plot_handles_an_empty_front_and_min_modes(tmp_path):
    empty = build_front(
        [], objectives=("a", "b"), modes=("min", "max"), reference_point=(1, 0), failed=["x"]
    )
    assert plot_front(empty, tmp_path / "empty.png").stat().st_size > 0
    mixed = build_front(
        [ParetoPoint("a", (0.2, 0.5), {}, {}), ParetoPoint("b", (0.4, 0.9), {}, {})],
        objectives=("loss", "acc"),
        modes=("min", "max"),
        reference_point=(1, 0),
    )
    assert plot_front(mixed, tmp_path / "mixed.png", baselines={"G": (0.5, 0.5)}).stat().st_size > 0


def test_report_contains_the_tables():
    f = _front()
    md = markdown_report(
        f,
        title="SCPO search",
        command="python -m raysearch.tune scpo",
        baselines=BASELINES,
        per_community={
            "t0": {"US": 0.71, "Chile": 0.6},
            "t4": {"US": 0.75, "Chile": 0.52},
            "t2": {"US": 0.1},
        },
        test_scores={"t0": {"test/mean_acc": 0.61}},
        notes=["trained on 400 pairs"],
    )
    assert md.startswith("# SCPO search\n")
    assert "python -m raysearch.tune scpo" in md
    assert "- `val/mean_acc`: maximize" in md and "- `val/worst_acc`: maximize" in md
    assert "**Hypervolume: 0.0235** against the reference point (0.5, 0.25)" in md
    assert "5 in all — 3 on the Pareto front, 1 dominated, 1 failed (`t5`)" in md
    assert "| trial | val/mean_acc | val/worst_acc | test/mean_acc | shape | tau |" in md
    assert "| t0 | 0.6 | 0.4 | 0.61 | linear | 0.5123 |" in md
    assert "| t1 | 0.65 | 0.35 |  | cos\\|ine | 0.7 |" in md
    assert "| t4 | 0.7 | 0.32 |  | constant | 0.4 |" in md
    assert "| t2 |" not in md.split("## Per-community")[0]  # dominated: not in the front table
    assert "| community | t0 | t4 |" in md and "| Chile | 0.6 | 0.52 |" in md
    assert "| BT baseline | 0.58 | 0.33 | `t0`, `t1` |" in md
    assert "| global model G | 0.52 | 0.28 | `t0`, `t1`, `t4` |" in md
    assert "![Pareto front](pareto.png)" in md and "- trained on 400 pairs" in md


def test_report_orders_test_columns_by_number():
    scores = {"t0": {f"test/acc_ctx{c}": 0.5 for c in (10, 3, 0, 1, 5)}}
    md = markdown_report(_front(), title="t", command="c", baselines={}, per_community={}, test_scores=scores)
    cols = "test/acc_ctx0 | test/acc_ctx1 | test/acc_ctx3 | test/acc_ctx5 | test/acc_ctx10"
    assert f"| trial | val/mean_acc | val/worst_acc | {cols} |" in md


def test_report_says_how_many_trials_reached_each_rung():
    from raysearch.pareto.report import RungCount

    rungs = [RungCount("rung 0", 4.0, 8, 5), RungCount("rung 1", 12.0, 3, 1), RungCount("full fidelity", None, 2, 0)]
    md = markdown_report(_front(), title="t", command="c", baselines={}, rungs=rungs)
    early = md.split("## Early stopping")[1].split("## Pareto front")[0]
    assert "6 trial(s) stopped at a rung (Optuna: PRUNED)" in early
    assert "| rung | fidelity (training steps) | trials reached | stopped there |" in early
    assert "| rung 0 | 4 | 8 | 5 |" in early and "| full fidelity | full | 2 | 0 |" in early
    assert "## Early stopping" not in markdown_report(_front(), title="t", command="c", baselines={})
