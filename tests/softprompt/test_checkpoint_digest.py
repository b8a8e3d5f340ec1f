"""The soft-prompt checkpoint is unpickled only when its SHA-256 matches the sidecar its run wrote."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from raysearch.errors import UserInputError, run_cli
from raysearch.softprompt import driver
from raysearch.softprompt.config import SoftPromptConfig
from raysearch.softprompt.driver import CHECKPOINT, DIGEST, load_checkpoint, run_search
from raysearch.softprompt.objective import SurveyObjective


@pytest.fixture(scope="module")
def cfg(tiny_lm_dir: Path) -> SoftPromptConfig:
    return SoftPromptConfig(country="China", model=str(tiny_lm_dir), budget=16, popsize=4, subspace_dim=8, workers=0,
                            n_tokens=3)


@pytest.fixture(scope="module")
def objective(cfg: SoftPromptConfig) -> SurveyObjective:
    return SurveyObjective(cfg)


@pytest.fixture()
def one_generation(cfg, objective, tmp_path: Path) -> Path:
    run_search(cfg, objective, dim=objective.search_dim, folder=tmp_path, stop_after=1)
    return tmp_path


class _Payload:
    """A pickle that creates ``marker`` when unpickled: stands for code a hostile file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _refused(folder: Path, cfg: SoftPromptConfig) -> str:
    with pytest.raises(UserInputError) as err:
        load_checkpoint(folder, dataclasses.replace(cfg, resume=True))
    msg = str(err.value)
    assert "\n" not in msg and "without --resume" in msg
    return msg


def test_the_sidecar_holds_the_digest_and_a_resume_loads(cfg, one_generation) -> None:
    digests = json.loads((one_generation / DIGEST).read_text())
    assert digests["file"] == CHECKPOINT and len(digests["sha256"]) == 64
    assert load_checkpoint(one_generation, dataclasses.replace(cfg, resume=True)).evaluations == 4


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_corrupted_or_truncated_checkpoint_is_refused(cfg, one_generation, damage) -> None:
    path = one_generation / CHECKPOINT
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if damage == "flip" else data[: len(data) // 2])
    msg = _refused(one_generation, cfg)
    assert str(path) in msg and "does not match the SHA-256" in msg


def test_a_replaced_checkpoint_is_never_unpickled(cfg, one_generation, tmp_path_factory) -> None:
    marker = tmp_path_factory.mktemp("marker") / "ran"
    (one_generation / CHECKPOINT).write_bytes(pickle.dumps(_Payload(marker)))
    assert "does not match" in _refused(one_generation, cfg)
    assert not marker.exists()
    pickle.loads((one_generation / CHECKPOINT).read_bytes())  # the payload does run when unpickled
    assert marker.exists()


def test_a_checkpoint_without_its_sidecar_is_refused(cfg, one_generation) -> None:
    (one_generation / DIGEST).unlink()
    assert f"no {DIGEST}" in _refused(one_generation, cfg)
    (one_generation / DIGEST).write_text("{not json")
    assert "cannot be read" in _refused(one_generation, cfg)


def test_a_kill_between_sidecar_and_pickle_resumes_from_the_previous_generation(
        cfg, objective, one_generation, monkeypatch) -> None:
    def killed(path, data):
        raise KeyboardInterrupt  # the process dies after the sidecar is written, before the pickle

    monkeypatch.setattr(driver, "atomic_write_bytes", killed)
    state = load_checkpoint(one_generation, dataclasses.replace(cfg, resume=True))
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, objective, dim=objective.search_dim, folder=one_generation, state=state, stop_after=1)
    assert json.loads((one_generation / DIGEST).read_text())["previous_sha256"] is not None
    assert load_checkpoint(one_generation, dataclasses.replace(cfg, resume=True)).evaluations == 4


def test_the_cli_refuses_a_replaced_checkpoint_in_one_line(capsys, tmp_path: Path) -> None:
    from raysearch.softprompt.__main__ import main

    marker = tmp_path / "ran"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / CHECKPOINT).write_bytes(pickle.dumps(_Payload(marker)))
    (tmp_path / "run" / DIGEST).write_text(json.dumps({"file": CHECKPOINT, "sha256": "0" * 64}))
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--country", "China", "--workers", "0", "--out", str(tmp_path / "run"), "--resume"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: ") and "\n" not in err
    assert str(tmp_path / "run" / CHECKPOINT) in err and not marker.exists()
