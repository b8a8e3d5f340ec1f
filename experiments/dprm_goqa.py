"""DPRM (W1) vs its cross-entropy ablation vs BT on GlobalOpinionQA countries: JSD and W1 per country.

Li et al. (2024), "Aligning Crowd Feedback via Distributional Preference Reward Modeling"
(arXiv:2402.09764). Three steerable reward models (the country is a prefix of the prompt), trained
bare (no Ray) on the same training questions and evaluated on the same unseen test questions (the
split of the pair data): DPRM with the 1-D Wasserstein loss, DPRM with cross-entropy, and BT on the
countries' preference pairs. BT's predicted distribution is the softmax of its option rewards
(Luce's choice rule). References: the leave-one-out global distribution (for country c, the mean
over the *other* countries that answered the question; uniform where none did) and the uniform one.

Settings are chosen on validation only: each DPRM model's epoch is the one with the lowest
validation mean JSD; ``--max-length`` is checked on the input texts alone (no two questions may
become token-identical after truncation: the count is printed, and a warning names a collision-free
length). The test split is scored once, for the selected checkpoints. Model comparisons are paired:
per-record JSD/W1 differences on the same test records, bootstrap over questions.

    python experiments/dprm_goqa.py               # the defaults below; the 3 models one after another
    python experiments/dprm_goqa.py --smoke-test  # 3.4 min on a busy 2-core CPU
    # or train the three models in parallel processes (56 min in all, measured), then report (reuses them):
    for m in DPRM-W1 DPRM-CE BT; do python experiments/dprm_goqa.py --models $m --threads 1 & done; wait
    python experiments/dprm_goqa.py
    # one run per seed (each seed a new split and init), then the seeds side by side:
    python experiments/dprm_goqa.py --seed 1 --out runs/experiments/dprm_goqa-seed1
    python experiments/dprm_goqa.py --summary runs/experiments/dprm_goqa runs/experiments/dprm_goqa-seed1 ...
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from transformers import AutoTokenizer

from raysearch.data.records import DistributionRecord
from raysearch.methods.dprm.collisions import count_collisions, shortest_collision_free
from raysearch.methods.dprm.config import DprmConfig
from raysearch.methods.dprm.data import LOO_GLOBAL, DprmData, has_reference, prepare, reference_predictors
from raysearch.methods.dprm.report import comparison, markdown, paired_markdown, paired_rows
from raysearch.methods.dprm.step import predict_distributions, split_metrics
from raysearch.methods.dprm.step import train_bare as train_dprm_bare
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import train_bare as train_pairwise_bare
from raysearch.metrics.distribution import DistributionMetrics, per_record_distances
from raysearch.models.backbone import load_reward_model, resolve_backbone
from raysearch.models.text import TokenCache

MODELS = ("DPRM-W1", "DPRM-CE", "BT")
DPRM_LOSS: dict[str, Literal["w1", "ce"]] = {"DPRM-W1": "w1", "DPRM-CE": "ce"}
#: lengths tried when the chosen ``--max-length`` makes questions collide
LENGTH_CANDIDATES = (32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 256)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--seed", type=int, default=0, help="seeds the split, model init, data order, bootstrap")
    p.add_argument("--communities", nargs="+", default=None, help="countries (default: the SCPO countries)")
    p.add_argument("--dprm-epochs", type=int, default=3, help="DPRM passes over the training records; the "
                   "epoch with the lowest validation mean JSD is tested")
    p.add_argument("--bt-epochs", type=int, default=1, help="BT passes over the training pairs (1 pass scores "
                   "about as many texts as 3 DPRM passes: 2 texts per pair, ~4 options per record); the last is tested")
    p.add_argument("--dprm-lr", type=float, default=1e-3, help="DPRM learning rate")
    p.add_argument("--bt-lr", type=float, default=2e-4, help="BT learning rate (its default)")
    p.add_argument("--batch-size", type=int, default=32, help="records (DPRM) or pairs (BT) per step")
    p.add_argument("--max-length", type=int, default=96, help="tokens per (prompt, option) text; 96 is the "
                   "shortest length at which no two questions of the SCPO countries collide (the count is printed)")
    p.add_argument("--freeze-layers", type=int, default=4, help="frozen lower MiniLM layers (of 6)")
    p.add_argument("--max-train-records", type=int, default=None, help="subsample DPRM training records")
    p.add_argument("--max-train-pairs", type=int, default=None, help="subsample BT training pairs")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of the questions")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=Path("runs/experiments/dprm_goqa"), help="checkpoints and results")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                   help="train only these and stop (no report); a later run with every model reuses each model "
                        "trained with the same settings (OUT/<model>/selected.json), so models can train in parallel")
    p.add_argument("--smoke-test", action="store_true", help="tiny run to check the script end to end")
    p.add_argument("--summary", type=Path, nargs="+", metavar="DIR",
                   help="train nothing: print the finished runs in these --out folders (one per seed) side by side")
    p.add_argument("--summary-out", type=Path, metavar="DIR", help="with --summary: also write DIR/summary.md")
    a = p.parse_args(argv)
    if a.smoke_test:
        a.dprm_epochs, a.bt_epochs, a.max_length, a.max_train_records, a.max_train_pairs = 2, 1, 24, 32, 64
        a.n_boot = 200
    return a


def check_lengths(data: DprmData, max_length: int) -> dict[str, int]:
    """Print how many questions collide at ``max_length`` (input texts only); warn with a length that has none."""
    tok = AutoTokenizer.from_pretrained(resolve_backbone(DprmConfig().backbone))
    records = [*data.records.train, *data.records.val, *data.records.test]
    col = count_collisions(tok, records, max_length=max_length)
    print(f"text length check: {col.summary()}", flush=True)
    if col.n_colliding:
        free = shortest_collision_free(tok, records, [n for n in LENGTH_CANDIDATES if n > max_length])
        print(f"WARNING: at --max-length {max_length} {col.n_colliding} questions are token-identical to another "
              f"question (the model cannot tell them apart); "
              + (f"--max-length {free} has none." if free else "no tried length up to 256 is free of them."), flush=True)
    return {"max_length": max_length, "colliding_questions": col.n_colliding, "questions": col.questions,
            "truncated_texts": col.truncated_texts, "texts": col.texts}


def predict(checkpoint: str, records: Sequence[DistributionRecord], *, max_length: int, seed: int) -> list[np.ndarray]:
    """A checkpoint's predicted distributions (softmax of its option rewards) on ``records``."""
    model, tok = load_reward_model(str(Path(checkpoint) / "model"), seed=seed)
    return predict_distributions(model, TokenCache(tok, max_length=max_length), records, conditioned=True,
                                 batch_size=128, device=torch.device("cpu"))


