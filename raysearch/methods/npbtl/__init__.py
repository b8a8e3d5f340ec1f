"""NP-BTL, the few-shot steerable reward model (Kobalczyk et al. 2024, arXiv:2412.13998), with its
BTL and DPL baselines: a neural process reads a user's context of choices into a latent ``z`` and the
reward ``r(y; z)`` follows (``losses.py``, ``model.py``).

Data (``data.py``): countries, simulated respondents or synthetic two-type users; held-out users;
features embedded once. Training session (``step.py``) on the shared runner. Single run
(``python -m raysearch.train npbtl``, ``cli.py``): NP-BTL on Ray Train workers, BTL and DPL bare,
and the table of held-out accuracy against context size (``report.py``). Search
(``python -m raysearch.tune npbtl``, ``search.py``): trials share the prepared data; the Pareto
plot's reference point is BTL (no context).
"""

from __future__ import annotations

from raysearch.methods.base import MethodHome
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import DATA_KEYS

#: ``python -m raysearch.tune npbtl --smoke-test``: short trials
SMOKE_FIXED = {"steps": 20, "epochs": 1, "n_boot": 100, "eval_repeats": 1}

METHOD = MethodHome(
    name="npbtl", help="few-shot steerable reward (neural process over a user's choices), next to BTL and DPL",
    package=__name__, config_cls=NpbtlConfig, data_keys=DATA_KEYS, per_community_prefix="val/acc_ctx5/",
    smoke_fixed=SMOKE_FIXED, monitor=("val/acc_ctx5", "max"),
)
