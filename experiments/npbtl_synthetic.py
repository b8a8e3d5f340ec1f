"""NP-BTL vs BTL vs DPL on the synthetic two-type users: held-out accuracy against context size (paper table).

Kobalczyk et al. (2024), "Few-shot Steerable Alignment", synthetic experiment: options
x ~ U[0, 1], two hidden user types, features h(x) = x (or fixed random Fourier features of x).
Train users and test users are disjoint (different seeds); each test user is scored on the same
20 target pairs at every context size, with a context of its other pairs (nested across sizes).

    python experiments/npbtl_synthetic.py            # full run, a few minutes on 2 CPU cores
    python experiments/npbtl_synthetic.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from raysearch.data.synthetic import synthetic_pairs
from raysearch.data.tasks import EVAL_CONTEXT_SIZES, eval_tasks
from raysearch.errors import run_cli
from raysearch.methods.npbtl import METHOD
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import feature_data
from raysearch.methods.npbtl.model import synthetic_features
from raysearch.methods.npbtl.step import score_tasks
from raysearch.metrics.accuracy import Interval, bootstrap_accuracy
from raysearch.train.runner import run

#: Reported in the paper (held-out accuracy, %), for reference next to ours.
PAPER = {"NP-BTL": (76.4, 86.6, 94.7, 97.4, 98.9), "BTL": (76.4,) * 5}
NAMES = {"npbtl": "NP-BTL", "btl": "BTL", "dpl": "DPL"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="seeds data, model init, task sampling")
    p.add_argument("--train-users", type=int, default=1000, help="simulated training users")
    p.add_argument("--test-users", type=int, default=500, help="held-out users (a different data seed)")
    p.add_argument("--pairs-per-user", type=int, default=40, help="pairs per user (>= 20 targets + 10 context)")
    p.add_argument("--steps", type=int, default=600, help="NP-BTL training steps")
    p.add_argument("--baseline-steps", type=int, default=200, help="BTL / DPL training steps (they converge fast)")
    p.add_argument("--batch-size", type=int, default=64, help="tasks per step (each 20 targets + 0-10 context)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--features", choices=("raw", "fourier"), default="raw", help="h(x): x itself (paper) or Fourier")
    p.add_argument("--stochastic", action="store_true", help="Gaussian z with a KL term")
    p.add_argument("--encoder", choices=("attention", "factor"), default="attention",
                   help="NP-BTL context encoder: the paper's attention encoder, or shared option factors")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--smoke-test", action="store_true", help="tiny run to check the script end to end")
    a = p.parse_args(argv)
    if a.smoke_test:
        a.train_users, a.test_users, a.steps, a.baseline_steps, a.batch_size = 60, 30, 20, 10, 16
    return a


def train_and_score(a: argparse.Namespace, workdir: Path) -> dict[str, dict[int, Interval]]:
    """Train the three models bare through the runner (one epoch of ``--steps``) and return accuracy
    (with a user-bootstrap interval) per context size on this script's test tasks."""
    torch.set_num_threads(a.threads)
    feat_kw = {"kind": a.features, "seed": a.seed}
    train = synthetic_pairs(n_users=a.train_users, pairs_per_user=a.pairs_per_user, seed=a.seed)
    test = synthetic_pairs(n_users=a.test_users, pairs_per_user=a.pairs_per_user, seed=a.seed + 10_000)
    # the runner validates on the test users too; only the scores below are reported
    records = {"train": train, "val": test, "test": test}
    data = feature_data(records, {s: synthetic_features(r, **feat_kw) for s, r in records.items()},
                        source="synthetic", users="synthetic")
    tasks = {c: eval_tasks(test, context_size=c, seed=a.seed) for c in EVAL_CONTEXT_SIZES}
    out: dict[str, dict[int, Interval]] = {}
    for kind in ("npbtl", "btl", "dpl"):
        t0 = time.perf_counter()
        steps = a.steps if kind == "npbtl" else a.baseline_steps
        cfg = NpbtlConfig(model=kind, stochastic=a.stochastic, encoder=a.encoder, steps=steps, epochs=1,
                          batch_size=a.batch_size, lr=a.lr, seed=a.seed, eval_repeats=1, n_boot=100,
                          log_every=max(1, steps // 4))
        res = run(METHOD, cfg, data, workdir=str(workdir / kind))
        assert res.checkpoint is not None
        model = METHOD.load_model(res.checkpoint)
        out[kind] = {}
        for c, ts in tasks.items():
            correct = score_tasks(model, data, "test", ts, device=torch.device("cpu"))
            users = np.repeat([t.user for t in ts], correct.shape[1])
            out[kind][c] = bootstrap_accuracy(correct.ravel(), groups=users.tolist(), seed=a.seed)
        print(f"  trained {NAMES[kind]:<6} {steps} steps in {time.perf_counter() - t0:.0f} s, "
              f"final loss {res.flat['train/last_loss']:.3f}", flush=True)
    return out


def table(results: dict[str, dict[int, Interval]]) -> str:
    """Rows = models, columns = context sizes (the paper's layout), then the paper's rows."""
    head = f"{'context size':<14}" + "".join(f"{c:>8}" for c in EVAL_CONTEXT_SIZES)
    rows = [head, "-" * len(head)]
    for kind, accs in results.items():
        rows.append(f"{NAMES[kind]:<14}" + "".join(f"{100 * accs[c].value:>8.1f}" for c in EVAL_CONTEXT_SIZES))
    rows.append("95% CI (bootstrap over test users)")
    rows.append(f"{'context size':<14}" + "".join(f"{c:>12}" for c in EVAL_CONTEXT_SIZES))
    for kind, accs in results.items():
        rows.append(f"{NAMES[kind]:<14}" + "".join(
            f"{f'{100 * accs[c].low:.1f}-{100 * accs[c].high:.1f}':>12}" for c in EVAL_CONTEXT_SIZES))
    rows.append("paper")
    for name, vals in PAPER.items():
        rows.append(f"{name:<14}" + "".join(f"{v:>8.1f}" for v in vals))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    start = time.perf_counter()
    print(f"NP-BTL synthetic: {a.train_users} train / {a.test_users} test users, {a.pairs_per_user} pairs each, "
          f"features={a.features}, stochastic={a.stochastic}, encoder={a.encoder}, seed={a.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="npbtl-synthetic-") as work:
        results = train_and_score(a, Path(work))
    n_test = next(iter(results["npbtl"].values())).n
    print(f"\nheld-out accuracy (%) on {n_test} target pairs of {a.test_users} unseen users, against context size")
    print(table(results))
    wall = time.perf_counter() - start
    print(f"\nwall time {wall:.0f} s (torch threads {a.threads})")
    if a.json is not None:
        a.json.write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(a).items()}, "wall_s": wall,
            "accuracy": {k: {str(c): iv.__dict__ for c, iv in v.items()} for k, v in results.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
