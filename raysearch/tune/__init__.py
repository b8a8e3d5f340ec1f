"""Ray Tune + Optuna multi-objective search: search-space files, the driver, the Pareto outputs.

``search(...)`` runs a search from Python and returns its ``ParetoFront`` (``raysearch.tune.api``).
"""


from raysearch.tune.api import search
from raysearch.tune.space import (
    EXPERIMENTS,
    SAMPLERS,
    CategoricalParam,
    FloatParam,
    IntParam,
    Objective,
    Resources,
    SearchSpace,
)
from raysearch.tune.space_files import builtin_space_names, builtin_space_path, load_space

__all__ = [
    "EXPERIMENTS",
    "SAMPLERS",
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "Objective",
    "Resources",
    "SearchSpace",
    "builtin_space_names",
    "builtin_space_path",
    "load_space",
    "search",
]

