"""The six cultural dimensions chart: the data it draws comes from the report's table and intervals."""

import json

import numpy as np
import pytest

from raysearch.softprompt.report import ROWS, build_report, dimension_chart, plot_dimensions, write_report
from raysearch.softprompt.rescore import summarize

DIMS = ["PDI", "IDV", "MAS", "UAI", "LTO", "IVR"]
TARGETS = {"PDI": 80.0, "IDV": 20.0, "MAS": 66.0, "UAI": 30.0, "LTO": 87.0}  # no IVR score: drawn without target
PNG = b"\x89PNG\r\n\x1a\n"


def _expected_report():
    results = {name: {"indices": {d: 40.0 + 5 * k + i for i, d in enumerate(DIMS)}, "means": [3.0] * 24,
                      "loss": 150.0 - 10 * k} for k, name in enumerate(ROWS)}
    return build_report(country="China", targets=TARGETS, dimensions=DIMS, results=results, history=[170.0, 150.0, 130.0],
                        config={"model": "tiny", "optimizer": "twopointsde"}, elapsed_s=1.0)


def _sample_report(draws=12):
    rng = np.random.default_rng(0)
    per_draw = {name: {"losses": rng.normal(150 - 10 * k, 20, draws).tolist(),
                       "indices": rng.normal(50 + 5 * k, 12, (draws, len(DIMS))).tolist(), "means": [3.0] * 24}
                for k, name in enumerate(ROWS)}
    fresh = summarize(per_draw, DIMS, list(range(100, 100 + draws)), seed=0)
    return build_report(country="China", targets=TARGETS, dimensions=DIMS, results={}, history=[170.0, 150.0],
                        config={"model": "tiny"}, elapsed_s=1.0, fresh=fresh)


def test_expected_mode_chart_is_the_table_without_intervals():
    report = _expected_report()
    chart = dimension_chart(report)
    assert chart["dimensions"] == DIMS and chart["target"] == [80.0, 20.0, 66.0, 30.0, 87.0, None]
    for name in ROWS:
        assert chart["prompts"][name]["value"] == [row[name] for row in report["table"]]
        assert chart["prompts"][name]["low"] is None and chart["prompts"][name]["high"] is None
    assert chart["l1"] == {"naive": 150.0, "persona": 140.0, "optimized": 130.0}
    assert "no interval" in chart["interval"]


def test_sample_mode_chart_carries_the_fresh_draw_intervals():
    report = json.loads(json.dumps(_sample_report()))  # as read back from report.json
    chart = dimension_chart(report)
    for name in ROWS:
        iv = report["fresh"]["prompts"][name]["indices_interval"]
        p = chart["prompts"][name]
        assert p["value"] == pytest.approx([np.mean(np.array(report["fresh"]["prompts"][name]["draw_indices"])[:, i])
                                            for i in range(len(DIMS))])
        assert p["low"] == [iv[d]["low"] for d in DIMS] and p["high"] == [iv[d]["high"] for d in DIMS]
        assert all(lo <= v <= hi for lo, v, hi in zip(p["low"], p["value"], p["high"], strict=True))
    assert "12 fresh draws" in chart["interval"] and "95% bootstrap" in chart["interval"]


@pytest.mark.parametrize("make", [_expected_report, _sample_report])
def test_plot_and_write_report_give_dimensions_png(tmp_path, make):
    report = make()
    data = plot_dimensions(report, tmp_path / "d.png").read_bytes()
    assert data[:8] == PNG and len(data) > 5_000
    paths = write_report(report, tmp_path / "run")
    assert paths["dimensions"].name == "dimensions.png" and paths["dimensions"].read_bytes()[:8] == PNG
