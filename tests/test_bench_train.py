"""benchmarks/bench_train.py runs end to end at its smallest size (tiny models from configs, a few steps).

Only that it runs and that every contender trained the same pairs on the same token ids is checked;
no time or rate is asserted. The TRL contenders run where ``trl`` is importable (``.[bench]``)
and are reported as skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def _trl_importable() -> bool:
    return importlib.util.find_spec("trl") is not None


def _epoch_totals(runs: list[dict], key: str) -> int:
    return sum(s[key] for s in runs[0]["steps"])


def test_quick_cpu_run_compares_every_contender_on_the_same_pairs(bench, tmp_path):
    out = tmp_path / "bench.json"
    res = bench.main(["--quick", "--tiny", "--profile", "--profile-contenders", "plain,trl-defaults,ours", "--out", str(out)])
    assert json.loads(out.read_text())["results"][0]["model"] == "minilm"
    r = res["results"][0]
    names = r["contenders"]
    assert {"plain", "ours"} <= set(names)
    if _trl_importable():
        assert {"trl-matched", "trl-defaults"} <= set(names)
        defaults = r["table"]["trl-defaults"]["config"]
        assert "bf16" in defaults and "gradient_checkpointing" in defaults  # what TRL picked is recorded
        assert r["table"]["trl-matched"]["config"]["gradient_checkpointing"] is False
    else:
        assert set(r["skipped"]) >= {"trl-matched", "trl-defaults"}
    # every contender trained every pair once: the same pair tokens over the epoch
    pair_tokens = {n: _epoch_totals(r["runs"][n], "pair_tokens") for n in names}
    assert len(set(pair_tokens.values())) == 1, pair_tokens
    for n in names:
        row = r["table"][n]
        assert row["pairs_per_s"][0] > 0 and row["tokens_per_s"][0] > 0 and math.isfinite(row["mfu"][0])
        assert math.isfinite(row["mean_loss"])
        assert len(r["runs"][n][0]["steps"]) == 3
    assert r["ratios"]["ours"]["plain"]["mean"] > 0
    if "ours-dedup" in names:  # grouped batches repeat texts, which dedup encodes once
        assert _epoch_totals(r["runs"]["ours-dedup"], "encoded_tokens") < _epoch_totals(r["runs"]["ours"], "encoded_tokens")
    assert {p["contender"] for p in r["profile"]} == {n for n in names if n in ("plain", "trl-defaults", "ours")}
    assert all(p["top"] and abs(sum(p["by_kind"].values()) - 1) < 1e-6 for p in r["profile"])
    assert res["load_average_before"] and res["load_average_after"]


def test_quick_llama_from_a_config(bench, tmp_path):
    res = bench.main(["--quick", "--tiny", "--model", "llama-1b", "--contenders", "plain,ours"])
    r = res["results"][0]
    assert r["model"] == "llama-1b" and r["contenders"] == ["plain", "ours"]
    assert r["model_shape"]["layers"] == 2 and r["table"]["ours"]["pairs_per_s"][0] > 0


def test_missing_trl_is_a_skip_with_a_reason(bench, monkeypatch):
    monkeypatch.setattr(bench, "trl_available", lambda: "trl is not importable")
    names, skipped = bench.select_contenders(["plain", "trl-matched", "ours"], bench.torch.device("cpu"))
    assert names == ["plain", "ours"] and skipped == {"trl-matched": "trl is not importable"}
