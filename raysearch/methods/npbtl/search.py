"""Searches over NP-BTL: the trials share the prepared data (features embedded once); the Pareto
plot's reference point is BTL (no context), trained once, bare, through the runner."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError
from raysearch.io import atomic_write_text
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import NpbtlData


def prepare_trials(space: Any, data: NpbtlData, base: NpbtlConfig, paths: Any, *, reference: str | None = None
                   ) -> tuple[dict[str, Any], NpbtlData, dict[str, tuple[float, float]]]:
    """Trials share ``data`` (features already cached); baseline: BTL (no context) trained bare, once."""
    from raysearch.methods.npbtl import METHOD
    from raysearch.train.runner import run

    objectives = [o.metric for o in space.objectives]
    cache = Path(paths.root) / "baseline-btl.json"
    btl = replace(base, model="btl", stochastic=False)
    if cache.exists() and json.loads(cache.read_text()).get("config") == btl.to_dict():
        flat = json.loads(cache.read_text())["flat"]
    else:
        print("[raysearch.tune] BTL baseline (no context) on the cached features", flush=True)
        flat = run(METHOD, btl, data, workdir=str(Path(paths.root) / "baseline-btl-ckpt")).flat
        atomic_write_text(cache, json.dumps({"config": btl.to_dict(), "flat": flat}, indent=2))
    missing = [m for m in objectives if m not in flat]
    if missing:
        raise UserInputError(f"objective {missing[0]!r} is not an NP-BTL metric; valid: "
                             f"{', '.join(k for k in flat if k.startswith('val/') and k.count('/') == 1)}")
    trial_base = {**base.to_dict(), **({"users": data.users} if data.users in ("countries", "respondents") else {})}
    return trial_base, data, {"BTL (no context)": (flat[objectives[0]], flat[objectives[1]])}


def confirm_trials(front: Any, space: Any, data: NpbtlData, base: NpbtlConfig, paths: Any, *,
                   trial_base: dict[str, Any], trial_data: Any, reference: str | None = None) -> None:
    """None: an NP-BTL search has no seed-rerun confirmation of its front."""
    return None