#: the arguments a trained model depends on; a saved model is reused only if they match
TRAINING_ARGS = ("seed", "communities", "dprm_epochs", "bt_epochs", "dprm_lr", "bt_lr", "batch_size", "max_length",
                 "freeze_layers", "max_train_records", "max_train_pairs", "n_boot")


def trained(name: str, a: argparse.Namespace, data: DprmData, shared: dict) -> dict:
    """``{"checkpoint", "val", "seconds"}`` of model ``name``: reused from ``OUT/name/selected.json`` if it was
    trained with the same ``TRAINING_ARGS``, else trained now (and saved there)."""
    marker = a.out / name / "selected.json"
    settings = {k: str(getattr(a, k)) for k in TRAINING_ARGS}
    if marker.exists():
        saved = json.loads(marker.read_text())
        if saved["settings"] == settings:
            print(f"{name}: reusing {saved['checkpoint']} (trained in {saved['seconds']:.0f} s, same settings)", flush=True)
            return saved
    t0 = time.perf_counter()
    val: dict[str, float] = {}
    if name == "BT":
        ckpt = train_bt(a, data, shared)
    else:
        ckpt, val = train_dprm(name, DPRM_LOSS[name], a, data, shared)
    out = {"checkpoint": ckpt, "val": val, "seconds": time.perf_counter() - t0, "settings": settings,
           "threads": a.threads}
    marker.write_text(json.dumps(out, indent=2))
    return out


