import tomllib
import warnings
from pathlib import Path

import optuna
import pytest

from raysearch.errors import UserInputError
from raysearch.tune.space import (
    EXPERIMENTS,
    SAMPLERS,
    SearchSpace,
)
from raysearch.tune.space_files import builtin_space_names, builtin_space_path, load_space

VALID = {
    "tau",
    "beta",
    "gamma_start",
    "gamma_end",
    "shape",
    "global_share",
    "lr",
    "epochs",
    "max_train_pairs",
    "batch_size",
    "freeze_layers",
    "seed",
    "weight_decay",
    "max_length",
    "lora_r",
    "normalize",
    "eval_every",
}
REPO = Path(__file__).resolve().parents[2]

GOOD = """\
experiment: scpo
objectives:
  - {metric: val/mean_acc, mode: max}
  - {metric: val/worst_acc, mode: max}
reference_point: [0.5, 0.3]
num_samples: 4
fixed: {max_train_pairs: 400}
params:
  tau: {type: float, low: 0.3, high: 1.0}
  lr: {type: float, low: 1e-5, high: 2.0e-4, log: true}
  epochs: {type: int, low: 1, high: 3}
  batch_size: {type: int, low: 8, high: 32, step: 8}
  lora_r: {type: int, low: 1, high: 16, log: true}
  shape: {type: categorical, choices: [constant, linear, cosine, step]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(UserInputError) as info:
        load_space(path, valid_keys=VALID)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    return msg


@pytest.mark.parametrize("name", ["scpo", "bt"])
def test_shipped_spaces_load(name):
    path = builtin_space_path(name)
    assert path == REPO / "search_spaces" / f"{name}.yaml"  # the one copy, read from this checkout
    space = load_space(path, valid_keys=VALID)
    assert space.experiment == name and space.metrics == ["val/mean_acc", "val/worst3_acc"]
    assert space.modes == ["max", "max"] and space.sampler == "nsga2"
    assert space.num_samples >= 4 and space.max_concurrent == 1
    assert {"gamma_start", "gamma_end", "shape", "lr"} <= set(space.params)


def test_scpo_defaults_are_the_cheap_ones():
    space = load_space(builtin_space_path("scpo"), valid_keys=VALID)
    assert space.fixed == {"epochs": 1, "max_train_pairs": 400}
    assert set(space.params) == {
        "tau",
        "beta",
        "gamma_start",
        "gamma_end",
        "shape",
        "global_share",
        "lr",
    }
    assert space.resources.model_dump() == {  # one worker on both cores: trains in the trial's process
        "workers": 1,
        "cpus_per_worker": 2.0,
        "gpus_per_worker": 0.0,
    }


def test_every_shipped_space_resolves_and_loads():
    names = builtin_space_names()
    assert names == sorted(p.stem for p in (REPO / "search_spaces").glob("*.yaml"))
    assert set(EXPERIMENTS) <= set(names)
    for name in names:
        assert load_space(builtin_space_path(name), valid_keys=None).experiment == name


def test_the_wheel_ships_search_spaces_as_package_data():
    """pyproject.toml installs search_spaces/ as raysearch.search_spaces, YAMLs included."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["raysearch.search_spaces"] == "search_spaces"
    assert "*.yaml" in setuptools["package-data"]["*"]
    assert (REPO / "search_spaces" / "__init__.py").is_file()  # an editable install maps packages only


def test_unknown_builtin_and_missing_file(tmp_path):
    with pytest.raises(UserInputError, match="no built-in search space 'dpo'; built-in: bt, dprm, npbtl, scpo"):
        builtin_space_path("dpo")
    with pytest.raises(UserInputError, match="built-in"):
        builtin_space_path("../search_spaces/scpo")
    with pytest.raises(FileNotFoundError) as info:
        load_space(tmp_path / "nope.yaml", valid_keys=VALID)
    assert "nope.yaml: no such file" in str(info.value) and "\n" not in str(info.value)


