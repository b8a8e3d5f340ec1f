"""The one place the project starts or joins Ray (environment defaults for Ray 2.60)."""

from __future__ import annotations

import logging
import os


def ray_env_defaults() -> None:
    """No usage stats; token auth off unless the caller chose a mode (must match `ray start`)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    # Ray forwards the driver's env to local workers; keep tokenizers from forking threads.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


#: where Ray's State API client looks first for the dashboard that serves it
API_SERVER_VAR = "RAY_API_SERVER_ADDRESS"


def _state_api_url(address: str) -> str | None:
    """The dashboard URL of the cluster at ``address``, for the workers' State API calls.

    Ray Train's placement-group cleaner (a detached actor of every Ray Train run) asks the State API every
    second whether the run's controller is alive. Inside a worker that call finds its cluster the way a
    fresh `ray.init()` would: ``RAY_API_SERVER_ADDRESS``, then ``RAY_ADDRESS``, then the machine's
    ``/tmp/ray/ray_current_cluster``, which names the last cluster started with `ray start` on the machine,
    alive or long gone, and never a ``ray.init()`` one. A stale file made every Ray Train run wait out a 10 s
    timeout at its end (measured: 12-14 s per run); a live user's cluster there would be asked about our
    actors. Naming our own dashboard in the workers' environment makes the call go to the right cluster.
    Returns None where the URL cannot be read (the caller then leaves Ray's default).
    """
    try:
        from ray.dashboard.utils import get_address_for_submission_client

        return get_address_for_submission_client(address)
    except Exception:  # an old or odd cluster: Ray's default lookup is still there
        return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_ray(*, num_cpus: int | None = None, quiet: bool = True, log_to_driver: bool = True) -> str:
    """Join the cluster in ``RAY_ADDRESS`` (``ray job submit`` sets it) or start a local one.

    ``log_to_driver=False`` keeps the workers' output off the driver's console.
    Returns ``"cluster"`` or ``"local"``.
    """
    ray_env_defaults()
    import ray

    if ray.is_initialized():
        return "cluster" if os.environ.get("RAY_ADDRESS") else "local"
    address = os.environ.get("RAY_ADDRESS")
    env_vars = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "RAY_TRAIN_V2_ENABLED")}
    if address:
        api = _state_api_url(address)
        if api:
            env_vars[API_SERVER_VAR] = api
        ray.init(address=address, runtime_env={"env_vars": env_vars}, log_to_driver=log_to_driver)
        return "cluster"
    # address="local": a new Ray of our own even when a user's cluster started with `ray start` runs on this
    # machine (without it, ray.init would join that cluster, found through /tmp/ray/ray_current_cluster);
    # RAY_ADDRESS is how to join one. The dashboard serves the State API, and its address goes to every worker
    # of this job: see _state_api_url for why.
    port = _free_port()
    env_vars[API_SERVER_VAR] = f"http://127.0.0.1:{port}"
    ray.init(address="local", num_cpus=num_cpus, dashboard_host="127.0.0.1", dashboard_port=port,
             runtime_env={"env_vars": env_vars}, log_to_driver=True,
             logging_level=logging.WARNING if quiet else logging.INFO)
    return "local"


def stop_nodes_in(temp_dirs: list[str], *, grace_s: float = 20.0) -> int:
    """Stop the Ray nodes started with ``ray start --temp-dir=D`` for each ``D`` in ``temp_dirs``, and only
    those: the processes whose command line names ``D`` (GCS, raylet, dashboard, monitors) and all their
    descendants (workers, agents). Unlike ``ray stop``, every other Ray process on the machine, a user's own
    cluster or job included, is left alone. SIGTERM, then SIGKILL after a third of ``grace_s`` per step; returns how many."""
    import psutil

    def names(arg: str, d: str) -> bool:  # "--temp-dir=D", "--session-dir=D/session_...", "D/..." (not "D2")
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        return value == d or value.startswith(d.rstrip("/") + "/")

    # never this process nor its callers (`timeout 60 python -m raysearch.ray_env stop D` names D too)
    spared = {os.getpid()} | {p.pid for p in psutil.Process().parents()}

    roots = [proc for proc in psutil.process_iter(["pid", "cmdline"]) if proc.info["pid"] not in spared
             and any(names(arg, d) for arg in proc.info["cmdline"] or [] for d in temp_dirs)]
    procs = {p.pid: p for p in roots}  # the nodes' processes and all their descendants
    for p in roots:
        try:
            procs.update({c.pid: c for c in p.children(recursive=True) if c.pid not in spared})
        except psutil.NoSuchProcess:
            pass
    # In `ray stop`'s order: the raylets, then the rest (workers, agents, dashboard), then the GCS. A raylet asked
    # to stop while its GCS is stopping too waits on the GCS and ignores SIGTERM: stopped all at once, two nodes
    # took the whole 20 s grace period and a SIGKILL; in this order, about 5 s (measured).
    buckets: list[list[psutil.Process]] = [[], [], []]
    for p in procs.values():
        try:
            name = p.name()
        except psutil.NoSuchProcess:
            continue
        buckets[0 if name == "raylet" else 2 if name == "gcs_server" else 1].append(p)
    for bucket in buckets:
        for p in bucket:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(bucket, timeout=grace_s / len(buckets))
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=2)
    return len(procs)


if __name__ == "__main__":  # python -m raysearch.ray_env stop TEMP_DIR...: what cluster/local-two-node.sh calls
    import sys

    if len(sys.argv) < 3 or sys.argv[1] != "stop":
        raise SystemExit("usage: python -m raysearch.ray_env stop TEMP_DIR [TEMP_DIR...]")
    print(f"stopped {stop_nodes_in([os.path.abspath(d) for d in sys.argv[2:]])} Ray process(es)")
