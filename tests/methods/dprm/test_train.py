"""The DPRM method in training: session on the shared runner, determinism, exact resume, shared question split, bad input, CLI."""

import argparse
import json
from pathlib import Path

import pytest
import torch

from raysearch.errors import UserInputError, run_cli
from raysearch.methods.dprm import METHOD
from raysearch.methods.dprm.config import DprmConfig
from raysearch.methods.dprm.data import prepare
from raysearch.methods.dprm.step import train_bare
from raysearch.methods.pairwise.data import prepare_data
from raysearch.models.backbone import load_reward_model


@pytest.fixture(scope="module")
def quiet_backbone(tmp_path_factory) -> str:
    """The conftest's tiny BERT without dropout: a random 2-layer model's option representations differ by
    ~1e-3, which dropout noise drowns; a distribution (unlike a pairwise order) needs them amplified."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from raysearch.models.backbone import minilm_path

    out = tmp_path_factory.mktemp("quiet-bert")
    tok = AutoTokenizer.from_pretrained(minilm_path())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def _goqa(tmp_path, rows=None, n_q=6):
    """A small GlobalOpinionQA file: countries A and B lean to the first option, C is flatter."""
    if rows is None:
        rows = []
        for q in range(n_q):
            for c, d in (("A", [0.7, 0.2, 0.1]), ("B", [0.5, 0.3, 0.2]), ("C", [0.4, 0.3, 0.3])):
                rows.append({"country": c, "question": f"question {q}: how much does topic {q} matter?",
                             "options": ["a lot", "some", "not at all", "Don't know"], "distribution": d + [0.0]})
    p = tmp_path / "goqa.json"
    p.write_text(json.dumps(rows))
    return str(p)


def _cfg(backbone: str, **kw) -> DprmConfig:
    base = dict(backbone=backbone, epochs=2, batch_size=4, eval_batch_size=32, max_length=24, lr=5e-3,
                freeze_layers=0, n_boot=50, log_every=100, seed=1)
    return DprmConfig(**{**base, **kw})


@pytest.fixture()
def small(tmp_path):
    data, _ = prepare(_goqa(tmp_path, n_q=10), ["A", "B"], None, seed=0)
    return data


def test_loss_goes_down_and_metrics_keys(quiet_backbone, small, tmp_path):
    reports = []
    res = train_bare(_cfg(quiet_backbone, epochs=3, lr=2e-2), small, workdir=str(tmp_path / "w"),
                   reporter=lambda m, c: reports.append(m))
    assert len(reports) == 3
    for key in ("val/mean_jsd", "val/worst_jsd", "val/jsd/A", "val/w1/B", "val/mean_w1", "val/mean_acc",
                "val/worst_acc", "test/mean_jsd", "test/jsd/A"):
        assert key in res.flat, key
    assert res.metrics["test"].to_dict()["jsd"]["A"]["n"] > 0
    # near-uniform predictions at the start (JSD ~0.24); training moves them towards the targets
    assert reports[0]["val/mean_jsd"] > reports[1]["val/mean_jsd"] > reports[2]["val/mean_jsd"]
    assert reports[2]["val/mean_jsd"] < 0.18
    assert res.flat["test/mean_acc"] > 0.9


def test_same_seed_same_metrics_and_weights_change(tiny_backbone, small, tmp_path):
    cfg = _cfg(tiny_backbone, epochs=1, dprm_loss="ce", smooth_n=50)
    a = train_bare(cfg, small, workdir=str(tmp_path / "a"))
    b = train_bare(cfg, small, workdir=str(tmp_path / "b"))
    strip = lambda f: {k: v for k, v in f.items() if "per_s" not in k}  # noqa: E731
    assert strip(a.flat) == strip(b.flat)
    init, _ = load_reward_model(tiny_backbone, seed=cfg.seed)
    trained = METHOD.load_model(a.checkpoint).model
    changed = [n for n, p in trained.named_parameters() if not torch.equal(p, init.state_dict()[n])]
    assert any("classifier" in n for n in changed) and any("encoder" in n for n in changed)


def test_resume_from_epoch_checkpoint_is_exact(tiny_backbone, small, tmp_path):
    cfg = _cfg(tiny_backbone, epochs=2)
    full = train_bare(cfg, small, workdir=str(tmp_path / "full"))
    resumed = train_bare(cfg, small, workdir=str(tmp_path / "resumed"), resume_from=str(tmp_path / "full" / "epoch-1"))
    a = METHOD.load_model(full.checkpoint).model.state_dict()
    b = METHOD.load_model(resumed.checkpoint).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.metrics["test"] == resumed.metrics["test"]
    again = train_bare(cfg, small, workdir=str(tmp_path / "again"), resume_from=full.checkpoint)  # finished run
    assert again.metrics == full.metrics and again.flat == full.flat


def test_split_shares_questions_with_the_pair_split():
    data, _ = prepare("goqa", None, None, seed=0)
    pairs = prepare_data("goqa", None, seed=0).pairs
    for split in ("train", "val", "test"):
        assert {p.group for p in getattr(pairs, split)} == {p.group for p in getattr(data.pairs, split)}
        assert {p.group for p in getattr(pairs, split)} <= {r.group for r in getattr(data.records, split)}
    assert not {r.group for r in data.records.test} & {r.group for r in data.records.train}


def test_prepare_trials_baselines_on_val(small):
    space = argparse.Namespace(objectives=[argparse.Namespace(metric="val/mean_jsd"),
                                           argparse.Namespace(metric="val/worst_jsd")])
    base = DprmConfig(n_boot=20)
    trial_base, data, baselines = METHOD.prepare_trials(space, small, base, None)
    assert trial_base == base.to_dict() and data is small
    assert set(baselines) == {"leave-one-out global", "uniform"}
    # the mean of the other countries (B and C for A; A and C for B) is closer than the uniform distribution
    assert baselines["leave-one-out global"][0] < baselines["uniform"][0]


@pytest.mark.parametrize("rows,match", [
    ([{"country": "A", "question": "q", "options": ["x", "y"], "distribution": [0.5, 0.3]}], "sums to 0.8000, not 1"),
    ([{"country": "A", "question": "q", "options": ["x", "y", "z"], "distribution": [0.5, 0.5]}], "3 options but 2 shares"),
])
def test_bad_distributions_one_line(tmp_path, rows, match):
    with pytest.raises(UserInputError, match=match) as e:
        prepare(_goqa(tmp_path, rows), ["A"], None, seed=0)
    assert "\n" not in str(e.value)


def test_unknown_community_lists_available(tmp_path):
    with pytest.raises(UserInputError, match="unknown community 'Atlantis'.*available: A, B, C"):
        prepare(_goqa(tmp_path), ["Atlantis"], None, seed=0)


@pytest.mark.parametrize("kw,match", [({"dprm_loss": "kl"}, "dprm_loss='kl'"), ({"alpha0": 0.0}, "alpha0=0.0"),
                                      ({"alpha0": float("inf")}, "alpha0=inf must be a finite number"),
                                      ({"smooth_n": -1}, "smooth_n=-1"), ({"epochs": 0}, "epochs=0"),
                                      ({"objective": "bt"}, "objective='bt' is invalid; valid: dprm")])
def test_bad_config(kw, match):
    with pytest.raises(UserInputError, match=match):
        DprmConfig(**kw).validate()


def _cli(argv):
    parser = argparse.ArgumentParser(prog="python -m raysearch.train dprm", allow_abbrev=False)
    METHOD.add_cli(parser)
    return run_cli(lambda a: METHOD.run_cli(parser.parse_args(a)), argv)


@pytest.mark.parametrize("argv,match", [
    (["--communities", "Atlantis"], "unknown community 'Atlantis'"),
    (["--dprm-loss", "kl"], "invalid choice"),
    (["--alpha0", "-1"], "alpha0=-1.0"),
    (["--workers", "0"], "--workers 0"),
    (["--data", "prism"], "answer distributions"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, match):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        _cli([*argv, "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert match in err.splitlines()[-1], err
    assert not out.exists()


def test_cli_flags_build_the_config(tmp_path):
    parser = argparse.ArgumentParser()
    METHOD.add_cli(parser)
    args = parser.parse_args(["--dprm-loss", "ce", "--smooth-n", "100", "--lr", "1e-3"])
    from raysearch.train.config import config_from_args

    cfg = config_from_args(args, DprmConfig)
    assert (cfg.objective, cfg.dprm_loss, cfg.smooth_n, cfg.learning_rate) == ("dprm", "ce", 100, 1e-3)
    assert DprmConfig().learning_rate == 2e-4
    assert not hasattr(args, "tau")  # SCPO's fields are not flags of dprm


@pytest.mark.slow
def test_two_worker_ray_run(tiny_backbone, small, tmp_path):
    import ray

    from raysearch.ray_env import init_ray
    from raysearch.train import ray_train

    init_ray(num_cpus=2)
    try:
        res = ray_train.fit_with_ray(_cfg(tiny_backbone, epochs=1), small, name="dprm",
                                     storage_path=str(tmp_path / "ray"), num_workers=2, out_dir=tmp_path / "out")
    finally:
        ray.shutdown()
    assert "test/mean_jsd" in res.flat and set(res.metrics["test"]["jsd"]) == {"A", "B"}
    assert (Path(res.checkpoint) / "model" / "config.json").exists()
