"""The VSM 2013 survey file and its index formulas, against hand-computed values.

The formulas are the VSM 2013 Manual's (Hofstede & Minkov 2013), written out in
raysearch/softprompt/vsm2013.yaml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from raysearch.errors import UserInputError
from raysearch.softprompt.survey import bundled_survey_path, load_survey


def test_bundled_survey_has_24_items_on_five_point_scales() -> None:
    survey = load_survey()
    assert survey.numbers == list(range(1, 25))
    assert all(len(item.options) == 5 for item in survey.items)
    assert [d.code for d in survey.dimensions] == ["PDI", "IDV", "MAS", "UAI", "LTO", "IVR"]
    assert "Minkov" in survey.citation
    assert survey.items[0].options[0] == "of utmost importance"
    assert survey.items[20].options == (
        "strongly agree",
        "agree",
        "undecided",
        "disagree",
        "strongly disagree",
    )


def test_neutral_respondent_scores_the_constant() -> None:
    survey = load_survey()
    assert torch.allclose(survey.indices(torch.full((24,), 3.0)), torch.full((6,), 50.0).double())
    custom = survey.with_constants({"PDI": 0.0, "IVR": 100.0})
    out = custom.indices(torch.full((24,), 3.0))
    assert out[0] == 0.0 and out[5] == 100.0 and out[1] == 50.0


def test_index_formulas_by_hand() -> None:
    survey = load_survey()
    m = {k: 3.0 for k in range(1, 25)}
    m.update({7: 2.0, 2: 1.5, 20: 4.0, 23: 2.0})  # PDI = 35(2-1.5) + 25(4-2) + 50 = 117.5
    m.update({4: 1.0, 1: 2.0, 9: 3.5, 6: 3.0})  # IDV = 35(1-2) + 35(3.5-3) + 50 = 32.5
    m.update({5: 2.2, 3: 2.0, 8: 1.0, 10: 2.0})  # MAS = 35(0.2) + 35(-1) + 50 = 22
    m.update({18: 2.0, 15: 3.0, 21: 4.0, 24: 3.0})  # UAI = 40(-1) + 25(1) + 50 = 35
    m.update({13: 1.0, 14: 2.5, 19: 1.0, 22: 2.0})  # LTO = 40(-1.5) + 25(-1) + 50 = -35
    m.update({12: 3.0, 11: 2.0, 17: 2.5, 16: 2.0})  # IVR = 35(1) + 40(0.5) + 50 = 105
    means = torch.tensor([m[k] for k in range(1, 25)])
    expected = torch.tensor([117.5, 32.5, 22.0, 35.0, -35.0, 105.0], dtype=torch.float64)
    assert torch.allclose(survey.indices(means), expected)
    # batched: (P, 24) -> (P, 6)
    assert survey.indices(torch.stack([means, means])).shape == (2, 6)


def _write_variant(tmp_path: Path, drop: int | None = None, **changes: object) -> Path:
    data = yaml.safe_load(bundled_survey_path().read_text())
    if drop is not None:
        data["items"] = [i for i in data["items"] if i["number"] != drop]
    data.update(changes)
    path = tmp_path / "survey.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_missing_item_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="PDI formula uses item 7"):
        load_survey(_write_variant(tmp_path, drop=7))


def test_bad_scale_and_missing_file(tmp_path: Path) -> None:
    data = yaml.safe_load(bundled_survey_path().read_text())
    data["scales"]["importance"] = ["a", "b", "c"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserInputError, match="exactly 5 labels"):
        load_survey(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_survey(tmp_path / "nope.yaml")


def test_non_numbers_are_user_errors(tmp_path: Path) -> None:
    data = yaml.safe_load(bundled_survey_path().read_text())
    data["items"][0]["number"] = "one"
    with pytest.raises(UserInputError, match=r"item #1's number is 'one'; give a number"):
        load_survey(_write_variant(tmp_path, items=data["items"]))
    dims = yaml.safe_load(bundled_survey_path().read_text())["dimensions"]
    dims["PDI"]["terms"][0][0] = "heavy"
    with pytest.raises(UserInputError, match=r"a PDI weight is 'heavy'; give a number"):
        load_survey(_write_variant(tmp_path, dimensions=dims))


def test_item_renders_number_labels() -> None:
    text = load_survey().items[14].render("Reply with one number from 1 to 5.")
    assert "nervous" in text and "1 = always" in text and "5 = never" in text
