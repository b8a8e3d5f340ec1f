"""The local two-node stand-in for a cluster: `cluster/local-two-node.sh`, exactly as a user runs it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_node_search_spans_both_nodes(tiny_backbone, tmp_path):
    ray_tmp = f"/tmp/rs2n-{os.getpid()}"  # short: Ray's socket paths have a length limit
    env = {**os.environ, "OUT": str(tmp_path / "out"), "RAY_TMP": ray_tmp,
           "PYTHON": sys.executable, "RAY_BIN": str(Path(sys.executable).parent / "ray"),
           "HF_HUB_OFFLINE": "1", "GCS_PORT": "6391", "DASH_PORT": "8267",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    try:
        p = subprocess.run(["bash", "cluster/local-two-node.sh", "--smoke-test", "--communities", "Chile", "Mexico",
                            "--backbone", tiny_backbone, "--num-samples", "1",  # one trial: 2 workers on the 2 one-CPU nodes
                            "--reference", tiny_backbone,  # G given: it still goes to the trials through storage
                            "--seed-reruns", "0",  # reruns are tested on one node; here they only cost time
                            "--storage", f"file://{tmp_path}/ray-results"],  # a URI: G and the summary go through it
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
        # the script stopped its own two nodes (and only those: it never runs `ray stop`)
        left = [q.pid for q in psutil.process_iter(["cmdline"])
                if any(ray_tmp in part for part in q.info["cmdline"] or [])]
    finally:
        for d in (ray_tmp, f"{ray_tmp}-w"):
            shutil.rmtree(d, ignore_errors=True)
    assert not left, f"Ray processes of the two nodes still running: {left}"
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert re.search(r"front: 1 Pareto trials of 1", out), out[-2000:]
    assert "trials ran on 2 node(s)" in out, out[-2000:]
    assert (tmp_path / "out" / "scpo" / "pareto.png").exists()
    assert (tmp_path / "ray-results" / "scpo" / "summary" / "pareto.json").exists()
    assert (tmp_path / "ray-results" / "scpo" / "shared" / "global-model" / "config.json").exists()


def test_journal_file_refused_on_multi_node(monkeypatch):
    import ray

    from raysearch.errors import UserInputError
    from raysearch.tune.__main__ import _check_storage_for_cluster

    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}])
    with pytest.raises(UserInputError, match="journal file on one node's disk"):
        _check_storage_for_cluster("/tmp/study.journal")
    _check_storage_for_cluster("postgresql://user@db/optuna")  # an RDB URL is fine
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": False}])
    _check_storage_for_cluster("/tmp/study.journal")  # one live node: a journal file is fine
