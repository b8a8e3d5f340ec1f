"""NP-BTL vs BTL vs DPL on GlobalOpinionQA users, bare (no Ray): held-out accuracy against context size.

The same data, loop and table as ``python -m raysearch.train npbtl``, without Ray Train, so the three
models run in one process on features embedded once. With several ``--seeds`` each seed is its own
split of countries (and model init); the table pools the held-out countries of all splits, with
95% intervals from a bootstrap over countries (a country held out by two splits counts as one group)
and the gain over no context paired on the same target pairs. Numbers: docs/npbtl.md.

    python experiments/npbtl_goqa.py                                   # users = countries, held-out countries
    python experiments/npbtl_goqa.py --pairs contested --seeds 0 1 2 3 4 5 6 7 8 9 --set encoder=factor eval_repeats=16
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

import numpy as np
import torch

from raysearch.data.tasks import EVAL_CONTEXT_SIZES
from raysearch.errors import run_cli
from raysearch.train.npbtl import markdown_table, pooled_curve
from raysearch.train.npbtl_config import NpbtlConfig
from raysearch.train.npbtl_data import prepare
from raysearch.train.npbtl_loop import eval_task_sets, load_model, run_loop, score_tasks

KINDS = ("npbtl", "btl", "dpl")


def _value(text: str) -> object:
    """A --set value: JSON (2, 1e-3, true) or, failing that, the bare string (factor)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="goqa", help="goqa, a GlobalOpinionQA .json, or synthetic")
    p.add_argument("--users", default="countries", choices=("countries", "respondents"))
    p.add_argument("--heldout-by", default="country", choices=("country", "respondent"))
    p.add_argument("--min-countries", type=int, default=1, help="keep questions asked in >= this many countries")
    p.add_argument("--pairs", default="all", choices=("all", "contested"),
                   help="all pairs, or only those the training countries order both ways")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON",
                   help="any other NpbtlConfig field, e.g. encoder=factor epochs=6 eval_repeats=16")
    p.add_argument("--features", default="joint", choices=("joint", "concat"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one split of countries (and model init) per seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/npbtl_goqa"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    extra = {k: _value(v) for k, v in (s.split("=", 1) for s in a.set)}
    t0 = time.perf_counter()
    # per model and context size: correctness of every held-out target, its country, and per-seed gains
    ok: dict[str, dict[int, list[np.ndarray]]] = {k: {c: [] for c in EVAL_CONTEXT_SIZES} for k in KINDS}
    groups: list[str] = []
    per_seed: dict[str, list[float]] = {k: [] for k in KINDS}
    for seed in a.seeds:
        cfg = NpbtlConfig.from_dict(dict(users=a.users, heldout_by=a.heldout_by, min_countries=a.min_countries,
                                         features=a.features, pairs=a.pairs, seed=seed, **extra)).validate()
        data, notes = prepare(a.data, None, cfg, seed=seed)
        print(f"seed {seed}: " + "; ".join(notes) + f"\n  users/pairs: {data.size_table()}", flush=True)
        tasks = eval_task_sets(data.records["test"], cfg)
        for kind in KINDS:
            t = time.perf_counter()
            res = run_loop(replace(cfg, model=kind, log_every=10**9), data, workdir=str(a.out / f"seed{seed}" / kind))
            assert res.checkpoint is not None
            model = load_model(res.checkpoint)
            for c, ts in tasks.items():
                ok[kind][c].append(score_tasks(model, data, "test", ts, device=torch.device("cpu")).reshape(-1))
            per_seed[kind].append(res.flat["test/gain_ctx10"])
            print(f"  {kind}: {time.perf_counter() - t:.0f} s, held-out accuracy " + " ".join(
                f"{c}:{100 * res.flat[f'test/acc_ctx{c}']:.1f}" for c in EVAL_CONTEXT_SIZES), flush=True)
        recs = data.records["test"]
        groups += [recs[i].community for t in tasks[0] for i in t.target]
    curves = {kind: pooled_curve({c: np.concatenate(v) for c, v in ok[kind].items()}, groups) for kind in KINDS}
    results = {kind: acc for kind, (acc, _) in curves.items()}
    countries = len(set(groups))
    caption = (f"Held-out accuracy (%), {a.data}, users={a.users}, held out by {a.heldout_by}, min_countries="
               f"{a.min_countries}, pairs={a.pairs}{', ' + ' '.join(a.set) if a.set else ''}; {len(a.seeds)} split(s) "
               f"(seeds {' '.join(map(str, a.seeds))}), {countries} distinct held-out countries, {len(groups)} target "
               f"pairs per context size; 95% intervals: bootstrap over countries; gain paired on the same targets.")
    table = markdown_table(results, caption=caption, gains={"npbtl": curves["npbtl"][1]})
    seeds_line = "gain at 10 context pairs per split (points): " + "; ".join(
        f"{k} " + " ".join(f"{100 * g:+.1f}" for g in v) for k, v in per_seed.items())
    print(table + f"\n{seeds_line}\nwall time {time.perf_counter() - t0:.0f} s")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "table.md").write_text(table + f"\n{seeds_line}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