def test_good_space_and_yaml_floats(tmp_path):
    space = load_space(_write(tmp_path, GOOD), valid_keys=VALID)
    assert (
        space.params["lr"].low == 1e-5
    )  # YAML 1.2 float, though PyYAML alone reads "1e-5" as text
    assert space.source == str(tmp_path / "space.yaml")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "num_samples: 4",
            "num_samples: 4\nsamplr: tpe",
            "space.yaml: samplr: unknown key (did you mean 'sampler'?); valid keys here:",
        ),
        (
            "{type: float, low: 0.3, high: 1.0}",
            "{type: float, low: 0.3, high: 1.0, lg: true}",
            "params.tau.lg: unknown key (did you mean 'log'?); valid keys here: type, low, high,",
        ),
        (
            "low: 0.3,",
            "low: 1.5,",
            "params.tau.low: low=1.5 must be < high=1.0: the range is empty",
        ),
        ("low: 0.3,", "low: 1.0,", "params.tau.low: low=1.0 must be < high=1.0"),
        ("low: 1, high: 3", "low: 3, high: 3", "params.epochs.low: low=3 must be < high=3"),
        ("low: 1e-5", "low: 0.0", "params.lr.low: low=0.0 must be > 0 with log=true"),
        (
            "low: 1, high: 16, log: true",
            "low: 0, high: 16, log: true",
            "params.lora_r.low: low=0 must be > 0",
        ),
        (
            "high: 32, step: 8",
            "high: 30, step: 8",
            "params.batch_size.high: high - low = 22 is not a multiple",
        ),
        (
            "high: 32, step: 8",
            "high: 32, step: 0",
            "params.batch_size.step: Input should be greater than or equal to 1",
        ),
        (
            "high: 16, log: true",
            "high: 16, step: 3, log: true",
            "params.lora_r.step: step=3 cannot go with log=true",
        ),
        ("[constant, linear, cosine, step]", "[]", "params.shape.choices: is empty"),
        (
            "[constant, linear, cosine, step]",
            "[constant, linear, constant]",
            "params.shape.choices.2: 'constant' is repeated",
        ),
        (
            "low: 0.3,",
            "low: None,",
            "params.tau.low: Input should be a valid number, got 'None' (the string 'None' is not",
        ),
        ("low: 0.3,", "low: null,", "params.tau.low: Input should be a valid number, got None"),
        ("low: 0.3,", 'low: "0.3",', "params.tau.low: Input should be a valid number, got '0.3'"),
        (
            "low: 1, high: 3",
            "low: 1, high: 3.5",
            "params.epochs.high: Input should be a valid integer, got 3.5",
        ),
        ("low: 0.3,", "low: .nan,", "params.tau.low: Input should be a finite number"),
        (
            "tau: {type: float,",
            "tau: {type: floot,",
            "params.tau.type: 'floot' is unknown; valid: float, int, categorical",
        ),
        (
            "tau: {type: float,",
            "tau: {",
            "params.tau: needs a type: one of float, int, categorical",
        ),
        (
            "  tau:",
            "  temperature:",
            "params.temperature: 'temperature' is not a training option; valid: batch_size, beta,",
        ),
        (
            "fixed: {max_train_pairs: 400}",
            "fixed: {max_train_pairs: 400, dropout: 0.1}",
            "fixed.dropout: 'dropout' is not a training option; valid: batch_size",
        ),
        (
            "fixed: {max_train_pairs: 400}",
            "fixed: {epochs: 1}",
            "fixed.epochs: 'epochs' is both fixed and searched",
        ),
        (
            "fixed: {max_train_pairs: 400}",
            "fixed: {max_train_pairs: None}",
            "fixed.max_train_pairs: the string 'None' is not",
        ),
        (
            "  - {metric: val/worst_acc, mode: max}\n",
            "",
            "objectives: 1 given; exactly two are needed",
        ),
        (
            "  - {metric: val/worst_acc, mode: max}\n",
            "  - {metric: val/worst_acc, mode: max}\n  - {metric: loss, mode: min}\n",
            "objectives: 3 given; exactly two are needed",
        ),
        (
            "metric: val/worst_acc",
            "metric: val/mean_acc",
            "objectives.1.metric: 'val/mean_acc' repeats the first",
        ),
        (
            "val/worst_acc, mode: max",
            "val/worst_acc, mode: maximize",
            "objectives.1.mode: Input should be 'max' or 'min', got 'maximize'",
        ),
        ("[0.5, 0.3]", "[0.5]", "reference_point: 1 values given; need one per objective (2)"),
        ("experiment: scpo", "experiment: dpo", "experiment: 'dpo' is unknown; valid: bt, scpo, dprm, npbtl"),
        (
            "num_samples: 4",
            "num_samples: 0",
            "num_samples: Input should be greater than or equal to 1, got 0",
        ),
        (
            "num_samples: 4",
            "num_samples: 4\nsampler: cmaes",
            "sampler: 'cmaes' is unknown; valid: nsga2, tpe, gp, random",
        ),
        (
            "num_samples: 4",
            "num_samples: 4\nresources: {workers: 2, gpus: 1}",
            "resources.gpus: unknown key; valid keys here: workers, cpus_per_worker, gpus_per_",
        ),
        ("experiment: scpo\n", "", "experiment: required key is missing"),
        (
            "num_samples: 4",
            "num_samples: 4\nscheduler: {kind: asha}",
            "scheduler.kind: Input should be 'fifo' or 'moasha', got 'asha'",
        ),
        ("num_samples: 4", "num_samples: 4\nscheduler: {eta: 1}", "scheduler.eta: Input should be greater than 1"),
        ("num_samples: 4", "num_samples: 4\nscheduler: {grace: 0}", "scheduler.grace: Input should be greater than or"),
        (
            "num_samples: 4",
            "num_samples: 4\nscheduler: {kind: moasha, grase: 2}",
            "scheduler.grase: unknown key (did you mean 'grace'?); valid keys here: kind, eta, grace, tie_break",
        ),
        (
            "num_samples: 4",
            "num_samples: 4\nscheduler: {tie_break: random}",
            "scheduler.tie_break: Input should be 'epsnet' or 'crowding', got 'random'",
        ),
        (
            "fixed: {max_train_pairs: 400}",
            "fixed: {max_train_pairs: 400, eval_every: 0}\nscheduler: {kind: moasha}",
            "fixed.eval_every: 0 cannot go with scheduler moasha",
        ),
        (
            "num_samples: 4",
            "num_samples: 4\nnum_samples: 5",
            "not valid YAML: key 'num_samples' is repeated; keep one (line 7",
        ),
        ("params:", "params: [", "not valid YAML:"),
    ],
)
def test_bad_space_is_one_line_naming_file_and_key(tmp_path, old, new, expected):
    assert old in GOOD
    msg = _error(tmp_path, GOOD.replace(old, new, 1))
    assert expected in msg, msg


