"""``python -m raysearch.train dprm``: train a DPRM model on Ray Train and print its test JSD/W1 per community."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from raysearch.data.goqa_files import STRICT_HELP
from raysearch.errors import UserInputError
from raysearch.io import atomic_write_text
from raysearch.methods.dprm.config import DprmConfig
from raysearch.methods.dprm.data import LOO_GLOBAL, DprmData, has_reference, prepare, reference_predictors
from raysearch.metrics.distribution import DistributionMetrics
from raysearch.train.checkpoint import MODEL_DIR, read_meta
from raysearch.train.config import add_config_flags, add_run_flags, config_from_cli

#: ``--smoke-test``: a tiny run
SMOKE = {"max_train_records": 48, "epochs": 1, "max_length": 32, "n_boot": 100, "log_every": 2}


def add_cli(parser: argparse.ArgumentParser) -> None:
    """The ``dprm`` command's flags: data, Ray workers, output, smoke mode and one flag per config field."""
    parser.description = ("Train a steerable DPRM reward model (optimal transport to each community's answer "
                          "distribution) with Ray Train workers; print test JSD and W1 per community next to "
                          "the leave-one-out global distribution (mean over the other countries).")
    parser.add_argument("--data", default="goqa", help="goqa (bundled GlobalOpinionQA slice) or a GlobalOpinionQA file "
                        "(.json, .jsonl, .csv, .parquet; per-country records or the release's schema)")
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    parser.add_argument("--communities", nargs="+", default=None, metavar="NAME",
                        help="countries to train on (default: the SCPO countries present)")
    parser.add_argument("--max-train-records", type=int, default=None, help="subsample training records (seeded)")
    parser.add_argument("--margin", type=float, default=0.05,
                        help="share gap that makes a pair: the pairs fix the question split (shared with bt/scpo) "
                             "and the pairwise accuracy")
    add_run_flags(parser, out_help="output folder; the run is OUT/dprm (reused if unchanged)",
                  smoke_help="tiny run: 48 records, 1 epoch, 32 tokens")
    add_config_flags(parser, DprmConfig)


def _fingerprint(cfg: DprmConfig, data: DprmData) -> str:
    h = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    for name in ("train", "val", "test"):
        h.update(name.encode())
        for r in getattr(data.records, name):
            h.update(f"{r.prompt}\x00{r.options}\x00{r.distribution}\x00{r.community}\x00".encode())
        for p in getattr(data.pairs, name):
            h.update(f"{p.prompt}\x00{p.chosen}\x00{p.rejected}\x00{p.community}\x00".encode())
    return h.hexdigest()[:16]


def fit(cfg: DprmConfig, data: DprmData, *, out: Path, workers: int, gpu: bool, cpus: int = 1) -> Path:
    """Train under Ray Train into ``out``, or reuse ``out`` if it holds the same config and data."""
    from raysearch.methods.dprm import METHOD
    from raysearch.train.ray_train import fit_or_reuse

    fit_or_reuse(cfg, data, out=out, name="dprm", fingerprint=_fingerprint(cfg, data), workers=workers, gpu=gpu,
                 method=METHOD, cpus_per_worker=cpus)
    return out


def results(cfg: DprmConfig, data: DprmData, run: Path) -> dict[str, Any]:
    """Test metrics of the trained model (from its checkpoint) and of the leave-one-out global and uniform references."""
    from raysearch.methods.dprm.search import reference_metrics

    saved = read_meta(run)["metrics"]
    refs = reference_predictors(data)
    out: dict[str, Any] = {"DPRM-" + cfg.dprm_loss.upper(): {"test": saved["test"], "test_pairs": saved.get("test_pairs")}}
    for name, fn in refs.items():
        m = reference_metrics(fn, data.records.test, data.pairs.test, split="test", n_boot=cfg.n_boot, seed=cfg.seed)
        out[name] = {k: v.to_dict() for k, v in m.items()}
    return out


