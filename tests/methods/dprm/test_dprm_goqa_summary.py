"""``experiments/dprm_goqa.py --summary``: finished seeds side by side, counted per side of 0, never pooled."""

from __future__ import annotations

import json

import pytest

NAMES = ["DPRM-W1", "DPRM-CE", "BT", "leave-one-out global", "uniform"]


def _result(seed: int, shift: float, w1_ce: tuple[float, float, float]) -> dict:
    """A results.json as the script writes it, reduced to what the summary reads."""
    mean = {n: [0.2 + 0.01 * i + shift, 0.5 + 0.1 * i + shift] for i, n in enumerate(NAMES)}
    paired = []
    for a, b in [("DPRM-W1", "DPRM-CE"), ("DPRM-W1", "BT"), ("DPRM-CE", "BT")] + [
            (m, r) for r in ("leave-one-out global", "uniform") for m in ("DPRM-W1", "DPRM-CE", "BT")]:
        value, low, high = w1_ce if (a, b) == ("DPRM-W1", "DPRM-CE") else (0.0, -0.01, 0.01)
        cell = {"value": value, "low": low, "high": high, "n": 85}
        paired.append({"a": a, "b": b, "subset": "all", "jsd": cell, "w1": dict(cell)})
    paired.append({"a": "DPRM-W1", "b": "leave-one-out global", "subset": "with a reference",
                   "jsd": {"value": 9.0, "low": 9.0, "high": 9.0}, "w1": {"value": 9.0, "low": 9.0, "high": 9.0}})
    return {"args": {"seed": str(seed)}, "paired": paired,
            "comparison": {"names": NAMES, "rows": [{"label": "Chile", "cells": {}},
                                                     {"label": "mean", "cells": mean}]}}


def _write(tmp_path, runs):
    dirs = []
    for i, r in enumerate(runs):
        d = tmp_path / f"seed{i}"
        d.mkdir()
        (d / "results.json").write_text(json.dumps(r))
        dirs.append(str(d))
    return dirs


def test_the_summary_lists_every_seed_and_counts_intervals_on_each_side_of_zero(experiment_script, tmp_path, capsys):
    mod = experiment_script("dprm_goqa")
    runs = [_result(0, 0.0, (0.03, 0.01, 0.05)), _result(1, 0.02, (0.02, -0.01, 0.04)),
            _result(2, 0.04, (-0.02, -0.04, -0.01))]
    assert mod.main(["--summary", *_write(tmp_path, runs), "--summary-out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "summary.md").read_text()
    assert table == capsys.readouterr().out.rstrip("\n") + "\n"
    # the model rows: every seed's mean and the mean ± sd over seeds (0.20, 0.22, 0.24: sd 0.02)
    assert "| DPRM-W1 | 0.200 | 0.220 | 0.240 | 0.220 ± 0.020 | 0.500 | 0.520 | 0.540 | 0.520 ± 0.020 |" in table
    # W1 - CE: one seed's interval below 0, one above, one across; the subset rows are not read
    row = next(ln for ln in table.splitlines() if ln.startswith("| DPRM-W1 − DPRM-CE | JSD |"))
    assert row.endswith("| +0.010 | 1 | 1 |"), row
    assert "+9.000" not in table


def test_two_runs_of_one_seed_or_a_missing_run_is_one_line(experiment_script, tmp_path):
    from raysearch.errors import UserInputError

    mod = experiment_script("dprm_goqa")
    same = _write(tmp_path, [_result(0, 0.0, (0, -1, 1)), _result(0, 0.1, (0, -1, 1))])
    with pytest.raises(UserInputError, match="same seed"):
        mod.main(["--summary", *same])
    with pytest.raises(UserInputError, match="no results.json in .*nowhere"):
        mod.main(["--summary", str(tmp_path / "nowhere")])