def test_num_samples_defaults_to_ten(tmp_path):
    space = load_space(_write(tmp_path, GOOD.replace("num_samples: 4\n", "")), valid_keys=VALID)
    assert space.num_samples == 10


def test_bad_top_level(tmp_path):
    assert "the file is empty" in _error(tmp_path, "# nothing\n")
    assert "top level must be a mapping" in _error(tmp_path, "- a\n- b\n")


def test_yaml_null_is_null(tmp_path):
    space = load_space(
        _write(tmp_path, GOOD + "description: null\npopulation_size: ~\n"), valid_keys=VALID
    )
    assert space.description is None and space.population_size is None
    text = GOOD.replace(
        "fixed: {max_train_pairs: 400}", "fixed: {max_train_pairs: 400, normalize: null}"
    )
    assert load_space(_write(tmp_path, text), valid_keys=VALID).fixed["normalize"] is None


def test_to_tune_param_space_covers_all_types_with_inclusive_int_bounds(tmp_path):
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    space = load_space(_write(tmp_path, GOOD), valid_keys=VALID)
    domains = space.to_tune_param_space()
    assert set(domains) == set(space.params)
    assert isinstance(domains["tau"], tune.search.sample.Float) and (
        domains["tau"].lower,
        domains["tau"].upper,
    ) == (0.3, 1.0)
    assert (
        isinstance(domains["epochs"], tune.search.sample.Integer) and domains["epochs"].upper == 4
    )  # exclusive
    assert isinstance(domains["shape"], tune.search.sample.Categorical)
    # what OptunaSearch makes of our domains is exactly our Optuna distributions (bounds inclusive)
    assert OptunaSearch.convert_search_space(domains) == space.to_optuna_distributions()
    # sampled values stay inside the declared ranges, ends included
    seen = {domains["epochs"].sample(random_state=i) for i in range(60)}
    assert seen == {1, 2, 3}
    assert {domains["batch_size"].sample(random_state=i) for i in range(60)} == {8, 16, 24, 32}


