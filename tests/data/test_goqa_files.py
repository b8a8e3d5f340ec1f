"""GlobalOpinionQA files: the release's schema reads like the per-country JSON; bad records skipped or, strict, one line."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest

from raysearch.data.goqa import load_goqa
from raysearch.data.goqa_files import RAW_SUM_TOL, read_rows
from raysearch.errors import UserInputError, run_cli

OPTIONS = ["Yes", "No", "Don't know"]
SHARES = {
    "Q1": {"Belgium": [0.6, 0.3, 0.1], "France": [0.2, 0.7, 0.1]},
    "Q2": {"Belgium": [0.45, 0.55, 0.0], "New Zealand": [0.301, 0.698, 0.0]},  # 0.999: rounding, kept
}


def release_row(question: str, selections: dict[str, list[float]], options: list[str] = OPTIONS,
                raw_selections: str | None = None) -> dict[str, Any]:
    """A record as ``Anthropic/llm_global_opinions`` publishes it: options and selections as Python text."""
    body = "{" + ", ".join(f"{c!r}: [{', '.join(repr(x) for x in v)}]" for c, v in selections.items()) + "}"
    return {"question": question, "selections": raw_selections or f"defaultdict(<class 'list'>, {body})",
            "options": repr(options), "source": "GAS"}


def per_country(question: str, country: str, shares: list[float], options: list[str] = OPTIONS) -> dict[str, Any]:
    return {"country": country, "question": question, "options": options, "distribution": shares}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    name = path.name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif name.endswith(".csv"):
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    elif name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            json.dump(rows, fh)
    else:
        path.write_text(json.dumps(rows))
    return path


def _dists(data) -> dict[tuple[str, str], tuple[tuple[str, ...], tuple[float, ...]]]:
    return {(r.community, r.group): (r.options, r.distribution) for r in data.records}


@pytest.mark.parametrize("name", ["release.json", "release.jsonl", "release.csv", "release.parquet", "release.json.gz"])
def test_the_release_schema_reads_like_the_per_country_json(tmp_path: Path, name: str) -> None:
    ref = load_goqa(_write(tmp_path / "eval.json",
                           [per_country(q, c, v) for q, sel in SHARES.items() for c, v in sel.items()]))
    got = load_goqa(_write(tmp_path / name, [release_row(q, sel) for q, sel in SHARES.items()]))
    assert len(ref.records) == 4 and got.communities == ref.communities == {"Belgium": 2, "France": 1, "New Zealand": 1}
    assert _dists(got).keys() == _dists(ref).keys()
    for key, (options, dist) in _dists(ref).items():
        assert _dists(got)[key][0] == options == ("Yes", "No")  # "Don't know" dropped
        assert _dists(got)[key][1] == pytest.approx(dist)
    assert _dists(got)[("Belgium", "Q1")][1] == pytest.approx((2 / 3, 1 / 3))
    assert got.skipped_invalid == 0 and "invalid" not in got.summary()


BAD = [  # (record, the problem it must be skipped for)
    (release_row("Q3", {}, raw_selections="defaultdict(<class 'list'>, {'Chile': [nan, 0.5, 0.5]})"), "nan"),
    (release_row("Q4", {"Chile": [0.7, -0.1, 0.4]}), "-0.1"),
    (release_row("Q5", {"Chile": [0.5, 0.5]}), "3 options but 2 shares"),
    (release_row("Q6", {"Chile": [0.5, 0.4, 0.0]}), "sums to 0.9000"),
    (release_row("Q7", {}, raw_selections="{'Chile': [0.5, 0.5"), "has selections"),
]


def test_invalid_records_are_skipped_and_counted(tmp_path: Path) -> None:
    good = release_row("Q1", SHARES["Q1"])
    data = load_goqa(_write(tmp_path / "release.json", [good, *[r for r, _ in BAD]]))
    assert data.communities == {"Belgium": 1, "France": 1}  # every Chile row was bad
    assert data.skipped_invalid == len(BAD)
    summary = data.summary()
    assert f"skipped {len(BAD)} invalid records (first: record 1 (Chile) has the share nan" in summary
    assert "--strict" in summary


def test_a_per_country_nan_and_a_mismatch_are_skipped_too(tmp_path: Path) -> None:
    rows = [per_country("Q1", "Chile", [0.5, math.nan, 0.5]), per_country("Q2", "Chile", [0.5, 0.5]),
            per_country("Q3", "Chile", [0.5, 0.4, 0.1])]
    data = load_goqa(_write(tmp_path / "eval.json", rows))  # json.dumps writes NaN, json.load reads it
    assert data.skipped_invalid == 2 and data.communities == {"Chile": 1}


@pytest.mark.parametrize(("record", "problem"), BAD)
def test_strict_stops_at_the_record_in_one_line(tmp_path: Path, record: dict, problem: str) -> None:
    path = _write(tmp_path / "release.json", [release_row("Q1", SHARES["Q1"]), release_row("Q2", SHARES["Q2"]), record])
    with pytest.raises(UserInputError) as err:
        load_goqa(path, strict=True)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "record 2" in msg and problem in msg and len(msg) < 400


def test_the_bundled_slice_passes_every_check() -> None:
    data = load_goqa()
    assert data.skipped_invalid == 0 and len(data.records) == 2093
    from raysearch.data.goqa import bundled_path

    rows = read_rows(bundled_path())
    assert max(abs(sum(r.shares) - 1) for r in rows) <= RAW_SUM_TOL / 3  # the tolerance has room over rounding


def test_strict_through_the_train_cli_is_one_line(tmp_path: Path, capsys) -> None:
    from raysearch.train.__main__ import main

    rows = [release_row(q, sel) for q, sel in SHARES.items()] + [release_row("Q9", {"Chile": [0.5, -0.5, 1.0]})]
    path = _write(tmp_path / "release.csv", rows)
    with pytest.raises(SystemExit) as e:
        run_cli(main, ["scpo", "--data", str(path), "--strict", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: GlobalOpinionQA record 2 (Chile)") and str(path) in err and "-0.5" in err
    assert not (tmp_path / "out").exists()
