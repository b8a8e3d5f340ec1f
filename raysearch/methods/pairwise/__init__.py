"""BT and SCPO, the pairwise methods: one reward model scores (community-prefixed) prompt/response
pairs and is trained with the Bradley–Terry loss, plain (``bt``) or filtered and re-weighted by a
global model G (``scpo``), under a community weighting schedule (``losses.py``).

Single run (``python -m raysearch.train {bt,scpo}``): G, then the BT or SCPO model, compared per
community (``experiment.py``). Search: ``search.py``. Same-init baselines: ``baselines.py``,
``comparison.py``.
"""

from __future__ import annotations

from raysearch.methods.base import MethodHome
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import DATA_KEYS

#: ``python -m raysearch.tune {bt,scpo} --smoke-test``: short trials on a few pairs
SMOKE_FIXED = {"max_train_pairs": 32, "max_global_pairs": 32, "epochs": 1, "max_length": 32, "n_boot": 50}

BT = MethodHome(
    name="bt", help="Bradley–Terry fine-tuning on all community pairs, compared with the global model G",
    package=__name__, config_cls=PairwiseConfig, data_keys=DATA_KEYS, per_community_prefix="val/acc/",
    smoke_fixed=SMOKE_FIXED,
)
SCPO = MethodHome(
    name="scpo", help="SCPO from G: the pairs G gets wrong or weakly right, re-weighted; compared with G",
    package=__name__, config_cls=PairwiseConfig, data_keys=DATA_KEYS, per_community_prefix="val/acc/",
    smoke_fixed=SMOKE_FIXED,
)
