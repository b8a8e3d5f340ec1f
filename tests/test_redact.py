"""Secrets never reach a file or a log line: URL passwords masked in reports, CSVs, console lines."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from raysearch.pareto import ParetoPoint, build_front
from raysearch.redact import redact, redact_argv, redact_obj

SECRET = "Hunter2Secret"


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://u:pw@host/db", "postgresql://u:***@host/db"),
    ("postgresql+psycopg2://USER:PASS@db.example:5432/optuna?sslmode=require",
     "postgresql+psycopg2://USER:***@db.example:5432/optuna?sslmode=require"),
    ("--optuna-storage mysql://u:p@ss@host/db --name a@b", "--optuna-storage mysql://u:***@host/db --name a@b"),
    ("mysql://u:p/w:x@host/db", "mysql://u:***@host/db"),
    ("postgresql://host/db?user=u&password=pw&sslmode=require", "postgresql://host/db?user=u&password=***&sslmode=require"),
    ("s3://bucket/x?Token=abc", "s3://bucket/x?Token=***"),
    ("note: 'postgresql://u:pw@h/db' (study 'x')", "note: 'postgresql://u:***@h/db' (study 'x')"),
])
def test_redact_masks_passwords(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "postgresql://u@host/db", "sqlite:///runs/tune/x.db", "http://host:8080/path", "s3://bucket/runs/scpo",
    "/home/u/runs/tune/scpo/study.journal", "python -m raysearch.tune scpo --name x",
])
def test_redact_leaves_text_without_secrets_alone(text):
    assert redact(text) == text


def test_redact_argv_masks_a_password_with_spaces_and_quotes():
    argv = ["scpo", "--optuna-storage", f"postgresql://u:{SECRET} x'y@host/db", "--name", "n"]
    joined = shlex.join(redact_argv(argv))
    assert SECRET not in joined and "postgresql://u:***@host/db" in joined
    assert SECRET in shlex.join(argv)  # what the argv-level redaction is for: shlex quoting defeats the text one


def test_redact_obj_walks_containers():
    got = redact_obj({"a": [f"s3://k:{SECRET}@b/p", 1.5], "b": (f"x?password={SECRET}",), "c": None})
    assert SECRET not in repr(got) and got["a"][1] == 1.5 and got["c"] is None


def test_write_outputs_keeps_the_password_out_of_every_file(tmp_path, monkeypatch):
    import raysearch.train.ray_train
    from raysearch.tune import pipeline as search

    monkeypatch.setattr(search, "read_rungs", lambda storage, name: [])  # the storage is not reachable here
    uploaded: dict[str, bytes] = {}  # the summary copied to the (unreachable) shared storage
    monkeypatch.setattr(raysearch.train.ray_train, "upload",
                        lambda src, uri: uploaded.update({uri: Path(src).read_bytes()} if Path(src).is_file() else {}))
    url = f"postgresql://alice:{SECRET}@db.example:5432/optuna"
    paths = search.SearchPaths(root=tmp_path / "run", ray_storage=f"s3://key:{SECRET}@bucket/runs",
                               optuna_storage=url, name="run")
    paths.root.mkdir()
    trials = [
        ParetoPoint("t0", (0.6, 0.4), {"tau": 0.5}, {"checkpoint_path": f"s3://key:{SECRET}@bucket/runs/t0",
                                                      "val/acc/Chile": 0.6}),
        ParetoPoint("t1", (0.5, 0.3), {"tau": 0.9}, {"note": f"connected to {url}"}),
    ]
    front = build_front(trials, objectives=("val/mean_acc", "val/worst3_acc"), modes=("max", "max"),
                        reference_point=(0.5, 0.25))
    command = "python -m raysearch.tune " + shlex.join(["scpo", "--optuna-storage", url])
    search.write_outputs(front, paths, baselines={"G": (0.55, 0.3)}, command=command, minutes=1.0)
    written = {p.name: p.read_bytes() for p in paths.root.rglob("*") if p.is_file()}
    assert {"report.md", "trials.csv", "pareto.csv", "pareto.json", "pareto.png"} <= set(written)
    leaks = [name for name, data in written.items() if SECRET.encode() in data]
    assert len(uploaded) >= 5 and not [u for u, data in uploaded.items() if SECRET.encode() in data]
    assert leaks == []
    report = written["report.md"].decode()
    assert "postgresql://alice:***@db.example:5432/optuna" in report  # still says which storage
    assert "s3://key:***@bucket/runs/t0" in written["trials.csv"].decode()
    assert front.points[0].extra["checkpoint_path"].endswith(f"{SECRET}@bucket/runs/t0")  # the caller's front is untouched


def test_tune_cli_reads_the_storage_from_the_environment_and_prints_no_password(
        tiny_backbone, tmp_path, monkeypatch, capsys):
    """``RAYSEARCH_OPTUNA_STORAGE`` is the storage when ``--optuna-storage`` is absent; the recorded command is
    redacted. Ray and the search itself are replaced (this checks the CLI's wiring, not a search)."""
    import raysearch.ray_env
    import raysearch.tune.study
    from raysearch.tune import __main__ as cli
    from raysearch.tune import pipeline as search

    seen: dict = {}

    def fake_run_search(space, data, base, paths, *, resume, reference=None, command="", **options):
        seen.update(storage=paths.optuna_storage, command=command)
        return build_front([ParetoPoint("t0", (0.6, 0.4), {}, {})], objectives=("a", "b"), modes=("max", "max"),
                           reference_point=(0.0, 0.0))

    monkeypatch.setattr(search, "run_search", fake_run_search)
    monkeypatch.setattr(raysearch.ray_env, "init_ray", lambda: "fake")
    monkeypatch.setattr(cli, "_check_storage_for_cluster", lambda storage: None)
    monkeypatch.setattr(cli, "_check_gpus", lambda resources, local: None)
    monkeypatch.setattr(raysearch.tune.study, "read_rungs", lambda storage, name: [])
    env_url = f"postgresql://alice:{SECRET}@db.example/optuna"
    monkeypatch.setenv(cli.STORAGE_ENV, env_url)
    common = ["scpo", "--communities", "Chile", "Mexico", "--smoke-test", "--backbone", tiny_backbone,
              "--out", str(tmp_path)]
    assert cli.main([*common, "--name", "env"]) == 0
    assert seen["storage"] == env_url and SECRET not in seen["command"]
    flag_url = f"mysql://bob:{SECRET}@other/optuna"
    assert cli.main([*common, "--name", "flag", "--optuna-storage", flag_url]) == 0
    assert seen["storage"] == flag_url  # the flag wins over the environment
    assert SECRET not in seen["command"] and "mysql://bob:***@other/optuna" in seen["command"]
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert not [p for p in Path(tmp_path).rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_a_pickled_optuna_storage_holds_no_password_and_reconnects(tmp_path, monkeypatch):
    """Ray Tune pickles the searcher (and its storage) into the experiment folder: no password there."""
    import pickle

    import optuna

    from raysearch.tune import study as study_mod
    from raysearch.tune.study import open_storage, strict_optuna_search

    # SQLite ignores unknown URI parameters, so this URL carries a 'password' the way a server URL would
    url = f"sqlite:///file:{tmp_path / 'study.db'}?uri=true&password={SECRET}"
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize", "maximize"])
    study.enqueue_trial({"x": 1.0})
    searcher = strict_optuna_search(metric=["a", "b"], mode=["max", "max"], storage=storage, study_name="s")
    searcher.save(str(tmp_path / "searcher-state.pkl"))
    assert SECRET.encode() not in (tmp_path / "searcher-state.pkl").read_bytes()
    blob = pickle.dumps(study)
    assert SECRET.encode() not in blob
    again = pickle.loads(blob)  # this process opened the storage: it reconnects with the real URL
    assert len(again.get_trials()) == 1
    monkeypatch.setattr(study_mod, "_OPENED", {})  # a process that never opened it cannot guess the password
    with pytest.raises(Exception, match="needs its password"):
        pickle.loads(blob)