def train_dprm(name: str, loss: Literal["w1", "ce"], a: argparse.Namespace, data: DprmData, shared: dict) -> tuple[str, dict]:
    """Train one DPRM model; return the checkpoint of the epoch with the lowest validation mean JSD and its val metrics."""
    epochs: list[tuple[float, str, dict]] = []
    cfg = DprmConfig(dprm_loss=loss, epochs=a.dprm_epochs, lr=a.dprm_lr, n_boot=a.n_boot, **shared)
    train_dprm_bare(cfg, data, workdir=str(a.out / name),
             reporter=lambda flat, ckpt: epochs.append((flat["val/mean_jsd"], str(ckpt), dict(flat))))
    for jsd, ckpt, flat in epochs:
        print(f"{name} epoch {int(flat['epoch'])}: val mean JSD {jsd:.4f}, val mean W1 {flat['val/mean_w1']:.4f} "
              f"({ckpt})", flush=True)
    best = min(epochs, key=lambda e: (e[0], e[2]["epoch"]))
    val = {"epoch": int(best[2]["epoch"]), "val/mean_jsd": best[0], "val/mean_w1": best[2]["val/mean_w1"],
           "val/worst_jsd": best[2]["val/worst_jsd"]}
    print(f"{name}: selected epoch {val['epoch']} on validation", flush=True)
    return best[1], val


def train_bt(a: argparse.Namespace, data: DprmData, shared: dict) -> str:
    """Train BT on the countries' training pairs; return its last checkpoint."""
    bt_train = data.pairs.train
    if a.max_train_pairs is not None and len(bt_train) > a.max_train_pairs:
        keep = sorted(random.Random(a.seed).sample(range(len(bt_train)), a.max_train_pairs))
        bt_train = [bt_train[i] for i in keep]
    bt_cfg = PairwiseConfig(objective="bt", epochs=a.bt_epochs, lr=a.bt_lr, n_boot=a.n_boot, **shared)
    bt = train_pairwise_bare(bt_cfg, TrainData(bt_train, {"val": data.pairs.val}), workdir=str(a.out / "BT"))
    return str(bt.checkpoint)


def run(a: argparse.Namespace) -> dict | None:
    """Train the three models, select on validation, score the test split once; everything the report needs.

    With ``--models`` a subset, only those are trained and None is returned (no test scoring).
    """
    torch.set_num_threads(a.threads)
    data, notes = prepare("goqa", a.communities, None, seed=a.seed, max_train_records=a.max_train_records)
    for n in notes:
        print(n, flush=True)
    print("records per country (train/val/test): " + ", ".join(f"{c} {x}/{y}/{z}" for c, x, y, z in data.size_table()))
    lengths = check_lengths(data, a.max_length)
    shared = dict(batch_size=a.batch_size, max_length=a.max_length, freeze_layers=a.freeze_layers, seed=a.seed,
                  log_every=5)
    models = {name: trained(name, a, data, shared) for name in MODELS if name in a.models}
    if set(models) != set(MODELS):
        print(f"trained {', '.join(models)}; run again with every model for the test report", flush=True)
        return None
    secs = {k: m["seconds"] for k, m in models.items()}
    ckpts = {k: m["checkpoint"] for k, m in models.items()}
    val = {k: m["val"] for k, m in models.items() if m["val"]}

    test, pairs = data.records.test, data.pairs.test
    pred: dict[str, list] = {k: predict(ckpts[k], test, max_length=a.max_length, seed=a.seed) for k in MODELS}
    pred.update({k: [fn(r) for r in test] for k, fn in reference_predictors(data).items()})
    dist: dict[str, DistributionMetrics] = {}
    acc: dict[str, dict] = {}
    for k, p in pred.items():
        m = split_metrics("test", p, test, pairs, n_boot=a.n_boot, seed=a.seed)
        dist[k] = m["test"]  # type: ignore[assignment]
        if "test_pairs" in m and k != "uniform":  # uniform: every pair a tie, counted wrong
            acc[k] = m["test_pairs"].to_dict()
    targets = [r.distribution for r in test]
    jsd, w1 = {}, {}
    for k, p in pred.items():
        jsd[k], w1[k] = per_record_distances(p, targets)
    groups = [r.group for r in test]
    covered = np.array([has_reference(r, data.loo_global) for r in test])
    between = [("DPRM-W1", "DPRM-CE"), ("DPRM-W1", "BT"), ("DPRM-CE", "BT")]
    to_refs = [(k, LOO_GLOBAL) for k in MODELS] + [(k, "uniform") for k in (*MODELS, LOO_GLOBAL)]
    paired = (paired_rows(jsd, w1, groups, between + to_refs, n_boot=a.n_boot, seed=a.seed)
              + paired_rows(jsd, w1, groups, [(k, LOO_GLOBAL) for k in MODELS] + [(LOO_GLOBAL, "uniform")],
                            keep=covered, subset="with a reference", n_boot=a.n_boot, seed=a.seed))
    return {"dist": dist, "acc": acc, "paired": paired, "val": val, "secs": secs, "lengths": lengths,
            "no_reference": int((~covered).sum()), "test_records": len(test), "checkpoints": ckpts}


