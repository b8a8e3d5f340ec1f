"""The README's Python API examples, run as written (in a subprocess, from a temp folder), and the API's errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[str]:
    return re.findall(r"<!-- api-example -->\n```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_the_two_examples():
    blocks = _examples()
    assert len(blocks) == 2 and "fit(" in blocks[0] and "search(" in blocks[1]


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1], ids=["fit", "search"])
def test_a_readme_example_runs_as_written(index, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-c", _examples()[index]], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    if index == 0:
        acc = float(re.search(r"val accuracy (\d\.\d+)", r.stdout).group(1))
        assert 0.0 <= acc <= 1.0
        assert (tmp_path / "runs" / "api" / "bt" / "model" / "model.safetensors").is_file()
        assert re.search(r"\[-?\d", r.stdout.strip().splitlines()[-1])  # one finite score printed
    else:
        import csv

        from raysearch.pareto import ParetoFront
        from raysearch.tracking import read_scalars

        root = tmp_path / "runs" / "api" / "scpo"
        front = ParetoFront.from_json(root / "pareto.json")
        printed = [ln.split()[0] for ln in r.stdout.splitlines() if ln.split() and ln.split()[0] in
                   {p.trial_id for p in front.points}]
        assert front.points and printed == [p.trial_id for p in front.points]  # the returned front is the run's
        # the live progress lines, the dashboard line and the TensorBoard hint of a real search
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("[raysearch.tune] trial ")]
        assert len(lines) == 2 and "| running" in lines[-1] and "| front " in lines[-1] and "HV " in lines[-1], r.stdout
        assert f"tensorboard --logdir {root.resolve() / 'tensorboard'}" in r.stdout
        assert "[raysearch.tune] Ray dashboard: http://" in r.stdout  # a local Ray started by the CLI has one
        # --callback tensorboard: each trial's event files hold its objectives, with the values in trials.csv
        with (root / "trials.csv").open() as f:
            rows = [row for row in csv.DictReader(f) if row.get("val/mean_acc")]
        assert len(rows) == 2, rows
        for row in rows:
            scalars = read_scalars(root / "tensorboard" / row["trial_id"])
            for metric in ("val/mean_acc", "val/worst3_acc"):
                logged = scalars[f"ray/tune/{metric}"]
                assert logged and logged[-1][1] == pytest.approx(float(row[metric]), abs=1e-6), (row["trial_id"], metric)


def test_bad_options_raise_one_clear_error(tmp_path):
    from raysearch.errors import UserInputError
    from raysearch.train import fit
    from raysearch.tune import search

    with pytest.raises(UserInputError, match="num_samples"):
        search("scpo", num_samples=0, out=str(tmp_path))
    with pytest.raises(UserInputError, match="invalid search options"):
        search("scpo", sampler="annealing", out=str(tmp_path))
    with pytest.raises(UserInputError, match="workers=-1"):
        fit({"objective": "bt"}, None, workers=-1)
    with pytest.raises(UserInputError, match="--num-sample 3"):
        search("scpo", num_sample=3, out=str(tmp_path))  # a typo is an unknown flag, never silently ignored
