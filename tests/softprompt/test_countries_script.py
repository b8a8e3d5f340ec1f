"""``experiments/softprompt_countries.py``: every country and seed through the real CLI, then one table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.slow
def test_an_expected_and_a_sample_run_give_one_table_and_are_reused(tiny_lm_dir: Path, tmp_path: Path,
                                                                     experiment_script) -> None:
    mod = experiment_script("softprompt_countries")
    out = tmp_path / "sp"
    tiny = ["--model", str(tiny_lm_dir), "--budget", "6", "--popsize", "3", "--subspace-dim", "4", "--n-tokens", "2",
            "--samples", "2", "--rescore-draws", "4"]
    argv = ["--countries", "Arab countries", "--seeds", "0", "--sample-seeds", "0", "--goqa", "5", "--out", str(out)]
    assert mod.main(argv + tiny) == 0
    table = (out / "table.md").read_text()
    assert "| Arab countries |" in table and "seeds 0" in table
    assert "optimized − persona" in table and "Sample mode (seed 0, fresh draws)" in table
    reports = [json.loads((out / f"arab-countries-{m}-seed{s}" / "report.json").read_text())
               for m, s in (("expected", 0), ("sample", 0))]
    assert "fresh" in reports[1] and "fresh" not in reports[0]
    assert all(r["goqa"]["questions"] == 5 for r in reports)
    stamp = (out / "arab-countries-expected-seed0" / "report.json").stat().st_mtime_ns
    assert mod.main(argv + tiny) == 0  # finished runs are reused, not run again
    assert (out / "arab-countries-expected-seed0" / "report.json").stat().st_mtime_ns == stamp
    # sample runs only, two search draws, compared with the one-draw run above on the same seed
    two = tmp_path / "sp2"
    argv2 = ["--countries", "Arab countries", "--seeds", "--sample-seeds", "0", "--goqa", "0", "--out", str(two),
             "--against", str(out), "--search-draws", "2"]
    assert mod.main(argv2 + tiny) == 0
    assert not (two / "arab-countries-expected-seed0").exists()
    again = json.loads((two / "arab-countries-sample-seed0" / "report.json").read_text())
    assert again["config"]["search_draws"] == 2 and len(again["draws"]["search"]) == 2 * (6 + 2)
    table = (two / "table.md").read_text()
    assert "#### Arab countries, sample mode" in table and "not run" not in table  # no empty expected-mode table
    # both runs re-score on the same fresh draws, so the two optimized prompts are paired draw by draw
    assert again["fresh"]["seeds"] == reports[1]["fresh"]["seeds"]
    loss = lambda r: np.array(r["fresh"]["prompts"]["optimized"]["draw_losses"])  # noqa: E731
    assert f"here − there, mean over 1 runs: {(loss(again) - loss(reports[1])).mean():+.1f}" in table
    assert "| Arab countries | 0 |" in table and "| yes |" in table
