"""``fit(config, data)``: one training run from Python, returning the trained model and its metrics.

::

    from raysearch.methods.pairwise.config import PairwiseConfig
    from raysearch.train import fit, load_pairs

    cfg = PairwiseConfig(objective="bt", epochs=1, max_length=32)
    data = load_pairs("goqa", communities=["Chile", "Mexico"], max_train_pairs=64)
    model, metrics = fit(cfg, data)
    print(metrics["val/mean_acc"], model.score_many(["Is family important?"], ["Very"], community="Chile"))

With ``workers=0`` (the default) the run is the bare training loop in this process, no Ray
(``raysearch.train.runner``); ``workers >= 1`` runs it on Ray like ``python -m raysearch.train``
(one worker: a Ray task; more: a Ray Train DDP run), starting a local Ray unless ``RAY_ADDRESS``
names a cluster. The model folder is ``out`` (a temporary folder when not given).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError


def load_pairs(source: str = "goqa", *, communities: list[str] | None = None, seed: int = 0,
               max_train_pairs: int | None = None, margin: float = 0.05, strict: bool = False) -> Any:
    """Community-tagged preference pairs split by question (train/val/test), the data of ``bt``/``scpo``:
    a ``raysearch.methods.pairwise.data.TrainData`` with ``val`` and ``test`` evaluation splits and the
    global pairs (for ``global_share``)."""
    from raysearch.methods.pairwise.data import TrainData, evals, prepare_data

    data = prepare_data(source, communities, margin=margin, seed=seed, max_train_pairs=max_train_pairs,
                        max_global_pairs=max_train_pairs, strict=strict)
    glob = data.global_pairs.train if data.global_pairs is not None else []
    return TrainData(train=data.pairs.train, eval=evals(data), global_train=glob, source=data.source)


def fit(config: Any, data: Any, *, out: str | Path | None = None, workers: int = 0, cpus_per_worker: float = 1,
        gpu: bool = False, device: str | None = None) -> tuple[Any, dict[str, float]]:
    """Train ``config`` (a method's config object, e.g. ``PairwiseConfig``, or a dict with ``objective``) on
    ``data`` (what the method trains on: ``load_pairs(...)`` for bt/scpo); returns ``(model, metrics)``:
    the method's model loaded from the final checkpoint (a ``RewardModel`` for bt, scpo, dprm) and the flat
    metrics of the last epoch (``val/mean_acc``, ``val/acc/<community>``, ``test/...``, ...)."""
    from raysearch.methods.registry import config_from_dict, get

    cfg = config_from_dict(dict(config)) if isinstance(config, dict) else replace(config)
    cfg.validate()
    method = get(cfg.objective)
    if workers < 0:
        raise UserInputError(f"workers={workers} must be >= 0 (0: this process, no Ray)")
    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix=f"raysearch-fit-{cfg.objective}-"))
    if workers == 0:
        from raysearch.io import atomic_dir
        from raysearch.train.runner import run

        with tempfile.TemporaryDirectory(prefix="raysearch-fit-work-") as work:
            res = run(method, cfg, data, device=device, workdir=work)
            assert res.checkpoint is not None, "the runner saves a checkpoint every epoch"
            with atomic_dir(out_dir) as tmp:
                shutil.copytree(res.checkpoint, tmp, dirs_exist_ok=True)
        flat = dict(res.flat)
    else:
        from raysearch.ray_env import init_ray
        from raysearch.train.ray_train import fit_with_ray

        init_ray()
        r = fit_with_ray(cfg, data, name=f"fit-{cfg.objective}-{out_dir.name}", storage_path=str(out_dir.parent / "ray"),
                         num_workers=workers, use_gpu=gpu, cpus_per_worker=cpus_per_worker, out_dir=out_dir, method=method)
        flat = dict(r.flat)
    return method.load_model(out_dir), flat
