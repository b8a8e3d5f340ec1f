"""The GlobalOpinionQA side check: question choice and Jensen-Shannon distance."""

from __future__ import annotations

import pytest
import torch

from raysearch.errors import UserInputError
from raysearch.softprompt.goqa_check import goqa_survey, mean_js


def test_mean_js_closed_form() -> None:
    """The distance of ``raysearch.metrics.distribution.js_distance``, over the record's own options."""
    _, records = goqa_survey("U.S.A.", 1, seed=0)
    k = len(records[0].options)
    exact = torch.zeros(1, 5)
    exact[0, :k] = torch.tensor(records[0].distribution)
    assert mean_js(exact, records) == pytest.approx(0.0, abs=1e-7)
    one_hot = torch.zeros(1, 5)
    one_hot[0, 0] = 1.0
    assert 0.0 < mean_js(one_hot, records) <= 1.0


def test_goqa_survey_for_a_hofstede_name() -> None:
    survey, records = goqa_survey("U.S.A.", 4, seed=0)
    assert len(survey.items) == len(records) == 4
    assert all(r.community == "United States" and 2 <= len(r.options) <= 5 for r in records)
    assert goqa_survey("U.S.A.", 4, seed=0)[1] == records  # seeded choice
    probs = torch.full((4, 5), 0.2)
    assert 0.0 <= mean_js(probs, records) <= 1.0
    with pytest.raises(UserInputError, match="no question"):
        goqa_survey("Atlantis", 3, seed=0)


def test_every_hofstede_country_the_check_names_has_questions() -> None:
    """The names the error line suggests, India's current national sample, and a region as its countries."""
    from raysearch.softprompt.goqa_check import GOQA_NAMES

    for country in ("China", "India", "Mexico", "U.S.A.", *GOQA_NAMES):
        survey, records = goqa_survey(country, 40, seed=0)
        assert records, country
    _, arab = goqa_survey("Arab countries", 200, seed=0)
    assert {r.community for r in arab} == set(GOQA_NAMES["Arab countries"])  # every country of the region
    assert {r.community for r in goqa_survey("India", 5, seed=0)[1]} == {"India (Current national sample)"}
