"""Community and country names: case-insensitive, by alias, and an unknown name gives a few close matches."""

from __future__ import annotations

import pytest

from raysearch.data.goqa import check_communities, goqa_pairs, load_goqa
from raysearch.data.names import MAX_SUGGESTIONS, resolve_name, resolve_names
from raysearch.errors import UserInputError


@pytest.fixture(scope="module")
def goqa():
    return load_goqa()


@pytest.mark.parametrize(("typed", "name"), [
    ("new zealand", "New Zealand"), ("  NEW   zealand ", "New Zealand"), ("usa", "United States"),
    ("U.S.A.", "United States"), ("US", "United States"), ("America", "United States"),
    ("uk", "Britain"), ("United Kingdom", "Britain"),
    ("great britain", "Great Britain"),  # the data has both Pew's "Britain" and WVS's "Great Britain"
    ("south korea", "South Korea"), ("korea", "South Korea"), ("Czech Republic", "Czechia"),
])
def test_goqa_names_resolve(goqa, typed, name) -> None:
    assert resolve_name(typed, goqa.communities) == name


def test_check_communities_returns_the_data_names(goqa) -> None:
    assert check_communities(goqa, ["new zealand", "usa", "United States"]) == ["New Zealand", "United States"]
    pairs, _ = goqa_pairs(goqa, ["usa"])
    assert pairs and {p.community for p in pairs} == {"United States"}


def test_an_unknown_name_gives_a_few_close_matches_in_one_short_line(goqa) -> None:
    with pytest.raises(UserInputError) as err:
        check_communities(goqa, ["Chile", "Neu Zealand"])
    msg = str(err.value)
    assert "unknown community 'Neu Zealand'" in msg and "'New Zealand'" in msg
    assert "\n" not in msg and len(msg) < 300 and msg.count("'") <= 2 * (MAX_SUGGESTIONS + 1)
    with pytest.raises(UserInputError, match=r"no close match \(129 names"):
        check_communities(goqa, ["Xqzzy"])


def test_a_small_source_lists_its_names() -> None:
    with pytest.raises(UserInputError, match=r"unknown community 'Peru' in the data; available: Chile, Kenya"):
        resolve_names(["Peru"], ["Kenya", "Chile"])


def test_hofstede_countries_resolve_by_alias() -> None:
    from raysearch.softprompt.hofstede import country_targets, resolve_country

    assert resolve_country("usa") == resolve_country("United States") == "U.S.A."
    assert resolve_country("uk") == "Great Britain" and resolve_country("new zealand") == "New Zealand"
    assert country_targets("usa") == country_targets("U.S.A.")
    with pytest.raises(UserInputError) as err:
        resolve_country("Neu Zealand")
    assert "'New Zealand'" in str(err.value) and len(str(err.value)) < 300
