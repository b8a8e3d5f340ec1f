"""DPRM evaluation hygiene: the leave-one-out global reference and the question-collision count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from raysearch.data.goqa import global_distributions, leave_one_out_global
from raysearch.data.records import DistributionRecord
from raysearch.errors import UserInputError
from raysearch.methods.dprm.collisions import count_collisions, shortest_collision_free
from raysearch.methods.dprm.config import DEFAULT_MAX_LENGTH, DprmConfig
from raysearch.methods.dprm.data import LOO_GLOBAL, has_reference, loo_global_prediction, prepare, reference_predictors
from raysearch.methods.dprm.search import REFERENCES
from raysearch.models.backbone import minilm_path

OPTS = ("yes", "no", "unsure")


def drec(country: str, question: str, dist: tuple[float, ...], options: tuple[str, ...] = OPTS) -> DistributionRecord:
    return DistributionRecord(prompt=question, options=options, distribution=dist, community=country, group=question)


def test_reference_never_uses_the_target_country() -> None:
    records = [drec("A", "q1", (0.6, 0.3, 0.1)), drec("B", "q1", (0.2, 0.2, 0.6)), drec("C", "q1", (0.1, 0.5, 0.4))]
    loo = leave_one_out_global(records)
    changed = leave_one_out_global([drec("A", "q1", (0.0, 0.0, 1.0)), *records[1:]])
    assert changed[("A", "q1")] == loo[("A", "q1")]  # A's own answers do not move A's reference
    assert changed[("B", "q1")] != loo[("B", "q1")]  # but they are part of B's
    assert loo[("A", "q1")].distribution == pytest.approx((0.15, 0.35, 0.5))  # mean of B and C
    assert loo_global_prediction(records[0], loo) == pytest.approx([0.15, 0.35, 0.5])
    # the non-leave-one-out helper (SCPO's global pairs) is unchanged: all three countries
    assert global_distributions(records)[0].distribution == pytest.approx((0.3, 1 / 3, 11 / 30))


def test_two_countries_reference_is_the_other_one_and_a_lone_country_has_none() -> None:
    a, b = drec("A", "q", (0.7, 0.2, 0.1)), drec("B", "q", (0.1, 0.3, 0.6))
    lone = drec("A", "only A", (0.5, 0.25, 0.25))
    loo = leave_one_out_global([a, b, lone])
    assert loo_global_prediction(a, loo) == pytest.approx(list(b.distribution))
    assert loo_global_prediction(b, loo) == pytest.approx(list(a.distribution))
    assert ("A", "only A") not in loo and not has_reference(lone, loo)
    assert loo_global_prediction(lone, loo) == pytest.approx([1 / 3] * 3)  # stated fallback: uniform


def test_reference_on_options_the_others_lack() -> None:
    a = drec("A", "q", (0.5, 0.5), options=("x", "y"))
    b = drec("B", "q", (0.2, 0.8), options=("y", "z"))  # shares only "y" with A
    loo = leave_one_out_global([a, b])
    assert loo_global_prediction(a, loo) == pytest.approx([0.0, 1.0])  # x: none of the others, y: all of B's y
    c = drec("C", "q", (0.5, 0.5), options=("u", "v"))
    assert not has_reference(c, leave_one_out_global([c, b]))  # others answered, but none of C's options


def _goqa(tmp_path: Path) -> str:
    rows = []
    for q in range(10):
        for c, d in (("A", [0.7, 0.2, 0.1]), ("B", [0.5, 0.3, 0.2]), ("C", [0.4, 0.3, 0.3])):
            rows.append({"country": c, "question": f"question {q}: how much does topic {q} matter?",
                         "options": ["a lot", "some", "not at all"], "distribution": d})
    rows.append({"country": "A", "question": "only A was asked this", "options": ["a lot", "some"],
                 "distribution": [0.9, 0.1]})
    p = tmp_path / "goqa.json"
    p.write_text(json.dumps(rows))
    return str(p)


def test_prepared_data_reference_is_leave_one_out(tmp_path: Path) -> None:
    data, notes = prepare(_goqa(tmp_path), ["A", "B"], None, seed=0)
    assert REFERENCES == (LOO_GLOBAL, "uniform") and set(reference_predictors(data)) == set(REFERENCES)
    for rec in [*data.records.train, *data.records.val, *data.records.test]:
        if rec.group == "only A was asked this":
            assert (rec.community, rec.group) not in data.loo_global
            continue
        others = [r for r in ("A", "B", "C") if r != rec.community]  # C is in the source, not trained on
        expected = {"A": (0.7, 0.2, 0.1), "B": (0.5, 0.3, 0.2), "C": (0.4, 0.3, 0.3)}
        mean = [sum(expected[o][k] for o in others) / 2 for k in range(3)]
        assert reference_predictors(data)[LOO_GLOBAL](rec) == pytest.approx(mean)
    lone_in_eval = any(r.group == "only A was asked this" for recs in data.eval_splits().values() for r in recs)
    assert lone_in_eval == any("1 of" in n and "no leave-one-out global reference" in n for n in notes)


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(minilm_path())


def _q(country: str, question: str) -> DistributionRecord:
    return drec(country, question, (0.5, 0.3, 0.2))


def test_collisions_counted_after_truncation(tok) -> None:
    stem = "How important is it for you personally to live in a country that is governed democratically, " * 2
    recs = [_q("Chile", stem + "in the north?"), _q("Chile", stem + "in the south?"), _q("Chile", "Short question?"),
            _q("Mexico", stem + "in the north?")]
    short = count_collisions(tok, recs, max_length=24)
    assert short.colliding == frozenset({stem + "in the north?", stem + "in the south?"})
    assert short.n_colliding == 2 and short.questions == 3 and short.texts == 12 and short.truncated_texts == 9
    assert "2 of 3 questions collide" in short.summary()
    full = count_collisions(tok, recs, max_length=128)
    assert full.n_colliding == 0 and full.truncated_texts == 0
    assert shortest_collision_free(tok, recs, [24, 32, 128, 256]) == 128
    assert shortest_collision_free(tok, recs, [16, 24]) is None
    # one question asked of two countries is not a collision (its texts differ only by the prefix)
    assert count_collisions(tok, [recs[0], recs[3]], max_length=24).n_colliding == 0
    # without the country prefix the same-question records still count one question, never a collision
    assert count_collisions(tok, [recs[0], recs[3]], max_length=24, conditioned=False).n_colliding == 0


def test_bad_length_is_a_user_error(tok) -> None:
    with pytest.raises(UserInputError, match="max_length=1"):
        count_collisions(tok, [_q("Chile", "q")], max_length=1)


def test_default_length_has_no_collisions_on_the_bundled_countries(tok) -> None:
    data, _ = prepare("goqa", None, None, seed=0)
    records = [*data.records.train, *data.records.val, *data.records.test]
    assert DprmConfig().max_length == DEFAULT_MAX_LENGTH == 96
    assert count_collisions(tok, records, max_length=DEFAULT_MAX_LENGTH).n_colliding == 0
    assert count_collisions(tok, records, max_length=40).n_colliding == 104  # the old experiment's length
