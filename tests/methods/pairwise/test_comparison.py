"""SCPO vs its same-init baselines (``raysearch.methods.pairwise.comparison``, ``experiments/scpo_baselines.py``), tiny model."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from raysearch.data.splits import Split
from raysearch.errors import run_cli
from raysearch.methods.pairwise import comparison
from raysearch.methods.pairwise.baselines import FINETUNE, GLOBAL, PER_COMMUNITY
from raysearch.methods.pairwise.comparison import MODELS, STEERABLE, pair_correct, run_seed, summarize
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import prepare_data
from raysearch.metrics.paired import SUMMARIES
from raysearch.models.scoring import RewardModel
from raysearch.train.checkpoint import MODEL_DIR, read_meta

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
COUNTRIES = ["United States", "Chile"]


def _script():
    spec = importlib.util.spec_from_file_location("scpo_baselines", EXPERIMENTS / "scpo_baselines.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scpo_baselines"] = mod  # its dataclasses resolve their module
    spec.loader.exec_module(mod)
    return mod


def _data(per_country: int = 12):
    """Two countries of the bundled slice: 24 community and 16 global training pairs, few evaluation pairs."""
    d = prepare_data("goqa", COUNTRIES, seed=0, max_train_pairs=24, max_global_pairs=16)

    def few(pairs):
        return [p for c in COUNTRIES for p in [q for q in pairs if q.community == c][:per_country]]

    return replace(d, pairs=Split(d.pairs.train, few(d.pairs.val), few(d.pairs.test)))


def _base(backbone: str, **kw) -> PairwiseConfig:
    d = dict(backbone=backbone, epochs=1, batch_size=8, max_length=24, freeze_layers=0, log_every=100, seed=0)
    return PairwiseConfig(**{**d, **kw})


def _weights(ckpt: str | Path) -> dict[str, torch.Tensor]:
    return RewardModel.load(Path(ckpt) / MODEL_DIR).model.state_dict()


def test_one_seed_starts_from_g_keeps_communities_apart_and_is_reused(tiny_backbone, tmp_path, monkeypatch):
    """One seed end to end with a vanishing learning rate, so every model from G must still be G."""
    data = _data()
    calls: list[tuple[PairwiseConfig, list[str]]] = []
    real = comparison.train_bare

    def spy(cfg, d, **kw):
        calls.append((cfg, [p.community for p in d.train]))
        return real(cfg, d, **kw)

    monkeypatch.setattr(comparison, "train_bare", spy)
    run = run_seed(data, _base(tiny_backbone, lr=1e-12), tmp_path)
    # fine-tuning from G, per-community and steerable SCPO start from G: their weights are G's
    g = _weights(run.checkpoints[GLOBAL])
    g_model = str(Path(run.checkpoints[GLOBAL]) / MODEL_DIR)
    for name, ckpt in run.checkpoints.items():
        if name == GLOBAL:
            continue
        assert read_meta(ckpt)["config"]["init_from"] == g_model, name
        w = _weights(ckpt)
        assert w.keys() == g.keys() and all(torch.allclose(w[k], g[k], atol=1e-6) for k in g), name
    ft_plain = pair_correct(Path(run.checkpoints[FINETUNE]), data.pairs.val, conditioned=False, max_length=24)
    assert np.array_equal(ft_plain, run.correct["val"][GLOBAL])  # without its prefix it ranks as G does
    # G: BT on global pairs, no prefix; fine-tuning and steerable SCPO: every community, with the prefix
    kinds = {(cfg.objective, cfg.condition_on_community, bool(cfg.init_from)): comms for cfg, comms in calls}
    assert kinds[("bt", False, False)] == ["global"] * 16
    assert sorted(set(kinds[("bt", True, True)])) == sorted(set(kinds[("scpo", True, True)])) == sorted(COUNTRIES)
    # each per-community model saw only its own country's pairs, all of them
    per = [comms for cfg, comms in calls if cfg.objective == "scpo" and not cfg.condition_on_community]
    assert sorted(c for comms in per for c in set(comms)) == sorted(COUNTRIES) and all(len(set(c)) == 1 for c in per)
    for c in COUNTRIES:
        assert run.trained_on[f"{PER_COMMUNITY}/{c}"] == [c]
        n_own = sum(p.community == c for p in data.pairs.train)
        assert read_meta(run.checkpoints[f"{PER_COMMUNITY}/{c}"])["flat"]["scpo/n_pairs"] == n_own
    for s in ("val", "test"):
        n = len(getattr(data.pairs, s))
        assert list(run.correct[s]) == list(MODELS) and all(v.shape == (n,) for v in run.correct[s].values())
    # the summary has every statistic, and a model against itself has a 0 interval
    summ = summarize([run], data.pairs.test, "test", n_boot=200)
    assert set(summ.vs_global.stats) == set(COUNTRIES) | set(SUMMARIES)
    for paired, ref in ((summ.vs_global, GLOBAL), (summ.vs_finetune, FINETUNE)):
        for k in paired.stats:
            d = paired.difference[ref][k]
            assert d.value == d.low == d.high == 0.0
            assert all(np.isfinite(paired.accuracy[m][k].value) for m in MODELS)
    assert summ.seed_std[STEERABLE] == {"mean": 0.0, "worst": 0.0}  # one seed: no spread
    # the same config, data and G again: every stage is reused, with the same correctness
    monkeypatch.setattr(comparison, "train_bare", lambda *a, **k: pytest.fail("a finished stage was retrained"))
    again = run_seed(data, _base(tiny_backbone, lr=1e-12), tmp_path)
    assert all(np.array_equal(run.correct["test"][m], again.correct["test"][m]) for m in MODELS)


@pytest.mark.slow
def test_script_end_to_end_writes_both_tables(tiny_backbone, tmp_path):
    """Two seeds through the script: both splits, both references, the seed-averaged (fractional) headline."""
    mod = _script()
    out = tmp_path / "out"
    assert mod.main(["--smoke-test", "--backbone", tiny_backbone, "--seeds", "0", "1", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    for stat in [*COUNTRIES, "**mean**", "**worst community**", "**majority**", "**minority**"]:
        assert table.count(f"| {stat} |") == 4, stat  # test and val, against G and against fine-tuning
    assert f"{STEERABLE} − {FINETUNE}" in table and f"{PER_COMMUNITY} − {GLOBAL}" in table
    assert "nothing was chosen on validation or test" in table
    res = json.loads((out / "results.json").read_text())
    assert res["seeds"] == [0, 1] and set(res["splits"]) == {"test", "val"}
    self_diff = res["splits"]["test"]["vs_finetune"]["difference"][FINETUNE]
    assert all(v["value"] == v["low"] == v["high"] == 0 for v in self_diff.values())
    assert not list(out.glob("*.tmp"))
    per_seed = res["splits"]["test"]["per_seed"][STEERABLE]
    headline = res["splits"]["test"]["vs_global"]["accuracy"][STEERABLE]["mean"]["value"]
    assert headline == pytest.approx((per_seed["0"]["mean"] + per_seed["1"]["mean"]) / 2)


def test_bad_flags_are_one_line(capsys):
    mod = _script()
    for argv, needle in ((["--budget", "huge"], "--budget 'huge' is unknown"),
                         (["--seeds", "1", "1"], "seeds must be distinct"),
                         (["--threads", "0"], "--threads 0 must be >= 1")):
        with pytest.raises(SystemExit) as e:
            run_cli(mod.main, argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


def test_unknown_split_is_a_user_error(tiny_backbone, tmp_path):
    with pytest.raises(ValueError, match="split 'dev' is unknown"):
        run_seed(_data(), replace(_base(tiny_backbone)), tmp_path, splits=("dev",))


def test_data_efficiency_shares_are_nested_and_seeded(experiment_script):
    mod = experiment_script("scpo_data_efficiency")
    sub = mod.nested_subsets(100, [0.1, 0.25, 1.0], seed=3)
    assert [len(v) for v in sub.values()] == [10, 25, 100]
    assert set(sub[0.1]) <= set(sub[0.25]) <= set(sub[1.0])
    assert np.array_equal(sub[0.25], mod.nested_subsets(100, [0.1, 0.25, 1.0], seed=3)[0.25])
    assert not np.array_equal(sub[0.25], mod.nested_subsets(100, [0.1, 0.25, 1.0], seed=4)[0.25])


@pytest.mark.slow
def test_data_efficiency_script_end_to_end(tiny_backbone, tmp_path, experiment_script, monkeypatch):
    """Two shares, one seed: both models per share from one G, the tables, the ratio column and the plot."""
    mod = experiment_script("scpo_data_efficiency")
    out = tmp_path / "eff"
    argv = ["--smoke-test", "--backbone", tiny_backbone, "--seeds", "0", "--out", str(out), "--plot", str(out / "p.png")]
    assert mod.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["shares"] == [0.25, 1.0] and res["n_pairs"] == {"0.25": 16, "1": 64}
    recorded = res["train_seconds"]["0"]  # each model's training time as recorded when it trained
    assert set(recorded) == {GLOBAL} | {f"{m}/{f}" for m in (FINETUNE, STEERABLE) for f in ("0.25", "1")}
    assert all(v > 0 for v in recorded.values())
    acc = res["summaries"]["test"]["accuracy"]
    assert set(acc) == {f"{m}@{f}" for m in (FINETUNE, STEERABLE) for f in ("0.25", "1")} | {GLOBAL}
    assert (out / "seed-0" / "global" / "FINGERPRINT").is_file()
    for share in ("share-25", "share-100"):
        for m in ("finetune", "steerable"):
            assert (out / "seed-0" / share / m / "FINGERPRINT").is_file()
    table = (out / "table.md").read_text()
    assert table.count("pairs FT needs to equal SCPO") == 6  # test and val x mean, minority, majority
    assert "Recorded training time of every model, whenever it was trained, per seed: 0: " in table
    assert (out / "p.png").stat().st_size > 0 and not list(out.glob("*.tmp"))
    # the baselines script at the same budget shares this G (--g-dir): it trains every model but G
    trained: list[PairwiseConfig] = []
    real = comparison.train_bare

    def no_g(cfg, d, **kw):
        assert cfg.init_from, "the shared G was retrained"
        trained.append(cfg)
        return real(cfg, d, **kw)

    monkeypatch.setattr(comparison, "train_bare", no_g)
    base = _script()
    assert base.main(["--smoke-test", "--backbone", tiny_backbone, "--seeds", "0", "--g-dir", str(out),
                      "--out", str(tmp_path / "base")]) == 0
    assert len(trained) == 2 + 2  # fine-tuning, steerable SCPO, one per-community SCPO per country
    g_model = str(out / "seed-0" / "global" / "epoch-1" / MODEL_DIR)
    assert {c.init_from for c in trained} == {g_model} and not (tmp_path / "base" / "seed-0" / "global").exists()


def test_data_efficiency_bad_shares_are_one_line(capsys, experiment_script):
    mod = experiment_script("scpo_data_efficiency")
    with pytest.raises(SystemExit) as e:
        run_cli(mod.main, ["--shares", "0.5", "0.25"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shares must increase within (0, 1]" in err[0], err


def test_a_shared_g_of_another_config_is_refused_before_training(tmp_path, capsys, experiment_script):
    """--g-dir pointing at a G of another budget would be overwritten (and its downstream models orphaned)."""
    g = tmp_path / "seed-0" / "global"
    g.mkdir(parents=True)
    (g / "FINGERPRINT").write_text("0" * 16)
    for mod in (_script(), experiment_script("scpo_data_efficiency")):
        with pytest.raises(SystemExit) as e:
            run_cli(mod.main, ["--smoke-test", "--seeds", "0", "--g-dir", str(tmp_path), "--out", str(tmp_path / "o")])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--g-dir: {g} holds a G of another config" in err[0], err
    assert (g / "FINGERPRINT").read_text() == "0" * 16 and not (tmp_path / "o" / "seed-0").exists()
    comparison.check_shared_g(PairwiseConfig(), comparison.TrainData([]), tmp_path / "empty")  # nothing there: fine
