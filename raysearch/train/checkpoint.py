"""Complete checkpoints: a loadable model folder plus the trainer state for an exact resume."""

from __future__ import annotations

import json
import pickle
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysearch.errors import UserInputError
from raysearch.io import atomic_dir

MODEL_DIR = "model"
STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states of this process, as tensors, numbers and strings
    only, so the trainer state loads with ``torch.load(..., weights_only=True)``."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    return {
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": py_gauss},
        "numpy": {"kind": str(np_kind), "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
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
    """Write ``out/{<the session's model files>, trainer_state.pt, meta.json}`` atomically; a ``model/``
    folder also gets its ``raysearch.json`` and ``README.md`` model card (``raysearch.models.card``).

    The trainer state holds the optimizer, scheduler, epoch, every rank's RNG and whatever the
    session adds (``Session.save``), all tensors, numbers, strings and plain containers (it is loaded
    with ``weights_only=True``, see ``safe_torch_load``); ``meta.json`` the config, metrics and
    versions, readable without torch."""
    with atomic_dir(out) as tmp:
        extra = session.save(tmp)
        if (tmp / MODEL_DIR).is_dir():  # the model folder carries its text convention, data and metrics
            from raysearch.models.card import card_info, write_card

            write_card(tmp / MODEL_DIR, card_info(cfg.to_dict(), metrics=metrics, flat=flat, epoch=epoch,
                                                   **session.card()))
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
    return safe_torch_load(path)


def safe_torch_load(path: str | Path, *, fix: str | None = None) -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and plain containers only, so a
    file from shared storage cannot run code when loaded. A file that is not such a file (one written before
    trainer states were plain, a truncated or corrupt one) is one ``UserInputError`` line naming it and
    saying ``fix`` (default: restart without --resume or delete the checkpoint folder)."""
    path = Path(path)
    restart = fix or f"restart without --resume, or delete the folder {str(path.parent)!r}"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise UserInputError(
                f"{str(path)!r} holds Python objects that a safe load refuses (a checkpoint written by an older "
                f"raysearch, or not by raysearch); it cannot be converted safely: {restart}"
            ) from None
        raise UserInputError(f"{str(path)!r} is truncated or corrupt (UnpicklingError: {_first_line(exc)}); "
                             f"{restart}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:  # torch's zip reader, a short read
        raise UserInputError(f"{str(path)!r} is truncated or corrupt ({type(exc).__name__}: {_first_line(exc)}); "
                             f"{restart}") from None


def verify_checkpoint(ckpt: str | Path) -> None:
    """Read every file a resume needs from checkpoint folder ``ckpt`` (``meta.json``, the trainer state and each
    ``*.safetensors``, every tensor); a missing, truncated or corrupt one is one ``UserInputError`` naming it."""
    from safetensors import safe_open

    ckpt = Path(ckpt)
    try:
        json.loads((ckpt / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{str(ckpt / META_FILE)!r} is missing, truncated or corrupt ({type(exc).__name__}: "
                             f"{_first_line(exc)})") from None
    load_trainer_state(ckpt)
    for f in sorted(ckpt.rglob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                for key in st.keys():
                    st.get_tensor(key)
        except Exception as exc:  # safetensors raises its own SafetensorError (and OSError for a short file)
            raise UserInputError(f"{str(f)!r} is truncated or corrupt ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else "no detail"


def read_meta(ckpt: str | Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / META_FILE).read_text())