def length_check(cfg: DprmConfig, data: DprmData) -> str:
    """One line: how many questions collide at ``cfg.max_length`` (input texts only), with a warning if any do."""
    from transformers import AutoTokenizer

    from raysearch.methods.dprm.collisions import count_collisions
    from raysearch.models.backbone import resolve_backbone

    tok = AutoTokenizer.from_pretrained(resolve_backbone(cfg.init_from or cfg.backbone))
    records = [*data.records.train, *data.records.val, *data.records.test]
    col = count_collisions(tok, records, max_length=cfg.max_length, conditioned=cfg.condition_on_community)
    if col.n_colliding == 0:
        return f"text length check: {col.summary()}"
    return (f"WARNING: {col.summary()}: the model cannot tell those questions apart; raise --max-length "
            f"(the GlobalOpinionQA SCPO countries need 96)")


def run_cli(args: argparse.Namespace) -> int:
    """Validate everything, then train on Ray, print the table, write OUT/dprm/{table.md, results.json}."""
    cfg: DprmConfig = config_from_cli(args, DprmConfig, smoke=SMOKE, objective="dprm")
    if cfg.batch_size < args.workers:
        raise UserInputError(f"--batch-size {cfg.batch_size} is below --workers {args.workers}; each worker needs a record")
    if cfg.dprm_loss == "ot":
        from raysearch._extras import require

        require("ot", "ot", "--dprm-loss ot")
    from raysearch.models.backbone import resolve_backbone

    resolve_backbone(cfg.backbone)
    if cfg.init_from is not None:
        cfg.init_from = resolve_backbone(cfg.init_from)
    data, notes = prepare(args.data, args.communities, cfg, seed=cfg.seed, strict=args.strict,
                          max_train_records=args.max_train_records,
                          margin=args.margin)
    for note in notes:
        print(f"[raysearch.train] {note}", flush=True)
    print("[raysearch.train] records per community (train/val/test): " + ", ".join(
        f"{c} {a}/{b}/{t}" for c, a, b, t in data.size_table()), flush=True)
    print(f"[raysearch.train] {length_check(cfg, data)}", flush=True)

    from raysearch.methods.dprm.report import comparison, markdown, print_rich
    from raysearch.ray_env import init_ray

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    mode = init_ray(num_cpus=None)
    print(f"[raysearch.train] Ray: {mode}; {args.workers} worker(s), gpu={args.gpu}", flush=True)
    run = fit(cfg, data, out=out / "dprm", workers=args.workers, gpu=args.gpu, cpus=args.cpus_per_worker)
    shutil.rmtree(out / "ray", ignore_errors=True)  # Ray's copies of the checkpoints, now in OUT/dprm
    minutes = (time.perf_counter() - t0) / 60
    res = results(cfg, data, run)
    name = next(iter(res))
    cmp = comparison({k: DistributionMetrics.from_dict(v["test"]) for k, v in res.items()})
    print_rich(cmp, title=f"Test split: {name} vs the {LOO_GLOBAL} and uniform distributions, per community")
    acc = {k: v["test_pairs"] for k, v in res.items() if v.get("test_pairs") and k != "uniform"}  # uniform: all ties
    acc_line = "Pairwise accuracy on the test pairs (reward = predicted share; ties wrong): " + "; ".join(
        f"{k} mean {v['mean'] * 100:.1f}%, worst {v['worst'] * 100:.1f}% ({v['worst_community']})" for k, v in acc.items())
    print(acc_line)
    test = data.records.test
    missing = sum(not has_reference(r, data.loo_global) for r in test)
    ref_line = (f"{LOO_GLOBAL}: per record, the unweighted mean over the other countries of the source that answered "
                f"the question; {missing} of {len(test)} test records have none and get the uniform distribution.")
    print(ref_line)
    atomic_write_text(run / "table.md", markdown(cmp, notes=["", acc_line, "", ref_line, "",
                                                            f"Wall time: {minutes:.1f} min."]))
    atomic_write_text(run / "results.json", json.dumps(
        {"config": cfg.to_dict(), "data": args.data, "communities": data.communities, "results": res,
         "comparison": cmp.to_dict(), "minutes": minutes}, indent=2))
    print(f"Model: {run / MODEL_DIR} (load with raysearch.models.RewardModel.load); table: {run / 'table.md'}; "
          f"{minutes:.1f} min")
    return 0
