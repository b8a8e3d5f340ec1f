"""``experiments/front_on_test.py``: searches' test reads gathered into one table (it trains nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _flat(mean: float) -> dict[str, float]:
    return {f"test/{c}": mean - k * 0.01 for k, c in enumerate(("mean_acc", "worst3_acc", "minority_acc", "majority_acc",
                                                                   "worst_acc"))}


def _run(root: Path, name: str, *, with_g: bool) -> Path:
    run = root / name
    run.mkdir()
    models = [{"name": "abc", "kind": "pareto", "seeds": [0, 1], "flat": [_flat(0.70), _flat(0.60)]},
              {"name": "fine-tuning from G", "kind": "baseline", "seeds": [0, 1], "flat": [_flat(0.66), _flat(0.66)]}]
    if with_g:
        models.append({"name": "global model G", "kind": "baseline", "seeds": [0], "flat": [_flat(0.72)]})
    diff = {k: {"value": -0.01, "low": -0.03, "high": 0.02, "n": 9} for k in ("mean", "minority", "majority")}
    paired = {"fine-tuning from G": {"difference": {"abc": diff}}}
    (run / "confirm.json").write_text(json.dumps({"objectives": ["val/mean_acc", "val/worst3_acc"], "models": models,
                                                  "paired_test": paired}))
    (run / "pareto.json").write_text(json.dumps({"points": [{"trial_id": "abc", "params": {"tau": 0.5}}]}))
    return run


def test_table_averages_seeds_borrows_g_and_plots(tmp_path, capsys, experiment_script):
    mod = experiment_script("front_on_test")
    a, b = _run(tmp_path, "a-seed0", with_g=True), _run(tmp_path, "b-seed0", with_g=False)
    assert mod.main([str(b), "--g-from", str(a), "--plot", str(tmp_path / "f.png")]) == 0
    out = capsys.readouterr().out
    assert "| b-seed0 | Pareto abc | 2 | 65.0 |" in out  # mean over its two seeds
    assert "| b-seed0 | global model G (from a-seed0) | 1 | 72.0 |" in out
    assert "-1.0 [-3.0, +2.0]" in out and (tmp_path / "f.png").stat().st_size > 0


def test_a_folder_without_a_confirmation_is_one_line(tmp_path, experiment_script):
    mod = experiment_script("front_on_test")
    with pytest.raises(SystemExit, match="no confirm.json"):
        mod.main([str(tmp_path)])
    with pytest.raises(SystemExit, match="give one per run"):
        mod.main([str(_run(tmp_path, "x", with_g=True)), "--g-from"])
