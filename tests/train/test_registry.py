"""Every method plugs into training and search through one typed interface and one registry."""

import argparse
from pathlib import Path

import pytest

import raysearch.methods
from raysearch.errors import UserInputError
from raysearch.methods.base import METHOD_FILES, Method
from raysearch.methods.registry import METHODS, NAMES, config_from_dict, get
from raysearch.train.__main__ import build_parser
from raysearch.train.config import BaseConfig, add_config_flags, fields
from raysearch.tune.space import EXPERIMENTS
from raysearch.tune.space_files import builtin_space_path, load_space, peek_experiment

METHODS_DIR = Path(raysearch.methods.__file__).parent


@pytest.mark.parametrize("name", NAMES)
def test_method_implements_the_protocol(name):
    method = get(name)
    assert isinstance(method, Method) and method.name == name
    assert issubclass(method.config_cls, BaseConfig)


def test_every_method_folder_has_the_same_files():
    homes = sorted(p for p in METHODS_DIR.iterdir() if (p / "__init__.py").is_file())
    assert [p.name for p in homes] == ["dprm", "npbtl", "pairwise"]
    for home in homes:
        missing = [f for f in METHOD_FILES if not (home / f).is_file()]
        assert not missing, f"{home} lacks {missing}"
    # every registered method lives in one of those folders
    assert {m.package for m in METHODS.values()} == {f"raysearch.methods.{p.name}" for p in homes}


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trips_through_its_dict(name):
    cfg = get(name).config_cls(objective=name)
    again = config_from_dict(cfg.to_dict())
    assert type(again) is type(cfg) and again == cfg
    assert again.validate() is again


def test_unknown_objective_is_one_line():
    with pytest.raises(UserInputError, match="objective 'nope' is unknown; valid: bt, scpo, dprm, npbtl"):
        get("nope")


def test_unknown_config_option_is_one_line():
    with pytest.raises(UserInputError, match="unknown DprmConfig option 'tau'"):
        config_from_dict({"objective": "dprm", "tau": 0.5})


def test_every_list_of_names_is_the_registry():
    assert EXPERIMENTS == NAMES
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_builtin_space_loads_with_its_method_keys(name):
    method = get(name)
    path = builtin_space_path(name)
    assert peek_experiment(path) == name
    valid = {f.name for f in fields(method.config_cls)} - {"objective", "init_from", "reference"}
    space = load_space(path, valid_keys=valid | set(method.data_keys))
    assert space.experiment == name


def _flags(cls):
    p = argparse.ArgumentParser()
    add_config_flags(p, cls)
    return {a.dest for a in p._actions}


def test_a_method_config_has_only_its_own_fields():
    scpo_only = {"tau", "beta", "gamma_start", "global_share", "reference"}
    assert scpo_only <= _flags(get("scpo").config_cls)
    assert not scpo_only & {f.name for f in fields(get("dprm").config_cls)}
    assert not scpo_only & {f.name for f in fields(get("npbtl").config_cls)}
    assert {"lr", "epochs", "backbone"} <= _flags(get("dprm").config_cls)


@pytest.mark.parametrize("kw,match", [
    ({"epochs": 0}, "epochs=0 is invalid; it must be >= 1"),
    ({"tau": 1.5}, "tau=1.5 is invalid; it must be > 0 and <= 1"),
    ({"shape": "zigzag"}, "shape='zigzag' is invalid; valid: constant, linear, cosine, step"),
    ({"batch_size": 2.5}, "batch_size=2.5 is invalid; it must be an integer"),
    ({"lr": float("nan")}, "lr=nan is invalid"),
])
def test_validation_is_declared_once_per_field(kw, match):
    with pytest.raises(UserInputError, match=match):
        get("scpo").config_cls(objective="scpo", **kw).validate()
