"""Does training faster cost accuracy? bf16 autocast on CPU and dropout off against the fp32 default.

Trains the steerable BT reward model (MiniLM, the bundled GlobalOpinionQA slice, the embedded
defaults otherwise) once per variant and seed, same data, same seeds, same initial model, bare (no
Ray), and scores every model on the validation and test pairs once. Printed per variant: the
training throughput and, on validation (where a default would be chosen) and on test (read once,
reported), the mean and worst-3 community accuracy with the paired difference to ``fp32``,
resampling the same questions for every model (``raysearch.metrics.paired``), on correctness
averaged over seeds; and each seed's mean accuracy.

    python experiments/precision_check.py                        # fp32, bf16, bf16-nodrop x seeds 0 1 2
    python experiments/precision_check.py --seeds 0 --max-train-pairs 256   # a quick look

Results are written per run (``--out``), so an interrupted run resumes; numbers: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from raysearch.errors import run_cli
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData, prepare_data
from raysearch.methods.pairwise.step import train_bare
from raysearch.metrics.paired import paired_summary, paired_table
from raysearch.models.scoring import RewardModel
from raysearch.train.checkpoint import MODEL_DIR

VARIANTS = {"fp32": {}, "bf16": {"precision": "bf16"}, "bf16-nodrop": {"precision": "bf16", "dropout": False}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-train-pairs", type=int, default=1024, help="community training pairs (seeded subsample)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/precision_check"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    data = prepare_data("goqa", None, seed=0, max_train_pairs=a.max_train_pairs)
    splits = {"val": data.pairs.val, "test": data.pairs.test}
    a.out.mkdir(parents=True, exist_ok=True)
    rows: dict[tuple[str, int], dict] = {}
    for seed in a.seeds:
        for name in a.variants:  # interleaved: the machine's load drifts alike over every variant
            done = a.out / f"{name}-seed{seed}.json"
            if not done.exists():
                cfg = PairwiseConfig.from_dict({"objective": "bt", "seed": seed, "epochs": a.epochs,
                                                "log_every": 10**9, **VARIANTS[name]}).validate()
                t = time.perf_counter()
                res = train_bare(cfg, TrainData(data.pairs.train, {}), workdir=str(a.out / f"run-{name}-{seed}"))
                train_s = time.perf_counter() - t
                assert res.checkpoint is not None
                rm = RewardModel.load(Path(res.checkpoint) / MODEL_DIR, max_length=cfg.max_length)
                ok = {s: rm.pair_correct(pairs, conditioned=True).tolist() for s, pairs in splits.items()}
                shutil.rmtree(a.out / f"run-{name}-{seed}")
                row = {"variant": name, "seed": seed, "train_s": train_s, "pairs_per_s": res.flat["train/pairs_per_s"],
                       "correct": ok, "load": os.getloadavg()[0]}
                tmp = done.with_suffix(".tmp")
                tmp.write_text(json.dumps(row))
                os.replace(tmp, done)
                print(f"{name} seed {seed}: {row['pairs_per_s']:.1f} pairs/s, val {np.mean(ok['val']):.3f}, "
                      f"test {np.mean(ok['test']):.3f}", flush=True)
            rows[name, seed] = json.loads(done.read_text())
    print(report(rows, a.variants, a.seeds, splits, n_train=len(data.pairs.train)))
    return 0


def report(rows: dict, variants: list[str], seeds: list[int], splits: dict, *, n_train: int) -> str:
    out = [f"{n_train} training pairs, seeds {' '.join(map(str, seeds))}; pairs/s is the training loop's own rate.",
           "", "| variant | pairs/s (mean over seeds) | × fp32 (paired by seed) | val mean acc per seed | test mean acc per seed |",
           "|---|---|---|---|---|"]
    for v in variants:
        rate = [rows[v, s]["pairs_per_s"] for s in seeds]
        ratio = [rows[v, s]["pairs_per_s"] / rows["fp32", s]["pairs_per_s"] for s in seeds] if "fp32" in variants else []
        accs = {sp: " ".join(f"{np.mean(rows[v, s]['correct'][sp]):.3f}" for s in seeds) for sp in splits}
        out.append(f"| {v} | {np.mean(rate):.1f} | {np.mean(ratio):.2f} ({min(ratio):.2f}–{max(ratio):.2f}) | "
                   f"{accs['val']} | {accs['test']} |" if ratio else f"| {v} | {np.mean(rate):.1f} | – | {accs['val']} | {accs['test']} |")
    if "fp32" in variants:
        for sp, pairs in splits.items():
            correct = {v: np.mean([np.asarray(rows[v, s]["correct"][sp], dtype=float) for s in seeds], axis=0)
                       for v in variants}
            summ = paired_summary(correct, [p.community for p in pairs], [p.group for p in pairs], reference="fp32",
                                  n_boot=2000, seed=0)
            out += ["", f"{sp} ({len(pairs)} pairs), correctness averaged over seeds, paired 95% intervals:", "",
                    paired_table(summ)]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
