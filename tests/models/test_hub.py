"""Hub names resolve through the Hugging Face cache offline (a fake cache in the Hub layout), and
push_to_hub refuses offline in one line and would upload only config, tokenizer, safetensors and the card."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raysearch.errors import UserInputError
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import train_bare
from raysearch.models.backbone import load_reward_model, resolve_backbone
from raysearch.models.hub import hub_offline, prepare_upload, push_to_hub, upload_plan
from raysearch.models.scoring import RewardModel

REV = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root: Path, repo_id: str, folder: Path) -> Path:
    """``folder``'s files as snapshot ``REV`` of model repo ``repo_id`` in a Hub cache at ``root``."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / REV
    shutil.copytree(folder, snap)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REV)
    return snap


@pytest.fixture(scope="module")
def trained(tiny_backbone, tmp_path_factory) -> Path:
    from tests.conftest import make_pairs

    pairs = make_pairs(4)
    cfg = PairwiseConfig(objective="bt", backbone=tiny_backbone, epochs=1, batch_size=8, max_length=20, n_boot=20)
    res = train_bare(cfg, TrainData(train=pairs, eval={"val": pairs, "test": pairs}, source="goqa"),
                     workdir=str(tmp_path_factory.mktemp("hub")))
    assert res.checkpoint is not None
    return Path(res.checkpoint)


def test_tests_run_offline():
    assert hub_offline()


def test_backbone_by_hub_name_from_the_cache_offline(tiny_backbone, tmp_path, monkeypatch):
    snap = hub_cache(tmp_path / "cache", "someone/tiny-bert", Path(tiny_backbone))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    path = resolve_backbone("someone/tiny-bert")
    assert Path(path).resolve() == snap.resolve()
    model, _ = load_reward_model(path, seed=0)
    assert model.config.num_labels == 1


def test_hub_name_not_cached_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(UserInputError) as e:
        resolve_backbone("someone/absent")
    msg = str(e.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE=1" in msg and "'someone/absent'" in msg
    with pytest.raises(UserInputError, match="reward model 'someone/absent'"):
        RewardModel.load("someone/absent")


def test_reward_model_by_hub_name_keeps_its_convention(trained, tmp_path, monkeypatch):
    hub_cache(tmp_path / "cache", "someone/rm", trained / "model")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    rm = RewardModel.load("someone/rm")
    local = RewardModel.load(trained / "model")
    assert rm.cache.max_length == 20 and rm.communities == ["A", "B"]
    assert rm.score("q?", "yes", community="A") == pytest.approx(local.score("q?", "yes", community="A"))


def test_push_offline_refuses_in_one_line(trained, monkeypatch):
    import huggingface_hub

    def boom(*a, **k):
        raise AssertionError("no Hub call offline")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", boom)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", boom)
    with pytest.raises(UserInputError) as e:
        push_to_hub(trained / "model", "someone/rm")
    assert "\n" not in str(e.value) and "HF_HUB_OFFLINE=1" in str(e.value) and "nothing was uploaded" in str(e.value)


def test_upload_holds_card_and_safetensors_only(trained, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained, ckpt)
    (ckpt / "model" / "pytorch_model.bin").write_bytes(b"pickle")  # stray pickles never go up
    (ckpt / "model" / "optimizer.pt").write_bytes(b"pickle")
    d = prepare_upload(ckpt)  # a checkpoint folder: its model/
    files = upload_plan(d)
    assert d == ckpt / "model"
    assert {"README.md", "raysearch.json", "config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pickle")) or "trainer_state" in f]
    assert not [f for f in files if f.startswith("..") or f == "meta.json"]


def test_upload_of_an_old_folder_writes_its_card_from_meta(trained, tmp_path):
    ckpt = tmp_path / "old"
    shutil.copytree(trained, ckpt)
    (ckpt / "model" / "raysearch.json").unlink()
    (ckpt / "model" / "README.md").unlink()
    d = prepare_upload(ckpt / "model")
    assert {"README.md", "raysearch.json"} <= set(upload_plan(d))
    bare = tmp_path / "bare"
    shutil.copytree(ckpt / "model", bare)
    (bare / "raysearch.json").unlink()
    with pytest.raises(UserInputError, match="no raysearch.json"):
        prepare_upload(bare)


def test_push_online_calls_create_repo_and_upload(trained, tmp_path, monkeypatch):
    import huggingface_hub

    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    calls: dict = {}
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo",
                        lambda self, repo_id, **k: calls.setdefault("create", (repo_id, k)) and f"https://hf.co/{repo_id}")
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **k: calls.setdefault("upload", k))
    url = push_to_hub(model, "someone/rm")
    assert url == "https://hf.co/someone/rm"
    assert calls["create"][1]["private"] is True and calls["create"][1]["exist_ok"] is True
    up = calls["upload"]
    assert up["repo_id"] == "someone/rm" and "model.safetensors" in up["allow_patterns"]
    assert 'RewardModel.load("someone/rm")' in (model / "README.md").read_text()


@pytest.mark.parametrize("argv,match", [
    (["bt", "--smoke-test", "--push-to-hub", "someone/rm"], "HF_HUB_OFFLINE=1 is set, so nothing was uploaded"),
    (["npbtl", "--push-to-hub", "someone/rm"], "npbtl trains small networks"),
])
def test_train_cli_push_flag_fails_before_training(argv, match, tmp_path, monkeypatch):
    from raysearch.train.__main__ import main

    def no_run(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr("raysearch.methods.base.MethodHome.run_cli", no_run)
    with pytest.raises(UserInputError, match=match):
        main([*argv, "--out", str(tmp_path)])


def test_bad_repo_id_is_one_line(monkeypatch):
    from raysearch.models.hub import check_push

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for bad in ("noslash", "a/b/c", "/x"):
        with pytest.raises(UserInputError, match="give a Hub repo id"):
            check_push(bad)