#: the paired differences the seed summary lists, (A, B) on every test record
SUMMARY_PAIRS = (("DPRM-W1", "DPRM-CE"), ("DPRM-W1", "BT"), ("DPRM-CE", "BT"), ("DPRM-W1", LOO_GLOBAL),
                 ("DPRM-CE", LOO_GLOBAL), ("BT", LOO_GLOBAL), ("DPRM-W1", "uniform"), ("DPRM-CE", "uniform"),
                 ("BT", "uniform"))


def seed_summary(results: Sequence[dict]) -> str:
    """The finished runs of several seeds side by side: the test mean JSD and W1 of every model per seed, and each
    paired difference per seed with its interval, with how many seeds' intervals exclude 0 on each side.

    Each seed has its own split, so its test questions differ: the seeds are repeats of the whole experiment, not
    resamples of one test set, and are not pooled into one interval.
    """
    seeds = [str(r["args"]["seed"]) for r in results]
    names = results[0]["comparison"]["names"]
    means = [next(row for row in r["comparison"]["rows"] if row["label"] == "mean")["cells"] for r in results]
    lines = ["Test mean over countries per seed (lower is better); mean ± sd over seeds:", "",
             "| model | " + " | ".join(f"JSD seed {s}" for s in seeds) + " | JSD mean ± sd | "
             + " | ".join(f"W1 seed {s}" for s in seeds) + " | W1 mean ± sd |",
             "|---|" + "---|" * (2 * len(seeds) + 2)]
    for name in names:
        jsd = np.array([m[name][0] for m in means])
        w1 = np.array([m[name][1] for m in means])
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in jsd) + f" | {_mean_sd(jsd)} | "
                     + " | ".join(f"{v:.3f}" for v in w1) + f" | {_mean_sd(w1)} |")
    lines += ["", "Paired differences A − B on each seed's test records (95% bootstrap over questions; negative: "
              "A is closer); below 0 / above 0: seeds whose interval excludes 0 on that side:", "",
              "| A − B | metric | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | below 0 | above 0 |",
              "|---|---|" + "---|" * (len(seeds) + 3)]
    for a_name, b_name in SUMMARY_PAIRS:
        rows = [next(p for p in r["paired"] if p["a"] == a_name and p["b"] == b_name and p["subset"] == "all")
                for r in results]
        for metric in ("jsd", "w1"):
            cells = [row[metric] for row in rows]
            below = sum(c["high"] < 0 for c in cells)
            above = sum(c["low"] > 0 for c in cells)
            lines.append(f"| {a_name} − {b_name} | {metric.upper()} | "
                         + " | ".join(f"{c['value']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" for c in cells)
                         + f" | {np.mean([c['value'] for c in cells]):+.3f} | {below} | {above} |")
    return "\n".join(lines) + "\n"


