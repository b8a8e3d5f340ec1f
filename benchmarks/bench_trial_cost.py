"""What one search trial costs against the work it does (not a test): one run, one machine, ratios printed.

A trial of ``python -m raysearch.tune scpo`` is one Ray Train run of the SCPO session. This
script times that run through the real Ray Train wrapper (``fit_with_ray``) and the same run
bare (``train_bare``, the runner without Ray), at several numbers of training pairs and of
communities, and splits the wall time into

- a fixed cost per trial, the intercept of ``wall = fixed + per_pair * pairs`` fitted on the Ray
  runs (Ray Train start, worker start, model load, DDP set-up, checkpoint report, teardown),
- the Ray share: Ray wall time over bare wall time at each size,
- the evaluation share: the bare run's time outside its training steps.

    python benchmarks/bench_trial_cost.py                    # 64..512 pairs, 2..8 communities
    python benchmarks/bench_trial_cost.py --quick            # two sizes, a smoke check
    python benchmarks/bench_trial_cost.py --cpus-per-worker 2 --workers 1

Timings on a shared machine are disturbed by whatever else runs there: compare ratios within
one run, not absolute numbers across runs. Writes ``--out`` (JSON) with every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from raysearch.methods.pairwise.config import PairwiseConfig  # noqa: E402
from raysearch.methods.pairwise.data import TrainData, prepare_data  # noqa: E402
from raysearch.methods.pairwise.step import train_bare  # noqa: E402
from raysearch.models.backbone import resolve_backbone  # noqa: E402

#: the search's communities in the order the community sweep adds them
COMMUNITIES = ["United States", "Britain", "Mexico", "Chile", "Australia", "Canada", "New Zealand", "Israel"]


def _data(n_pairs: int, communities: list[str], seed: int) -> TrainData:
    d = prepare_data("goqa", communities, seed=seed, max_train_pairs=n_pairs)
    return TrainData(d.pairs.train, {"val": d.pairs.val, "test": d.pairs.test})


def _timed_bare(cfg: PairwiseConfig, data: TrainData) -> dict[str, float]:
    """Wall time of a bare run and of its training steps alone (from the runner's pairs/s)."""
    t0 = time.perf_counter()
    res = train_bare(cfg, data, workdir=tempfile.mkdtemp(prefix="bench-trial-"))
    wall = time.perf_counter() - t0
    steps = len(data.train) * cfg.epochs / res.flat["train/pairs_per_s"]
    return {"wall_s": wall, "train_s": steps}


def _timed_ray(cfg: PairwiseConfig, data: TrainData, *, workers: int, cpus: int, tag: str) -> float:
    from raysearch.train.ray_train import fit_with_ray

    root = Path(tempfile.mkdtemp(prefix="bench-trial-ray-"))
    t0 = time.perf_counter()
    fit_with_ray(cfg, data, name=tag, storage_path=str(root / "ray"), num_workers=workers,
                 cpus_per_worker=cpus, out_dir=root / "out")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--communities", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--community-pairs", type=int, default=256, help="training pairs in the community sweep")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cpus-per-worker", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="two sizes, one community count")
    p.add_argument("--out", type=Path, default=Path("runs/bench/trial_cost.json"))
    a = p.parse_args(argv)
    if a.quick:
        a.pairs, a.communities, a.community_pairs = [32, 64], [2], 32
    import torch

    from raysearch.ray_env import init_ray

    torch.set_num_threads(a.workers * a.cpus_per_worker)  # the bare run gets the CPUs the workers hold
    init_ray(num_cpus=max(2, a.workers * a.cpus_per_worker))
    cfg = PairwiseConfig(objective="bt", backbone=resolve_backbone("all-MiniLM-L6-v2"), epochs=1, n_boot=100,
                         log_every=10**6, seed=0)
    rows: list[dict[str, Any]] = []

    def measure(kind: str, n_pairs: int, comms: list[str]) -> None:
        data = _data(n_pairs, comms, seed=0)
        bare = _timed_bare(cfg, data)
        ray_wall = _timed_ray(cfg, data, workers=a.workers, cpus=a.cpus_per_worker, tag=f"{kind}-{n_pairs}-{len(comms)}")
        row = {"sweep": kind, "pairs": len(data.train), "communities": len(comms),
               "eval_pairs": len(data.eval["val"]) + len(data.eval["test"]), "bare_wall_s": bare["wall_s"],
               "bare_train_s": bare["train_s"], "ray_wall_s": ray_wall}
        rows.append(row)
        print(f"{kind:11s} pairs {row['pairs']:4d} communities {row['communities']}: bare {bare['wall_s']:6.1f} s "
              f"(training steps {bare['train_s']:5.1f} s), Ray Train {ray_wall:6.1f} s, "
              f"Ray/bare {ray_wall / bare['wall_s']:.2f}", flush=True)

    print("warm-up (not recorded): the first run pays for imports, tokenizer and model files", flush=True)
    warm = _data(min(a.pairs), COMMUNITIES[:2], seed=0)
    _timed_bare(cfg, warm)
    _timed_ray(cfg, warm, workers=a.workers, cpus=a.cpus_per_worker, tag="warm-up")
    for n in a.pairs:
        measure("pairs", n, COMMUNITIES)
    for k in a.communities:
        measure("communities", a.community_pairs, COMMUNITIES[:k])
    sweep = [r for r in rows if r["sweep"] == "pairs"]
    per_pair, fixed = np.polyfit([r["pairs"] for r in sweep], [r["ray_wall_s"] for r in sweep], 1)
    bare_per_pair, bare_fixed = np.polyfit([r["pairs"] for r in sweep], [r["bare_wall_s"] for r in sweep], 1)
    summary = {
        "ray_fixed_s": float(fixed), "ray_per_pair_s": float(per_pair),
        "bare_fixed_s": float(bare_fixed), "bare_per_pair_s": float(bare_per_pair),
        "ray_fixed_share_at_400_pairs": float(fixed / (fixed + per_pair * 400)),
        "eval_share_bare": float(np.mean([1 - r["bare_train_s"] / r["bare_wall_s"] for r in sweep])),
    }
    print(f"\nRay Train trial: {fixed:.1f} s fixed + {per_pair * 1000:.1f} ms per pair "
          f"(bare: {bare_fixed:.1f} s + {bare_per_pair * 1000:.1f} ms per pair)")
    print(f"fixed cost share of a 400-pair trial: {summary['ray_fixed_share_at_400_pairs']:.0%}; "
          f"evaluation and set-up share of a bare run: {summary['eval_share_bare']:.0%}")
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
               "workers": a.workers, "cpus_per_worker": a.cpus_per_worker}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"machine": machine, "rows": rows, "summary": summary}, indent=2))
    print(f"wrote {a.out}")
    import ray

    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
