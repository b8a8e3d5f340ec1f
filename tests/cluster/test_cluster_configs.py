"""The configs in cluster/, checked offline: `python -m pytest tests/cluster/test_cluster_configs.py`.

Ray's public autoscaler schema (``ray-schema.json``, shipped in the ``ray.autoscaler`` package) for
the ``ray up`` configs, plus the project's rules for every file: GPU workers scale from 0, the
dashboard is not exposed, one RAY_AUTH_MODE everywhere, Ray pinned inside pyproject.toml's range.
Each rule is a function returning its problems; each is run on the shipped files and on a broken copy.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema  # a dependency of ray itself
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
AWS, GCP, KUBERAY = CLUSTER / "aws-gpu.yaml", CLUSTER / "gcp-gpu.yaml", CLUSTER / "kuberay.yaml"
LAUNCHERS = [AWS, GCP]
YAMLS = sorted(CLUSTER.glob("*.yaml"))
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
GPU = "nvidia.com/gpu"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def ray_range() -> SpecifierSet:
    """The Ray versions pyproject.toml allows (``ray[...]>=2.60,<2.61``)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(r.specifier for r in map(Requirement, deps) if r.name == "ray")


# ------------------------------------------------------------------------------------ the rules


def schema_problems(config: dict[str, Any]) -> list[str]:
    """A ``ray up`` config against the installed Ray's own ray-schema.json."""
    schema = json.loads((importlib.resources.files("ray.autoscaler") / "ray-schema.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = validator.iter_errors(config)
    return [f"{'.'.join(map(str, e.absolute_path)) or '<top level>'}: {e.message}" for e in errors]


def ray_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A KubeRay spec's Ray containers: the first container of the head and of every worker group."""
    return [g["template"]["spec"]["containers"][0] for g in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]]


class Group(NamedTuple):
    name: str
    start: int  # workers at launch (min_workers / replicas)
    max: int
    gpus: int  # per node


def worker_groups(config: dict[str, Any]) -> list[Group]:
    if "available_node_types" in config:  # ray up
        return [Group(name, n.get("min_workers", 0), n.get("max_workers", 0), int(n["resources"].get("GPU", 0)))
                for name, n in config["available_node_types"].items() if name != config["head_node_type"]]
    groups = []  # KubeRay: GPUs are the Ray container's (the first one's) limits
    for g in config["spec"]["workerGroupSpecs"]:
        limits = g["template"]["spec"]["containers"][0].get("resources", {}).get("limits", {})
        start = max(g.get("minReplicas", 0), g.get("replicas", 0))
        groups.append(Group(g["groupName"], start, g.get("maxReplicas", 0), int(limits.get(GPU, 0))))
    return groups


def scaling_problems(config: dict[str, Any]) -> list[str]:
    """GPU workers exist, start at 0 and may scale up (KubeRay: only with its autoscaler on)."""
    groups = worker_groups(config)
    problems = [] if any(g.gpus for g in groups) else ["no GPU worker group"]
    for g in groups:
        if "gpu" in g.name.lower() and g.gpus < 1:
            problems.append(f"{g.name}: named for GPUs but declares none")
        if g.gpus and g.start != 0:
            problems.append(f"{g.name}: starts {g.start} GPU workers; min_workers/minReplicas/replicas must be 0")
        if g.max < 1:
            problems.append(f"{g.name}: max {g.max} never scales up")
    if "spec" in config and config["spec"].get("enableInTreeAutoscaling") is not True:
        problems.append("spec.enableInTreeAutoscaling is not true: replicas never change")
    return problems


def dashboard_problems(config: dict[str, Any] | str) -> list[str]:
    """The dashboard (and the job API behind it) is reached through SSH or port-forward, never opened.

    A ``ray up`` config or a shell script binds it to loopback, and (AWS) opens no port but SSH to
    the world; a KubeRay head keeps its ClusterIP service and no ingress."""
    problems = []
    if isinstance(config, dict) and "spec" in config:  # KubeRay
        head = config["spec"]["headGroupSpec"]
        if head.get("serviceType", "ClusterIP") != "ClusterIP":
            problems.append(f"serviceType {head['serviceType']} exposes the dashboard")
        if head.get("enableIngress"):
            problems.append("enableIngress exposes the dashboard")
        return problems
    if isinstance(config, str):  # a shell script
        text, rules = config, []
    else:
        text = " ".join(config["head_start_ray_commands"])
        rules = config["provider"].get("security_group", {}).get("IpPermissions") or []
    for host in re.findall(r"--dashboard-host[= ]+['\"]?([^\s'\";]+)", text):
        if host not in LOCAL_HOSTS:
            problems.append(f"--dashboard-host={host} is not loopback")
    for rule in rules:
        cidrs = [r.get("CidrIp") for r in rule.get("IpRanges", [])]
        cidrs += [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])]
        if {"0.0.0.0/0", "::/0"} & set(cidrs) and (rule.get("FromPort"), rule.get("ToPort")) != (22, 22):
            problems.append(f"security group opens {rule.get('FromPort')}-{rule.get('ToPort')} to the world")
    return problems