def _mean_sd(x: np.ndarray) -> str:
    return f"{x.mean():.3f} ± {x.std(ddof=1):.3f}" if len(x) > 1 else f"{x.mean():.3f}"


def summarize(dirs: Sequence[Path], out: Path | None) -> int:
    """``--summary``: read each DIR/results.json, print the seed table, write it to OUT/summary.md if given."""
    from raysearch.errors import UserInputError
    from raysearch.io import atomic_write_text

    missing = [str(d) for d in dirs if not (d / "results.json").is_file()]
    if missing:
        raise UserInputError(f"--summary: no results.json in {', '.join(missing)}; a finished run of this script "
                             "writes one (its --out folder)")
    results = [json.loads((d / "results.json").read_text()) for d in dirs]
    seeds = [r["args"]["seed"] for r in results]
    if len(set(seeds)) != len(seeds):
        raise UserInputError(f"--summary: two of these runs have the same seed ({', '.join(seeds)}); give one run "
                             "per seed")
    table = seed_summary(results)
    print(table)
    if out is not None:
        atomic_write_text(out / "summary.md", table)
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.summary:
        return summarize(a.summary, a.summary_out)
    t0, load0 = time.perf_counter(), os.getloadavg()
    res = run(a)
    if res is None:
        print(f"wall {(time.perf_counter() - t0) / 60:.1f} min; load average at start {load0}, at end {os.getloadavg()}")
        return 0
    cmp = comparison(res["dist"])
    acc_rows = ["| model | test pairs: mean accuracy | worst country |", "|---|---|---|"] + [
        f"| {k} | {v['mean'] * 100:.1f} | {v['worst'] * 100:.1f} ({v['worst_community']}) |"
        for k, v in res["acc"].items()]
    val_rows = ["| model | selected epoch | val mean JSD | val worst JSD | val mean W1 |", "|---|---|---|---|---|"] + [
        f"| {k} | {v['epoch']} | {v['val/mean_jsd']:.3f} | {v['val/worst_jsd']:.3f} | {v['val/mean_w1']:.3f} |"
        for k, v in res["val"].items()]
    ln = res["lengths"]
    notes = [f"{LOO_GLOBAL}: {res['no_reference']} of {res['test_records']} test records have no other country "
             f"that answered the question; the reference predicts uniform there.",
             f"max_length {ln['max_length']}: {ln['colliding_questions']} of {ln['questions']} questions collide; "
             f"{ln['truncated_texts']} of {ln['texts']} texts truncated."]
    table = "\n".join([markdown(cmp), paired_markdown(res["paired"]), "\n".join(acc_rows), "",
                        "Selection on validation (DPRM: epoch with the lowest val mean JSD):", "", "\n".join(val_rows),
                        "", *notes]) + "\n"
    print(table)
    wall = time.perf_counter() - t0
    print(f"wall {wall / 60:.1f} min (this run); per model training (s): {json.dumps({k: round(v) for k, v in res['secs'].items()})}; "
          f"load average at start {load0}, at end {os.getloadavg()}; torch {torch.__version__}, {a.threads} threads")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "table.md").write_text(table)
    (a.out / "results.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(a).items()}, "comparison": cmp.to_dict(), "accuracy": res["acc"],
         "paired": [vars(r) | {"jsd": vars(r.jsd), "w1": vars(r.w1)} for r in res["paired"]],
         "validation": res["val"], "lengths": ln, "no_reference": res["no_reference"],
         "seconds": res["secs"], "wall_s": wall}, indent=2))
    return 0


if __name__ == "__main__":
    from raysearch.errors import run_cli

    raise SystemExit(run_cli(main))
