"""Hofstede targets: the bundled 2015 matrix, close-match errors, countries without scores."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from raysearch.errors import UserInputError
from raysearch.softprompt.hofstede import bundled_targets_path, country_targets, load_scores


def test_bundled_copy_is_the_published_file() -> None:
    """The checksum recorded in raysearch/softprompt/SOURCE.md: the scores were not edited."""
    digest = hashlib.sha256(bundled_targets_path().read_bytes()).hexdigest()
    assert digest == "e4a1f874f6023fc43eb3276ee075daab605c2954d4a99f41fc52f273ca4dcd6c"
    assert len(load_scores()) == 110


def test_known_countries() -> None:
    assert country_targets("U.S.A.") == {
        "PDI": 40,
        "IDV": 91,
        "MAS": 62,
        "UAI": 46,
        "LTO": 26,
        "IVR": 68,
    }
    assert country_targets("china")["LTO"] == 87  # case-insensitive
    assert country_targets("Albania") == {"LTO": 61, "IVR": 15}  # missing scores skipped


def test_unknown_country_lists_close_matches() -> None:
    with pytest.raises(UserInputError, match=r"unknown country 'Chnia'.*China"):
        country_targets("Chnia")


def test_country_without_scores(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        "ctr;country;pdi;idv;mas;uai;ltowvs;ivr\n"
        "AAA;Atlantis;#NULL!;#NULL!;#NULL!;#NULL!;#NULL!;#NULL!\n"
        "BBB;Borduria;50;50;50;50;50;50\n"
    )
    with pytest.raises(UserInputError, match=r"'Atlantis' has no Hofstede score.*Borduria"):
        country_targets("Atlantis", path=path)
    with pytest.raises(UserInputError, match="no Hofstede score"):
        country_targets("Albania", dimensions=["PDI", "IDV"])
    path.write_text("ctr;country;pdi\nAAA;Atlantis;high\n")
    with pytest.raises(UserInputError, match=r"pdi of 'Atlantis' is 'high'; give a number"):
        country_targets("Atlantis", path=path)