def test_to_optuna_distributions_covers_all_types(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    d = load_space(_write(tmp_path, GOOD), valid_keys=VALID).to_optuna_distributions()
    assert d["tau"] == FloatDistribution(0.3, 1.0)
    assert d["lr"] == FloatDistribution(1e-5, 2e-4, log=True)
    assert d["epochs"] == IntDistribution(1, 3)
    assert d["batch_size"] == IntDistribution(8, 32, step=8)
    assert d["lora_r"] == IntDistribution(1, 16, log=True)
    assert d["shape"] == CategoricalDistribution(["constant", "linear", "cosine", "step"])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_construct_and_handle_two_objectives(tmp_path, sampler):
    space = load_space(_write(tmp_path, GOOD), valid_keys=VALID).with_overrides(
        sampler=sampler, seed=3
    )
    s = space.make_sampler()
    expected = {
        "nsga2": optuna.samplers.NSGAIISampler,
        "tpe": optuna.samplers.TPESampler,
        "gp": optuna.samplers.GPSampler,
        "random": optuna.samplers.RandomSampler,
    }[sampler]
    assert isinstance(s, expected)
    if sampler == "gp":
        return  # GP fits only after its startup trials: asking one trial proves nothing more
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(directions=["maximize", "maximize"], sampler=s)
    dists = space.to_optuna_distributions()
    for _ in range(2):
        trial = study.ask(dists)
        study.tell(trial, [trial.params["tau"], -trial.params["tau"]])
    assert len(study.best_trials) >= 1


def test_nsga2_population_follows_budget(tmp_path):
    space = load_space(_write(tmp_path, GOOD), valid_keys=VALID)
    assert space.make_sampler()._population_size == 4
    assert space.with_overrides(num_samples=300).nsga2_population_size == 50
    pinned = load_space(_write(tmp_path, GOOD + "population_size: 6\n"), valid_keys=VALID)
    assert pinned.make_sampler()._population_size == 6


def test_with_overrides(tmp_path):
    path = _write(tmp_path, GOOD)
    space = load_space(path, valid_keys=VALID)
    out = space.with_overrides(num_samples=10, max_concurrent=2, sampler="random", seed=None)
    assert (out.num_samples, out.max_concurrent, out.sampler, out.seed) == (10, 2, "random", 0)
    assert out.params == space.params and out.source == space.source and space.num_samples == 4
    with pytest.raises(
        UserInputError, match="num_samples: Input should be greater than or equal to 1, got 0"
    ):
        space.with_overrides(num_samples=0)
    with pytest.raises(
        UserInputError, match="sampler: 'cma' is unknown; valid: nsga2, tpe, gp, random"
    ):
        space.with_overrides(sampler="cma")
    with pytest.raises(UserInputError, match="cannot override params; valid: num_samples"):
        space.with_overrides(params={})
    assert space.scheduler.kind == "fifo" and (space.scheduler.eta, space.scheduler.grace) == (3.0, 4)
    moasha = space.with_overrides(scheduler={**space.scheduler.model_dump(), "kind": "moasha"})
    assert moasha.scheduler.kind == "moasha" and moasha.scheduler.grace == 4 and space.scheduler.kind == "fifo"


def test_from_dict_without_valid_keys_accepts_any_name():
    data = {
        "experiment": "bt",
        "objectives": [{"metric": "a", "mode": "max"}, {"metric": "b", "mode": "min"}],
        "reference_point": [0, 1],
        "num_samples": 1,
        "params": {"anything": {"type": "float", "low": 0, "high": 1}},
    }
    space = SearchSpace.from_dict(data)
    assert space.modes == ["max", "min"] and space.params["anything"].high == 1.0


@pytest.mark.parametrize(("budget", "startup"), [(8, 4), (16, 5), (24, 8), (64, 10)])
def test_tpe_and_gp_model_after_at_most_a_third_of_a_small_budget(tmp_path, budget, startup):
    space = load_space(_write(tmp_path, GOOD), valid_keys=VALID).with_overrides(num_samples=budget)
    assert space.startup_trials == startup
    assert space.with_overrides(sampler="tpe").make_sampler()._n_startup_trials == startup
    assert space.with_overrides(sampler="gp").make_sampler()._n_startup_trials == startup
