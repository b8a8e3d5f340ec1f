"""Training: the runner (no Ray), the Ray Train wrapper, checkpoints, configs.

``fit(config, data)`` trains one model from Python and returns ``(model, metrics)``;
``load_pairs(...)`` gives the bt/scpo data (``raysearch.train.api``).
"""

from raysearch.train.api import fit, load_pairs

__all__ = ["fit", "load_pairs"]
