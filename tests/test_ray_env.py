"""Stopping only the Ray nodes a script or test started (``raysearch.ray_env.stop_nodes_in``), never `ray stop`."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

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


@pytest.mark.slow
def test_a_worker_asks_the_state_api_of_its_own_ray():
    """Ray Train's placement-group cleaner asks the State API from a worker whether the run's controller lives.
    Left to Ray, a worker finds the State API through /tmp/ray/ray_current_cluster: on a machine where a `ray
    start` cluster once ran that names a dead cluster (each Ray Train run then waited out a 10 s timeout), a
    live one answers about the wrong cluster, and with no file the call fails. init_ray names its own."""
    import ray

    from raysearch.ray_env import init_ray

    assert not ray.is_initialized()
    init_ray(num_cpus=1)
    try:
        @ray.remote(num_cpus=0)
        class Probe:
            def ping(self) -> int:
                return 1

        probe = Probe.remote()
        ray.get(probe.ping.remote())

        @ray.remote(num_cpus=0)
        def alive(actor_id: str):
            from ray.util.state import get_actor

            t0 = time.monotonic()
            state = get_actor(actor_id, timeout=10)
            return (state.state if state else None), time.monotonic() - t0

        state, seconds = ray.get(alive.remote(probe._actor_id.hex()))
        assert state == "ALIVE"
        assert seconds < 5  # an answer, not a timeout
    finally:
        ray.shutdown()


def test_stop_nodes_in_spares_its_callers_whose_command_line_names_the_folder(tmp_path):
    """`timeout 60 python -m raysearch.ray_env stop D` names D in the command line of `timeout`, the caller's
    parent: stopping it would stop the caller before it finished."""
    import shutil

    if shutil.which("timeout") is None:
        pytest.skip("no timeout(1) here")
    node = _start(str(tmp_path / "node"))
    child = node.children()[0]
    try:
        r = subprocess.run(["timeout", "60", sys.executable, "-m", "raysearch.ray_env", "stop", str(tmp_path / "node")],
                           capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "stopped 2 Ray process(es)"
        for p in (node, child):
            assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    finally:
        for p in (child, node):
            if p.is_running():
                p.kill()
