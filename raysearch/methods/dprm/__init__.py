"""DPRM, the distributional preference reward model: a steerable reward model trained on communities' answer distributions.

Li et al. (2024), "Aligning Crowd Feedback via Distributional Preference Reward Modeling"
(arXiv:2402.09764); the maths is ``losses.py``. The model scores ``format_query(prompt, community)``
/ option for every option of a GlobalOpinionQA question; the softmax over the options is the
predicted answer distribution of that community, trained by optimal transport (1-D Wasserstein)
to the observed one, cross-entropy being the ablation.

Single run: ``python -m raysearch.train dprm`` (``cli.py``). Search: ``search.py`` (the model-free
references are its baselines). Text-length check: ``collisions.py``. Design notes: ``docs/dprm.md``.
"""

from __future__ import annotations

from raysearch.methods.base import MethodHome
from raysearch.methods.dprm.config import DprmConfig
from raysearch.methods.dprm.data import DATA_KEYS

#: ``python -m raysearch.tune dprm --smoke-test``: short trials (the data keep the space's record budget)
SMOKE_FIXED = {"epochs": 1, "max_length": 32, "n_boot": 50}

METHOD = MethodHome(
    name="dprm", help="distributional reward model: per-option scores → answer distribution, optimal-transport loss",
    package=__name__, config_cls=DprmConfig, data_keys=DATA_KEYS, per_community_prefix="val/jsd/",
    smoke_fixed=SMOKE_FIXED, monitor=("val/mean_jsd", "min"),
)
