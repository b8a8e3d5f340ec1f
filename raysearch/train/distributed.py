"""Where a training process sits in a run: rank, world size, device, gathering, rank-0 logging, DDP.

Pure ``torch.distributed``: Ray Train (``raysearch.train.ray_train``) sets up the process group;
run bare, every helper sees a world of one.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside ``torch.distributed``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather(obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order (every rank must call it)."""
    _, size = world()
    if size == 1:
        return [obj]
    out: list[Any] = [None] * size
    dist.all_gather_object(out, obj)
    return out


def device(requested: torch.device | str | None = None) -> torch.device:
    """``requested``, else this rank's GPU (``LOCAL_RANK``) where CUDA is available, else the CPU."""
    if requested is not None:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def log(msg: str, *, rank: int | None = None) -> None:
    """Progress from rank 0 only, written to the stream directly so Ray Train's print patch keeps it."""
    if (world()[0] if rank is None else rank) == 0:
        sys.stdout.write(f"[raysearch.train] {msg}\n")
        sys.stdout.flush()


def wrap_ddp(model: torch.nn.Module, dev: torch.device, *, find_unused_parameters: bool = False) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` when the world has more than one rank, else itself."""
    if world()[1] == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=find_unused_parameters)
