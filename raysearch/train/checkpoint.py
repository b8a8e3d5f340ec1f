"""Complete checkpoints: a loadable model folder plus the trainer state for an exact resume."""

from __future__ import annotations

import json
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysearch.io import atomic_dir

MODEL_DIR = "model"
STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states of this process."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def versions() -> dict[str, str]:
    import transformers

    import raysearch

    return {"raysearch": raysearch.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}


def save_checkpoint(
    out: Path, *, session: Any, cfg: Any, epoch: int, rng: list[dict[str, Any]], metrics: dict[str, Any],
    flat: dict[str, float],
) -> str:
    """Write ``out/{<the session's model files>, trainer_state.pt, meta.json}`` atomically.

    The trainer state holds the optimizer, scheduler, epoch, every rank's RNG and whatever the
    session adds (``Session.save``); ``meta.json`` the config, metrics and versions, readable
    without torch."""
    with atomic_dir(out) as tmp:
        extra = session.save(tmp)
        sched = session.scheduler
        torch.save({**extra, "optimizer": session.optimizer.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None, "epoch": epoch, "rng": rng},
                   tmp / STATE_FILE)
        (tmp / META_FILE).write_text(json.dumps(
            {"epoch": epoch, "config": cfg.to_dict(), **session.meta(), "metrics": metrics, "flat": flat,
             "versions": versions(), "saved_at": time.time()}, indent=2))
    return str(out)


def load_trainer_state(ckpt: str | Path) -> dict[str, Any]:
    """The trainer state saved by ``save_checkpoint`` (weights, optimizer, RNG, epoch, selection)."""
    path = Path(ckpt) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(ckpt)!r} has no {STATE_FILE}; it was not written by raysearch.train")
    return torch.load(path, map_location="cpu", weights_only=False)


def read_meta(ckpt: str | Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / META_FILE).read_text())
