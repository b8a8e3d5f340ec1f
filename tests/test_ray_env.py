"""Stopping only the Ray nodes a script or test started (``raysearch.ray_env.stop_nodes_in``), never `ray stop`."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from raysearch.ray_env import stop_nodes_in

#: a process that starts a child (as a raylet starts workers) and waits; its arguments name a temp dir
PARENT = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"


def _start(temp_dir: str) -> psutil.Process:
    proc = psutil.Process(subprocess.Popen([sys.executable, "-c", PARENT, f"--temp-dir={temp_dir}"]).pid)
    for _ in range(200):  # until its child is up
        if proc.children():
            return proc
        time.sleep(0.05)
    raise AssertionError("the child never started")


def test_stop_nodes_in_stops_the_named_node_and_its_children_only(tmp_path):
    ours = _start(str(tmp_path / "ours"))
    theirs = _start(str(tmp_path / "ours-2"))  # another cluster on the same machine, a longer name
    ours_child, theirs_child = ours.children()[0], theirs.children()[0]
    try:
        assert stop_nodes_in([str(tmp_path / "ours")], grace_s=5) == 2
        for p in (ours, ours_child):
            assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
        assert theirs.is_running() and theirs_child.is_running()
        assert theirs.status() != psutil.STATUS_ZOMBIE
    finally:
        for p in (theirs_child, theirs, ours_child, ours):
            if p.is_running():
                p.kill()
