"""SCPO on PRISM's schema: the fixtures (synthetic files in PRISM's layout, ``tests/fixtures/prism/``) through
the same ``fit`` a user runs on a local PRISM copy: G as BT on every community's pairs, then SCPO from G with
the community prefix. The numbers mean nothing (197 synthetic pairs); the path is what is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.train import fit, load_pairs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prism"


@pytest.mark.slow
def test_scpo_trains_on_prism_schema_from_a_given_g(tiny_backbone, tmp_path):
    data = load_pairs(str(FIXTURES))
    assert data.global_train == []  # PRISM has no global preference: G must be given
    base = dict(backbone=tiny_backbone, epochs=1, batch_size=8, max_length=32, freeze_layers=0, log_every=100)
    g_model, g_metrics = fit(PairwiseConfig(objective="bt", condition_on_community=False, **base), data, out=tmp_path / "g")
    g_dir = tmp_path / "g" / "model"
    assert g_dir.is_dir()
    model, metrics = fit(PairwiseConfig(objective="scpo", init_from=str(g_dir), reference=str(g_dir), **base), data,
                         out=tmp_path / "scpo")
    countries = {"Chile", "Mexico", "New Zealand", "United Kingdom", "United States"}
    assert {k.split("/", 2)[2] for k in metrics if k.startswith("test/acc/")} == countries
    assert all(0.0 <= metrics[f"test/acc/{c}"] <= 1.0 for c in countries)
    assert 0 < metrics["scpo/n_kept"] <= metrics["scpo/n_pairs"] == len(data.train)  # SCPO's filter ran on G's margins
