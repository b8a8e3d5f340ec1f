"""The front's confirmation: seed reruns aggregated, test read paired, the noise floor (no training: scores cached)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.search import Stage
from raysearch.pareto import ParetoPoint, build_front
from raysearch.tune.confirm import confirm_front, confirmation_markdown, verdict

OBJ = ("val/mean_acc", "val/worst_acc")


def _setup(tmp_path: Path, pairs_factory):
    pairs = pairs_factory(n_questions=10)
    splits = {"val": pairs, "test": pairs}
    n = len(pairs)
    stage = Stage(PairwiseConfig(objective="scpo"), TrainData(pairs), "x")
    # per (model, seed): correctness on both splits, written where confirm_front caches scores
    right, half = np.ones(n, dtype=bool), np.arange(n) % 2 == 0
    scores = {("t0", 0): right, ("t0", 1): half, ("global model G", 0): half, ("global model G", 1): half,
              ("fine-tuning from G", 0): right, ("fine-tuning from G", 1): right}
    for (name, seed), ok in scores.items():
        slug = "".join(ch if ch.isalnum() else "-" for ch in name)
        (tmp_path / "confirm").mkdir(exist_ok=True)
        np.savez(tmp_path / "confirm" / f"{slug}-seed{seed}.npz", val=ok, test=ok)
    front = build_front([ParetoPoint("t0", (0.9, 0.8)), ParetoPoint("t1", (0.7, 0.6)), ParetoPoint("t2", (0.5, 0.4))],
                        objectives=OBJ, modes=("max", "max"), reference_point=(0.5, 0.3))
    reruns: list[tuple[str, int]] = []

    def fit(st: Stage, seed: int) -> str:
        reruns.append((st.folder, seed))
        return str(tmp_path / "unused")

    conf = confirm_front(front, trials={"t0": (stage, tmp_path / "t0")},
                         baselines={"global model G": (stage, tmp_path / "g"), "fine-tuning from G": (stage, tmp_path / "f")},
                         splits=splits, root=tmp_path, base_seed=0, reruns=1, fit=fit)
    return conf, reruns


def test_every_configuration_gets_its_reruns_and_seed_statistics(tmp_path, pairs_factory):
    conf, reruns = _setup(tmp_path, pairs_factory)
    assert reruns == [("x", 1)] * 3  # seed 0 is the searched model, only seed 1 is trained again
    t0 = next(m for m in conf.models if m.name == "t0")
    assert t0.seeds == [0, 1] and t0.kind == "pareto"
    mean, sd = t0.stat("val/mean_acc")
    assert mean == pytest.approx(0.75) and sd == pytest.approx(np.std([1.0, 0.5], ddof=1))
    assert t0.correct["test"].tolist() == [1.0 if i % 2 == 0 else 0.5 for i in range(t0.correct["test"].size)]


def test_paired_differences_are_exact_for_identical_and_constant_models(tmp_path, pairs_factory):
    conf, _ = _setup(tmp_path, pairs_factory)
    assert set(conf.paired_vs) == {"global model G", "fine-tuning from G"}
    g = conf.paired_vs["global model G"]
    same = g.difference["global model G"]["mean"]
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    ft = g.difference["fine-tuning from G"]["mean"]  # right everywhere vs right on half of the pairs
    assert ft.value == pytest.approx(0.5) and ft.low == pytest.approx(0.5, abs=0.15)


def test_noise_floor_pools_seed_variance_and_compares_it_with_the_trial_spread(tmp_path, pairs_factory):
    conf, _ = _setup(tmp_path, pairs_factory)
    mean_row = next(r for r in conf.noise if r["objective"] == "val/mean_acc")
    pooled = np.sqrt(np.mean([np.var([1.0, 0.5], ddof=1), 0.0, 0.0]))
    assert mean_row["seed_sd"] == pytest.approx(pooled)
    assert mean_row["trial_spread_sd"] == pytest.approx(np.std([0.9, 0.7, 0.5], ddof=1))
    assert mean_row["spread_over_seed_sd"] == pytest.approx(np.std([0.9, 0.7, 0.5], ddof=1) / pooled)
    assert mean_row["resample_sd"] >= 0
    text = "\n".join(confirmation_markdown(conf))
    assert "## Noise floor of the objectives" in text and "0.750 ± 0.354" in text
    assert "fine-tuning from G − global model G" in text
    assert "within seed noise" in text  # val/mean_acc: trial spread 0.2 against a pooled seed SD of 0.204
    assert verdict(1.0).startswith("within seed noise") and verdict(2.5) == "trials told apart"
