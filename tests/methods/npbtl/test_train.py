"""NP-BTL behind the method interface: data (users, respondents, cached features), the runner, resume, errors."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from raysearch.data.goqa import load_goqa
from raysearch.data.respondents import simulate_respondents
from raysearch.data.tasks import EVAL_CONTEXT_SIZES, TaskSampler, pairs_by_user
from raysearch.errors import UserInputError
from raysearch.methods.base import METHOD_FILES, Method
from raysearch.methods.npbtl import METHOD
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import prepare
from raysearch.methods.npbtl.step import eval_task_sets, load_model
from raysearch.methods.registry import config_from_dict, get
from raysearch.models import embed as embed_mod
from raysearch.train.runner import run

TINY = dict(synthetic_users=60, steps=6, epochs=2, batch_size=8, n_boot=50, eval_repeats=1, hidden=16, heads=2,
            latent_dim=4, log_every=100)


def _det(flat: dict) -> dict:
    """Metrics without the wall-clock rate."""
    return {k: v for k, v in flat.items() if k != "train/tasks_per_s"}


COUNTRIES = ["Britain", "Mexico", "Nigeria", "Pakistan", "Russia"]


@pytest.fixture(scope="module")
def synth():
    cfg = NpbtlConfig(**TINY)
    data, _ = prepare("synthetic", None, cfg, seed=0)
    return cfg, data


@pytest.fixture(scope="module")
def goqa_tiny(tiny_backbone):
    cfg = NpbtlConfig(**TINY, backbone=tiny_backbone, max_length=32, heldout_share=0.2, val_share=0.2)
    calls = []
    real = embed_mod.embed_texts

    def counting(*a, **kw):
        calls.append(len(a[0]))
        return real(*a, **kw)

    embed_mod.embed_texts = counting
    try:
        data, notes = prepare("goqa", COUNTRIES, cfg, seed=0)
        run(METHOD, replace(cfg, epochs=1, steps=2), data)
    finally:
        embed_mod.embed_texts = real
    return cfg, data, calls


def test_registry_finds_the_method_and_config_round_trips():
    from pathlib import Path

    import raysearch.methods.npbtl as pkg

    assert get("npbtl") is METHOD and isinstance(METHOD, Method) and METHOD.config_cls is NpbtlConfig
    cfg = NpbtlConfig(hidden=32, model="dpl")
    assert config_from_dict(cfg.to_dict()) == cfg
    assert {p.name for p in Path(pkg.__file__).parent.glob("*.py")} == {*METHOD_FILES, "model.py"}


def test_metrics_keys_and_same_seed_same_metrics(synth, tmp_path):
    cfg, data = synth
    seen = []
    a = run(METHOD, cfg, data, workdir=str(tmp_path / "a"), reporter=lambda f, c: seen.append((f, c)))
    b = run(METHOD, cfg, data, workdir=str(tmp_path / "b"))
    assert len(seen) == cfg.epochs and seen[-1][1] == a.checkpoint
    for split in ("val", "test"):
        for c in EVAL_CONTEXT_SIZES:
            assert 0 <= a.flat[f"{split}/acc_ctx{c}"] <= 1
    assert {"val/acc_ctx5/type0", "val/acc_ctx5/type1"} <= set(a.flat)
    assert "test/acc_ctx0" not in seen[0][0]  # held-out users are scored once, at the end
    assert _det(a.flat) == _det(b.flat)
    # the gain over no context is paired on the same targets: exactly the difference of the accuracies
    for c in EVAL_CONTEXT_SIZES[1:]:
        gain = a.metrics[f"test/ctx{c}"].extra
        assert a.flat[f"test/gain_ctx{c}"] == pytest.approx(a.flat[f"test/acc_ctx{c}"] - a.flat["test/acc_ctx0"])
        assert gain["gain_low"] <= gain["gain"] <= gain["gain_high"]
    btl = run(METHOD, replace(cfg, model="btl", epochs=1), data, workdir=str(tmp_path / "btl"))
    assert all(btl.flat[f"test/gain_ctx{c}"] == 0 for c in EVAL_CONTEXT_SIZES[1:])  # BTL ignores the context


def test_resume_from_epoch_1_equals_uninterrupted(synth, tmp_path):
    cfg, data = synth
    full = run(METHOD, cfg, data, workdir=str(tmp_path / "full"))
    resumed = run(METHOD, cfg, data, workdir=str(tmp_path / "res"), resume_from=str(tmp_path / "full" / "epoch-1"))
    assert _det(resumed.flat) == _det(full.flat)
    m1, m2 = load_model(full.checkpoint), load_model(resumed.checkpoint)
    assert not m1.training
    for (k, v), (_, w) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    # a finished run hands its result on again at once
    again = run(METHOD, cfg, data, resume_from=full.checkpoint)
    assert again.flat == full.flat
    # a checkpoint written before the shared runner (state file npbtl_state.pt) still loads
    legacy = tmp_path / "legacy"
    shutil.copytree(full.checkpoint, legacy)
    (legacy / "trainer_state.pt").rename(legacy / "npbtl_state.pt")
    for v, w in zip(m1.state_dict().values(), load_model(legacy).state_dict().values(), strict=True):
        assert torch.equal(v, w)


def test_features_are_embedded_once_and_splits_hold_disjoint_countries(goqa_tiny):
    cfg, data, calls = goqa_tiny
    assert len(calls) == 1 and calls[0] == len(data.text_rows) == data.emb.shape[0]
    countries = {s: {r.community for r in data.records[s]} for s in ("train", "val", "test")}
    assert not countries["train"] & countries["test"] and not countries["train"] & countries["val"]
    assert countries["test"] and countries["val"]
    # every pair's features are the cached row of its (prompt, option) text
    r = data.records["test"][0]
    assert int(data.rows["test"][0][0, 0]) == data.text_rows[f"{r.prompt}\x00{r.chosen}"]


def test_heldout_users_never_in_training_tasks_and_context_never_has_targets(synth):
    cfg, data = synth
    train_users = set(pairs_by_user(data.records["train"]))
    held = set(pairs_by_user(data.records["test"])) | set(pairs_by_user(data.records["val"]))
    assert train_users and held and not train_users & held
    sampler = TaskSampler(data.records["train"], n_target=cfg.n_target, max_context=cfg.max_context)
    rng = np.random.default_rng(0)
    for t in sampler.sample(200, rng):
        assert t.user in train_users and not set(t.context) & set(t.target)
    for split in ("val", "test"):
        for c, tasks in eval_task_sets(data.records[split], cfg).items():
            for t in tasks:
                assert len(t.context) == c and not set(t.context) & set(t.target)


def test_respondents_are_seeded_and_answer_from_their_country():
    recs = [r for r in load_goqa(None).records if r.community in ("Mexico", "Nigeria")]
    a = simulate_respondents(recs, per_community=3, seed=1)
    assert a == simulate_respondents(recs, per_community=3, seed=1)
    assert a != simulate_respondents(recs, per_community=3, seed=2)
    options = {(r.community, r.prompt): set(r.options) for r in recs}
    answer: dict[tuple[str, str], str] = {}
    for p in a:
        assert p.user_id.startswith(p.community + "#r")
        assert {p.chosen, p.rejected} <= options[(p.community, p.prompt)] and p.chosen != p.rejected
        assert answer.setdefault((p.user_id, p.prompt), p.chosen) == p.chosen  # one answer per question
    n_q = {c: sum(r.community == c for r in recs) for c in ("Mexico", "Nigeria")}
    assert {u.split("#")[0] for u in pairs_by_user(a)} == set(n_q)
    assert len(pairs_by_user(a)) == 6 and len(answer) == 3 * sum(n_q.values())


@pytest.mark.parametrize("heldout_by", ["country", "respondent"])
def test_respondent_users_split_by_country_or_by_respondent(tiny_backbone, heldout_by):
    cfg = NpbtlConfig(**TINY, backbone=tiny_backbone, max_length=16, users="respondents", respondents_per_country=5,
                      heldout_by=heldout_by, heldout_share=0.2, val_share=0.2)
    data, _ = prepare("goqa", COUNTRIES[:4], cfg, seed=0)
    users = {s: set(pairs_by_user(data.records[s])) for s in ("train", "val", "test")}
    assert users["test"] and not users["train"] & users["test"] and not users["train"] & users["val"]
    countries = {s: {u.split("#")[0] for u in users[s]} for s in users}
    if heldout_by == "country":
        assert not countries["train"] & countries["test"]
    else:  # unseen respondents of every (seen) country
        assert countries["train"] == countries["test"] == countries["val"] == set(COUNTRIES[:4])


def test_bad_inputs_are_one_line_errors(synth):
    cfg, _ = synth
    bad = [dict(heads=3), dict(lr=0.0), dict(heldout_share=0.6, val_share=0.5), dict(model="gpt"),
           dict(users="people"), dict(heldout_by="city"), dict(max_context=-1), dict(steps=0)]
    for kw in bad:
        with pytest.raises(UserInputError) as e:
            replace(cfg, **kw).validate()
        assert "\n" not in str(e.value) and next(iter(kw)) in str(e.value)
    with pytest.raises(UserInputError, match="unknown community 'Atlantis'"):
        prepare("goqa", ["Atlantis"], cfg, seed=0)
    with pytest.raises(UserInputError, match="is unknown; valid"):
        prepare("prism", None, cfg, seed=0)
    with pytest.raises(UserInputError, match="at least 3"):  # no user has 20 targets + 200 context pairs
        prepare("synthetic", None, replace(cfg, max_context=200), seed=0)
    from raysearch.data.tasks import eval_tasks

    with pytest.raises(UserInputError, match="context size 25 is above"):
        eval_tasks(synth[1].records["val"], context_size=25, seed=0)


def test_cli_rejects_bad_flags_with_one_line(capsys):
    from raysearch.errors import run_cli
    from raysearch.train.__main__ import main

    for argv, want in ([["--heads", "3"], "heads=3"], [["--data", "synthetic", "--n-target", "0"], "n_target=0"],
                       [["--data", "goqa", "--communities", "Atlantis", "--smoke-test"], "Atlantis"],
                       [["--data", "synthetic", "--max-context", "25"], "at least 3"]):
        with pytest.raises(SystemExit) as e:
            run_cli(main, ["npbtl", *argv])
        assert e.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], lines


@pytest.mark.slow
def test_fit_with_ray_two_workers(synth, tmp_path):
    from raysearch.ray_env import init_ray
    from raysearch.train.ray_train import fit_with_ray

    cfg, data = synth
    init_ray(num_cpus=2)
    res = fit_with_ray(replace(cfg, epochs=1), data, name="npbtl-test", storage_path=str(tmp_path / "ray"),
                       num_workers=2, out_dir=tmp_path / "out")
    assert {f"test/acc_ctx{c}" for c in EVAL_CONTEXT_SIZES} <= set(res.flat)
    model = load_model(res.checkpoint)
    assert isinstance(model, torch.nn.Module) and not model.training


def _pair(user: str, q: int, a: str, b: str, a_wins: bool):
    from raysearch.data.records import PairRecord

    c, r = (a, b) if a_wins else (b, a)
    return PairRecord(prompt=f"q{q}", chosen=c, rejected=r, community=user, group=f"q{q}")


def test_contested_pairs_are_picked_from_training_labels_only():
    from raysearch.methods.npbtl.data import contested_split

    cfg = NpbtlConfig(n_target=2, max_context=1)  # held-out users need 2 + 10 (largest eval context) pairs
    # q0..q11: the two training users disagree; q12, q13: they agree
    train = [_pair(u, q, "x", "y", u == "A" or q >= 12) for u in "AB" for q in range(14)]
    test = [_pair("T", q, "x", "y", True) for q in range(14)]
    flipped = [_pair("T", q, "x", "y", False) for q in range(14)]  # the held-out labels must not pick its pairs
    notes: list[str] = []
    out = contested_split({"train": train, "val": test, "test": test}, cfg, notes)
    contested = [f"q{q}" for q in range(12)]
    assert sorted({p.prompt for p in out["train"]}) == sorted(contested) and len(out["train"]) == 24
    assert [p.prompt for p in out["test"]] == contested
    again = contested_split({"train": train, "val": flipped, "test": flipped}, cfg, [])
    assert [p.prompt for p in again["test"]] == contested
    assert any("12 of 14 training option pairs are contested" in n for n in notes)
    # C makes q12 contested; it holds too few contested pairs (2 < 3) to be a training user, but its labels count
    extra = [_pair("C", 12, "x", "y", False), _pair("C", 0, "x", "y", True)]
    out = contested_split({"train": train + extra, "val": test, "test": test}, cfg, [])
    assert "C" not in {p.community for p in out["train"]} and [p.prompt for p in out["test"]] == [*contested, "q12"]
    # a held-out user with too few contested pairs is dropped; none left is one clear line
    with pytest.raises(UserInputError, match=r"leaves no test user whose contested pairs give 2 target pairs \+ 10 context pairs on other questions") as e:
        contested_split({"train": train, "val": test, "test": test[1:]}, cfg, [])
    assert "\n" not in str(e.value)


def test_contested_pairs_reject_synthetic_and_respondents(synth):
    cfg, _ = synth
    with pytest.raises(UserInputError, match="pairs=contested applies to users=countries"):
        replace(cfg, pairs="contested", users="respondents").validate()
    with pytest.raises(UserInputError, match="--data synthetic uses all pairs"):
        prepare("synthetic", None, replace(cfg, pairs="contested"), seed=0)


def test_factor_encoder_trains_saves_and_loads(synth, tmp_path):
    from raysearch.methods.npbtl.model import FactorNPBTL

    cfg, data = synth
    cfg = replace(cfg, encoder="factor", stochastic=True, epochs=1)  # a Gaussian z is the attention encoder's: ignored
    assert cfg.validate().model_config(data.feature_dim).stochastic is False
    res = run(METHOD, cfg, data, workdir=str(tmp_path))
    model = load_model(res.checkpoint)
    assert isinstance(model, FactorNPBTL) and 0 <= res.flat["test/acc_ctx10"] <= 1
    with pytest.raises(UserInputError, match="encoder='gru' is invalid"):
        replace(cfg, encoder="gru").validate()


def test_kl_target_and_disjoint_are_generated_flags():
    import argparse

    from raysearch.train.config import config_from_args

    parser = argparse.ArgumentParser()
    METHOD.add_cli(parser)
    cfg = config_from_args(parser.parse_args([]), NpbtlConfig, objective="npbtl")
    assert (cfg.kl_target, cfg.disjoint) == ("context_target", "question")  # the paper's KL, no question leak
    args = parser.parse_args(["--stochastic", "--kl-target", "prior", "--disjoint", "pair"])
    cfg = config_from_args(args, NpbtlConfig, objective="npbtl")
    assert (cfg.kl_target, cfg.disjoint) == ("prior", "pair") and cfg.model_config(4).kl_target == "prior"
    with pytest.raises(SystemExit):
        parser.parse_args(["--kl-target", "posterior"])
