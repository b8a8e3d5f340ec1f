"""Model folders carry their text convention and a model card; RewardModel.load scores with it (and old folders
without one keep today's defaults)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from raysearch.data.records import PairRecord
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import train_bare
from raysearch.models.card import CARD_JSON, CARD_README, DEFAULT_CONVENTION, convention, read_card
from raysearch.models.scoring import RewardModel
from raysearch.models.text import format_query


def _run(backbone: str, pairs: list[PairRecord], where: Path, **kw) -> Path:
    cfg = PairwiseConfig(objective="bt", backbone=backbone, epochs=1, batch_size=8, max_length=24, n_boot=20,
                         freeze_layers=0, **kw)
    res = train_bare(cfg, TrainData(train=pairs, eval={"val": pairs[:8], "test": pairs}, source="goqa"),
                     workdir=str(where))
    assert res.checkpoint is not None
    return Path(res.checkpoint)


@pytest.fixture(scope="module")
def trained(tiny_backbone, tmp_path_factory) -> Path:
    from tests.conftest import make_pairs

    return _run(tiny_backbone, make_pairs(), tmp_path_factory.mktemp("card"))


def test_model_folder_has_its_convention_and_card(trained):
    model = trained / "model"
    card = read_card(model)
    assert card is not None and card["format"] == "raysearch-reward-model"
    assert card["text"]["template"] == "[{community}] {prompt}" and card["text"]["conditioned"] is True
    assert card["text"]["max_length"] == 24
    assert card["communities"] == ["A", "B"] and card["objective"] == "bt" and card["seed"] == 0
    assert card["data"] == {"source": "goqa", "kind": "goqa", "dataset": "Anthropic/llm_global_opinions"}
    assert card["metrics"]["test/acc/A"] == pytest.approx(json.loads((trained / "meta.json").read_text())["flat"]["test/acc/A"])
    assert set(card["intervals"]["test"]) == {"A", "B"}
    import raysearch

    assert card["raysearch_version"] == raysearch.__version__
    text = (model / CARD_README).read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["library_name"] == "transformers"
    assert {"reward-model", "raysearch", "bt"} <= set(front["tags"])
    assert front["datasets"] == ["Anthropic/llm_global_opinions"]
    assert "base_model" not in front  # a local backbone folder has no Hub id
    assert '"[A] Is family important?"' in text  # the exact prefix convention, shown
    assert "| community | test acc | val acc |" in text and "| A | " in text and "(n=" in text
    assert "| `max_length` | `24` |" in text
    assert "Bradley & Terry (1952)" in text and "Durmus et al. (2023)" in text


def test_load_uses_the_folders_convention(trained, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    info = json.loads((model / CARD_JSON).read_text())
    info["text"]["template"] = "<{community}> {prompt}"
    info["text"]["max_length"] = 20
    (model / CARD_JSON).write_text(json.dumps(info))
    rm = RewardModel.load(model)
    assert rm.cache.max_length == 20 and rm.communities == ["A", "B"]
    assert rm.query("q?", "A") == "<A> q?" and rm.query("q?", None) == "q?"
    # a checkpoint folder loads its model/ too; max_length given wins
    assert RewardModel.load(trained, max_length=16).cache.max_length == 16


def test_old_folder_without_card_keeps_todays_defaults(trained, tmp_path):
    ckpt = tmp_path / "old"
    shutil.copytree(trained, ckpt)
    (ckpt / "model" / CARD_JSON).unlink()
    (ckpt / "model" / CARD_README).unlink()
    assert convention(ckpt / "model").max_length == 24  # from meta.json beside it, as before
    rm = RewardModel.load(ckpt / "model")
    assert rm.card is None and rm.convention.template == DEFAULT_CONVENTION.template
    assert rm.query("q?", "A") == format_query("q?", "A") and rm.cache.max_length == 24
    new = RewardModel.load(trained / "model")
    assert rm.score("q?", "yes", community="A") == pytest.approx(new.score("q?", "yes", community="A"))
    # a bare model folder (no meta.json beside it) gets max_length 64, as before
    bare = tmp_path / "bare"
    shutil.copytree(ckpt / "model", bare)
    assert RewardModel.load(bare).cache.max_length == 64


def test_unconditioned_model_refuses_a_community(tiny_backbone, tmp_path):
    from tests.conftest import make_pairs

    g = _run(tiny_backbone, make_pairs(4), tmp_path, condition_on_community=False)
    rm = RewardModel.load(g / "model")
    assert rm.convention.conditioned is False
    assert "trained unsteered" in (g / "model" / CARD_README).read_text()
    with pytest.raises(ValueError, match="without a community prefix"):
        rm.score("q?", "yes", community="A")
    assert isinstance(rm.score("q?", "yes"), float)
    assert rm.pair_correct(make_pairs(2)).shape == (8,)


def test_card_of_a_distribution_model_tabulates_jsd_and_w1():
    from raysearch.models.card import card_info, metrics_table, render_card

    flat = {"test/jsd/Chile": 0.1234, "test/w1/Chile": 0.2, "test/jsd/Mexico": 0.3, "test/w1/Mexico": 0.4,
            "test/mean_jsd": 0.21, "test/acc/Chile": 0.6, "test/acc/Mexico": 0.7, "test/mean_acc": 0.65}
    info = card_info({"objective": "dprm", "backbone": "all-MiniLM-L6-v2", "max_length": 96}, metrics={},
                     flat=flat, epoch=1, communities=["Chile", "Mexico"], source="/data/eval.json")
    assert info["data"]["dataset"] == "Anthropic/llm_global_opinions" and info["base_model"].endswith("all-MiniLM-L6-v2")
    table = metrics_table(info)
    assert table.splitlines()[0] == "| community | test acc | test jsd | test w1 |"
    assert "| Chile | 60.0 | 0.123 | 0.200 |" in table and "| **mean** | 65.0 | 0.210 |  |" in table
    text = render_card(info)
    assert "arXiv:2402.09764" in text and '"[Chile] Is family important?"' in text and "**96** tokens" in text