def auth_modes(config: dict[str, Any]) -> list[str | None]:
    """RAY_AUTH_MODE of each Ray process a file starts (None: not set)."""
    if "spec" not in config:  # ray up: every `ray start` line, and any other export (setup_commands)
        commands = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
        found = [re.search(r"\bRAY_AUTH_MODE=(\w+)", c) for c in commands if "ray start" in c]
        exported = re.findall(r"\bRAY_AUTH_MODE=(\w+)", json.dumps(config))
        return [m.group(1) if m else None for m in found] + exported
    spec = config["spec"]
    envs = [next((e["value"] for e in c.get("env", []) if e["name"] == "RAY_AUTH_MODE"), None)
            for c in ray_containers(spec)]
    mode = spec.get("authOptions", {}).get("mode")  # KubeRay sets it in every container
    return [mode, *(e for e in envs if e is not None)] if mode else envs


def auth_problems(configs: list[dict[str, Any]]) -> list[str]:
    modes = [m for c in configs for m in auth_modes(c)]
    problems = ["a Ray node starts without RAY_AUTH_MODE"] if None in modes else []
    if len(set(modes) - {None}) > 1:
        problems.append(f"RAY_AUTH_MODE differs: {sorted(set(modes) - {None})}")
    return problems


_PINS = [re.compile(p) for p in (r"\bray(?:\[[^\]]*\])?==([0-9][\w.]*)",  # pip install "ray[...]==X"
                                 r"rayproject/ray:([0-9][0-9.]*[0-9])",  # Ray's images
                                 r"-ray([0-9][0-9.]*[0-9])\b")]  # our image tag, ...:0.1.0-rayX


def ray_versions(data: Any) -> list[str]:
    """Every Ray version a config or Dockerfile installs or runs."""
    if isinstance(data, dict):
        found = [str(data["rayVersion"])] if "rayVersion" in data else []
        return found + [v for value in data.values() for v in ray_versions(value)]
    if isinstance(data, list):
        return [v for item in data for v in ray_versions(item)]
    return [v for p in _PINS for v in p.findall(data)] if isinstance(data, str) else []


def pin_problems(data: Any, allowed: SpecifierSet) -> list[str]:
    versions = ray_versions(data)
    problems = [] if versions else ["pins no Ray version"]
    return problems + [f"Ray {v} is outside pyproject's {allowed}" for v in versions if v not in allowed]


# ---------------------------------------------------------------------------- the shipped files


def test_every_yaml_parses() -> None:
    assert {p.name for p in YAMLS} == {"aws-gpu.yaml", "gcp-gpu.yaml", "kuberay.yaml"}
    for path in YAMLS:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(isinstance(d, dict) for d in docs), path.name
    cr = load(KUBERAY)
    assert (cr["apiVersion"], cr["kind"]) == ("ray.io/v1", "RayCluster")
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("cluster_name: x\nprovider: [aws\n")


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launchers_match_rays_schema(path: Path) -> None:
    assert schema_problems(load(path)) == []


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_gpu_workers_scale_from_zero(path: Path) -> None:
    assert scaling_problems(load(path)) == []


@pytest.mark.parametrize("path", [*YAMLS, CLUSTER / "local-two-node.sh"], ids=lambda p: p.name)
def test_dashboard_stays_private(path: Path) -> None:
    assert dashboard_problems(path.read_text() if path.suffix == ".sh" else load(path)) == []


