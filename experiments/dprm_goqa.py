"""DPRM (W1) vs its cross-entropy ablation vs BT on GlobalOpinionQA countries: JSD and W1 per country.

Li et al. (2024), "Aligning Crowd Feedback via Distributional Preference Reward Modeling"
(arXiv:2402.09764). Three steerable reward models (the country is a prefix of the prompt), trained
bare (no Ray) on the same training questions and evaluated on the same unseen test questions (the
split of the pair data): DPRM with the 1-D Wasserstein loss, DPRM with cross-entropy, and BT on the
countries' preference pairs. BT's predicted distribution is the softmax of its option rewards
(Luce's choice rule). The global distribution (mean over all countries that answered) is the
non-steerable reference.

    python experiments/dprm_goqa.py               # the defaults below; ~20-40 min on 2 busy CPU cores
    python experiments/dprm_goqa.py --smoke-test  # a minute
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from raysearch.metrics.distribution import DistributionMetrics
from raysearch.models.backbone import load_reward_model
from raysearch.models.text import TokenCache
from raysearch.train.config import TrainConfig
from raysearch.train.dprm import DprmConfig, prepare, run_loop
from raysearch.train.dprm.data import global_prediction
from raysearch.train.dprm.evaluate import predict_distributions, reference_metrics, split_metrics
from raysearch.train.dprm.report import comparison, markdown
from raysearch.train.loop import TrainData, run_training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--seed", type=int, default=0, help="seeds the split, model init, data order, bootstrap")
    p.add_argument("--communities", nargs="+", default=None, help="countries (default: the SCPO countries)")
    p.add_argument("--dprm-epochs", type=int, default=3, help="DPRM passes over the training records")
    p.add_argument("--bt-epochs", type=int, default=1, help="BT passes over the training pairs (1 pass scores "
                   "about as many texts as 3 DPRM passes: 2 texts per pair, ~4 options per record)")
    p.add_argument("--dprm-lr", type=float, default=1e-3, help="DPRM learning rate")
    p.add_argument("--bt-lr", type=float, default=2e-4, help="BT learning rate (its default)")
    p.add_argument("--batch-size", type=int, default=32, help="records (DPRM) or pairs (BT) per step")
    p.add_argument("--max-length", type=int, default=40, help="tokens per (prompt, option) text")
    p.add_argument("--freeze-layers", type=int, default=4, help="frozen lower MiniLM layers (of 6)")
    p.add_argument("--max-train-records", type=int, default=None, help="subsample DPRM training records")
    p.add_argument("--max-train-pairs", type=int, default=None, help="subsample BT training pairs")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=Path("runs/experiments/dprm_goqa"), help="checkpoints and results")
    p.add_argument("--smoke-test", action="store_true", help="tiny run to check the script end to end")
    a = p.parse_args(argv)
    if a.smoke_test:
        a.dprm_epochs, a.bt_epochs, a.max_length, a.max_train_records, a.max_train_pairs = 1, 1, 24, 32, 64
    return a


def run(a: argparse.Namespace) -> tuple[dict[str, DistributionMetrics], dict[str, dict], dict[str, float]]:
    """Train the three models; return test distribution metrics, test pair accuracy and wall seconds per model."""
    torch.set_num_threads(a.threads)
    data, notes = prepare("goqa", a.communities, None, seed=a.seed, max_train_records=a.max_train_records)
    for n in notes:
        print(n, flush=True)
    print("records per country (train/val/test): " + ", ".join(f"{c} {x}/{y}/{z}" for c, x, y, z in data.size_table()))
    shared = dict(batch_size=a.batch_size, max_length=a.max_length, freeze_layers=a.freeze_layers, seed=a.seed,
                  log_every=5)
    test, pairs = data.records.test, data.pairs.test
    dist: dict[str, DistributionMetrics] = {}
    acc: dict[str, dict] = {}
    secs: dict[str, float] = {}
    for name, loss in (("DPRM-W1", "w1"), ("DPRM-CE", "ce")):
        t0 = time.perf_counter()
        cfg = DprmConfig(dprm_loss=loss, epochs=a.dprm_epochs, lr=a.dprm_lr, **shared)
        res = run_loop(cfg, data, workdir=str(a.out / name))
        secs[name] = time.perf_counter() - t0
        dist[name] = res.metrics["test"]  # type: ignore[assignment]
        acc[name] = res.metrics["test_pairs"].to_dict()
        print(f"{name}: test mean JSD {dist[name].mean_jsd:.3f} in {secs[name]:.0f} s", flush=True)
    t0 = time.perf_counter()
    bt_train = data.pairs.train
    if a.max_train_pairs is not None and len(bt_train) > a.max_train_pairs:
        import random

        keep = sorted(random.Random(a.seed).sample(range(len(bt_train)), a.max_train_pairs))
        bt_train = [bt_train[i] for i in keep]
    bt_cfg = TrainConfig(objective="bt", epochs=a.bt_epochs, lr=a.bt_lr, **shared)
    bt = run_training(bt_cfg, TrainData(bt_train, {"val": data.pairs.val}), workdir=str(a.out / "BT"))
    model, tok = load_reward_model(str(Path(bt.checkpoint) / "model"), seed=a.seed)  # type: ignore[arg-type]
    pred = predict_distributions(model, TokenCache(tok, max_length=a.max_length), test, conditioned=True,
                                 batch_size=128, device=torch.device("cpu"))  # Luce: softmax of the rewards
    m = split_metrics("test", pred, test, pairs, n_boot=1000, seed=a.seed)
    secs["BT"] = time.perf_counter() - t0
    dist["BT"], acc["BT"] = m["test"], m["test_pairs"].to_dict()  # type: ignore[assignment]
    ref = reference_metrics(lambda r: global_prediction(r, data.global_by_question), test, pairs, split="test",
                            n_boot=1000, seed=a.seed)
    dist["global distribution"], acc["global distribution"] = ref["test"], ref["test_pairs"].to_dict()  # type: ignore[assignment]
    return dist, acc, secs


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    t0 = time.perf_counter()
    dist, acc, secs = run(a)
    cmp = comparison(dist)
    acc_rows = ["| model | test pairs: mean accuracy | worst country |", "|---|---|---|"] + [
        f"| {k} | {v['mean'] * 100:.1f} | {v['worst'] * 100:.1f} ({v['worst_community']}) |" for k, v in acc.items()]
    table = markdown(cmp) + "\n" + "\n".join(acc_rows) + "\n"
    print(table)
    wall = time.perf_counter() - t0
    print(f"wall {wall / 60:.1f} min; per model (s): {json.dumps({k: round(v) for k, v in secs.items()})}; "
          f"load average {os.getloadavg()}")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "table.md").write_text(table)
    (a.out / "results.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(a).items()}, "comparison": cmp.to_dict(), "accuracy": acc,
         "seconds": secs, "wall_s": wall}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
