"""Every objective plugs into training and search through the same interface (raysearch.train.registry)."""

import argparse
import dataclasses

import pytest

from raysearch.errors import UserInputError
from raysearch.train.config import TrainConfig, add_config_flags
from raysearch.train.registry import OBJECTIVES, config_class, config_from_dict, objective_module
from raysearch.tune.space import EXPERIMENTS, builtin_space_path, load_space, peek_experiment

INTERFACE = ("CONFIG_CLS", "DATA_KEYS", "PER_COMMUNITY_PREFIX", "prepare", "run_loop", "prepare_trials",
             "load_model", "add_cli", "run_cli")


@pytest.mark.parametrize("name", OBJECTIVES)
def test_module_exports_the_interface(name):
    module = objective_module(name)
    missing = [a for a in INTERFACE if not hasattr(module, a)]
    assert not missing, f"{module.__name__} lacks {missing}"
    assert dataclasses.is_dataclass(module.CONFIG_CLS)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_config_round_trips_through_its_dict(name):
    cfg = config_class(name)(objective=name)
    again = config_from_dict(cfg.to_dict())
    assert type(again) is type(cfg) and again == cfg


def test_unknown_objective_is_one_line():
    with pytest.raises(UserInputError, match="objective 'nope' is unknown; valid: bt, scpo, dprm, npbtl"):
        objective_module("nope")


def test_search_experiments_are_the_objectives():
    assert set(EXPERIMENTS) == set(OBJECTIVES)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_builtin_space_loads_with_its_objective_keys(name):
    module = objective_module(name)
    path = builtin_space_path(name)
    assert peek_experiment(path) == name
    valid = {f.name for f in dataclasses.fields(module.CONFIG_CLS)} - {"objective", "init_from", "reference"}
    space = load_space(path, valid_keys=valid | set(module.DATA_KEYS))
    assert space.experiment == name


def test_flags_are_filtered_by_objective():
    def flags(objective):
        p = argparse.ArgumentParser()
        add_config_flags(p, TrainConfig, objective=objective)
        return {a.dest for a in p._actions}

    assert {"tau", "beta", "gamma_start", "global_share", "reference"} <= flags("scpo")
    assert not {"tau", "beta", "gamma_start", "global_share", "reference"} & flags("dprm")
    assert {"lr", "epochs", "backbone"} <= flags("dprm")