def test_one_auth_mode_everywhere() -> None:
    configs = [load(p) for p in YAMLS]
    assert auth_problems(configs) == []
    assert {m for c in configs for m in auth_modes(c)} == {"token"}  # what docs/cluster.md tells clients


@pytest.mark.parametrize("path", [*YAMLS, CLUSTER / "Dockerfile"], ids=lambda p: p.name)
def test_ray_pin_matches_pyproject(path: Path) -> None:
    data = path.read_text() if path.name == "Dockerfile" else load(path)
    assert pin_problems(data, ray_range()) == []


def test_dockerfile_builds_the_image_the_manifest_runs() -> None:
    images = {c["image"] for c in ray_containers(load(KUBERAY)["spec"])}
    assert len(images) == 1 and f"-t {images.pop()} ." in (CLUSTER / "Dockerfile").read_text()


def test_docs_name_the_files_and_the_check() -> None:
    doc = (REPO / "docs" / "cluster.md").read_text()
    assert "python -m pytest tests/cluster/test_cluster_configs.py" in doc
    assert all(f"cluster/{p.name}" in doc for p in YAMLS)


# ----------------------------------------------------------------- each rule catches a broken copy


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_broken_launcher_copies_are_caught(path: Path) -> None:
    good = load(path)
    gpu1 = next(n for n in good["available_node_types"] if "gpu1" in n)

    def broken(edit: Any) -> dict[str, Any]:
        config = copy.deepcopy(good)
        edit(config)
        return config

    assert any("max_worker" in p for p in schema_problems(broken(lambda c: c.update(max_worker=4))))
    assert schema_problems(broken(lambda c: c.update(max_workers="ten")))
    assert scaling_problems(broken(lambda c: c["available_node_types"][gpu1].update(min_workers=1)))
    assert scaling_problems(broken(lambda c: c["available_node_types"][gpu1].update(resources={"CPU": 4})))
    open_dash = broken(lambda c: c["head_start_ray_commands"].append("ray start --head --dashboard-host=0.0.0.0"))
    assert dashboard_problems(open_dash)
    world = {"FromPort": 8265, "ToPort": 8265, "IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    assert dashboard_problems(broken(lambda c: c["provider"].update(security_group={"IpPermissions": [world]})))
    no_auth = broken(lambda c: c["worker_start_ray_commands"].append("ray start --address=$RAY_HEAD_IP:6379"))
    assert auth_problems([no_auth])
    assert auth_problems([good, broken(lambda c: c.update(worker_start_ray_commands=[
        "RAY_AUTH_MODE=disabled ray start --address=$RAY_HEAD_IP:6379"]))])
    assert pin_problems(broken(lambda c: c["setup_commands"].append('pip install "ray[tune]==2.59.0"')), ray_range())
    assert pin_problems({"setup_commands": ["pip install ray"]}, ray_range()) == ["pins no Ray version"]


def test_broken_kuberay_copies_are_caught() -> None:
    good = load(KUBERAY)

    def broken(edit: Any) -> dict[str, Any]:
        cr = copy.deepcopy(good)
        edit(cr["spec"])
        return cr

    assert scaling_problems(broken(lambda s: s["workerGroupSpecs"][0].update(minReplicas=1)))
    assert scaling_problems(broken(lambda s: s["workerGroupSpecs"][1].update(replicas=2)))
    assert scaling_problems(broken(lambda s: s.update(enableInTreeAutoscaling=False)))
    assert dashboard_problems(broken(lambda s: s["headGroupSpec"].update(serviceType="LoadBalancer")))
    assert dashboard_problems(broken(lambda s: s["headGroupSpec"].update(enableIngress=True)))
    assert auth_problems([broken(lambda s: s.pop("authOptions"))])
    container = {"name": "RAY_AUTH_MODE", "value": "disabled"}
    assert auth_problems([broken(lambda s: s["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"]
                                 .append(container))])
    assert pin_problems(broken(lambda s: s.update(rayVersion=2.6)), ray_range())  # unquoted: a float
    assert pin_problems("FROM rayproject/ray:2.59.0-py311-gpu", ray_range())
