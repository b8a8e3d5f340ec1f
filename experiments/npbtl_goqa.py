"""NP-BTL vs BTL vs DPL on GlobalOpinionQA users, bare (no Ray): held-out accuracy against context size.

The same data, loop and table as ``python -m raysearch.train npbtl``, without Ray Train, so the three
models run in one process on features embedded once. Numbers: docs/npbtl.md.

    python experiments/npbtl_goqa.py                                   # users = countries, held-out countries
    python experiments/npbtl_goqa.py --users respondents               # simulated respondents, held-out countries
    python experiments/npbtl_goqa.py --users respondents --heldout-by respondent
    python experiments/npbtl_goqa.py --min-countries 10                # only questions asked in >= 10 countries
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from raysearch.train.npbtl import heldout_intervals, markdown_table
from raysearch.train.npbtl_config import NpbtlConfig
from raysearch.train.npbtl_data import prepare
from raysearch.train.npbtl_loop import META_FILE, run_loop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="goqa", help="goqa, a GlobalOpinionQA .json, or synthetic")
    p.add_argument("--users", default="countries", choices=("countries", "respondents"))
    p.add_argument("--heldout-by", default="country", choices=("country", "respondent"))
    p.add_argument("--min-countries", type=int, default=1, help="keep questions asked in >= this many countries")
    p.add_argument("--pairs", default="all", choices=("all", "contested"),
                   help="all pairs, or only those the training countries order both ways")
    p.add_argument("--latent-dim", type=int, default=NpbtlConfig.latent_dim)
    p.add_argument("--weight-decay", type=float, default=NpbtlConfig.weight_decay)
    p.add_argument("--epochs", type=int, default=NpbtlConfig.epochs)
    p.add_argument("--features", default="joint", choices=("joint", "concat"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/npbtl-bare"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = NpbtlConfig(users=a.users, heldout_by=a.heldout_by, min_countries=a.min_countries, features=a.features,
                      pairs=a.pairs, latent_dim=a.latent_dim, weight_decay=a.weight_decay, epochs=a.epochs,
                      seed=a.seed).validate()
    t0 = time.perf_counter()
    data, notes = prepare(a.data, None, cfg, seed=cfg.seed)
    print("\n".join(notes), f"\nprepared in {time.perf_counter() - t0:.0f} s: {data.size_table()}", flush=True)
    results = {}
    for kind in ("npbtl", "btl", "dpl"):
        t = time.perf_counter()
        res = run_loop(replace(cfg, model=kind), data, workdir=str(a.out / kind))
        assert res.checkpoint is not None
        results[kind] = heldout_intervals(json.loads((Path(res.checkpoint) / META_FILE).read_text()))
        print(f"{kind}: {time.perf_counter() - t:.0f} s", flush=True)
    table = markdown_table(results, caption=f"Held-out accuracy (%), {a.data}, users={a.users}, "
                                            f"held out by {a.heldout_by}, min_countries={a.min_countries}, pairs={a.pairs}.")
    print(table + f"\nwall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
