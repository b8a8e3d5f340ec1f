"""Which sampler (and whether early stopping) the default search should use: test hypervolume against compute.

For every (sampler, scheduler, seed) this runs the real search, ``python -m raysearch.tune scpo``,
at one budget, and reads

- the **test hypervolume** of its Pareto set: each Pareto configuration's test objectives, read
  once by the search's confirmation (``confirm.json``, seed-0 model) — the front is chosen on
  validation, test only scores it;
- the **compute** it spent: wall time of the search command and training steps summed over its
  trials (``trials.csv``: a stopped trial counts the steps it ran).

The searches of one seed share one global model G (trained by the first, passed to the rest with
``--reference``), the space file's data budget and the same validation/test split (the seed draws
the split, so each seed trains its own G). Results are
written per search as they finish (``results.jsonl``), so the script resumes where it stopped
and can be split by seed across sessions (``--seeds 0``, then ``--seeds 1 2``).

    python experiments/sampler_comparison.py --seeds 0 1 2
    python experiments/sampler_comparison.py --samplers random nsga2 --schedulers fifo --seeds 0 --num-samples 6
    python experiments/sampler_comparison.py --summary          # the table from what is there
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SAMPLERS = ("random", "nsga2", "tpe", "gp")
SCHEDULERS = ("fifo", "moasha")


def _test_hypervolume(run: Path, reference_point: list[float], modes: list[str]) -> tuple[float, int]:
    """Hypervolume of the Pareto configurations' test objectives and how many there are."""
    from raysearch.pareto.hypervolume import hypervolume_2d

    conf = json.loads((run / "confirm.json").read_text())
    objectives = [o.replace("val/", "test/", 1) for o in conf["objectives"]]
    points = [[m["flat"][0][o] for o in objectives] for m in conf["models"] if m["kind"] == "pareto"]
    if not points:
        return 0.0, 0
    return float(hypervolume_2d(np.array(points), reference_point=reference_point, modes=modes)), len(points)


def _training_steps(run: Path, name: str) -> float:
    """Training steps summed over the search's trials: the fidelity each trial reached (a stopped trial
    counts the steps it ran), from the Optuna study."""
    import optuna

    from raysearch.train.runner import FIDELITY
    from raysearch.tune.study import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(str(run / "study.journal")))
    return float(sum(t.user_attrs.get(FIDELITY, 0.0) for t in study.get_trials(deepcopy=False)))


def run_one(sampler: str, scheduler: str, seed: int, *, out: Path, num_samples: int, reference: str | None) -> dict[str, Any]:
    name = f"{sampler}-{scheduler}-seed{seed}"
    cmd = [sys.executable, "-m", "raysearch.tune", "scpo", "--sampler", sampler, "--seed", str(seed),
           "--num-samples", str(num_samples), "--seed-reruns", "0", "--name", name, "--out", str(out)]
    if scheduler != "fifo":
        cmd += ["--scheduler", scheduler]
    if reference:
        cmd += ["--reference", reference]
    if (out / name).exists():
        cmd.append("--resume")
    t0 = time.perf_counter()
    log = (out / f"{name}.log").open("w")
    rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{name}: the search failed (exit {rc}); see {out / f'{name}.log'}")
    run = out / name
    space = json.loads((run / "pareto.json").read_text())
    hv, n_front = _test_hypervolume(run, space["reference_point"], space["modes"])
    return {"sampler": sampler, "scheduler": scheduler, "seed": seed, "num_samples": num_samples,
            "test_hypervolume": hv, "pareto_size": n_front, "wall_s": wall, "training_steps": _training_steps(run, name),
            "val_hypervolume": space.get("hypervolume")}


def summary(results: list[dict[str, Any]]) -> str:
    lines = ["| sampler | scheduler | seeds | test HV (mean ± SD) | wall min (mean) | training steps (mean) |",
             "|---|---|---|---|---|---|"]
    keys = sorted({(r["sampler"], r["scheduler"]) for r in results})
    for sampler, scheduler in keys:
        rs = [r for r in results if (r["sampler"], r["scheduler"]) == (sampler, scheduler)]
        hv = np.array([r["test_hypervolume"] for r in rs])
        lines.append(f"| {sampler} | {scheduler} | {len(rs)} | {hv.mean():.4f} ± {hv.std(ddof=1) if len(hv) > 1 else 0:.4f} "
                     f"| {np.mean([r['wall_s'] for r in rs]) / 60:.1f} | {np.mean([r['training_steps'] for r in rs]):.0f} |")
    return "\n".join(lines) + "\n\n" + paired_summary(results)


def paired_summary(results: list[dict[str, Any]], reference: tuple[str, str] = ("random", "fifo")) -> str:
    """Each search against ``reference`` (random search without early stopping) of the same seed: the
    difference in test hypervolume and the share of its training steps. The seed also draws the split and
    G, and moves the hypervolume far more than any sampler, so only within-seed comparisons say anything."""
    by = {(r["sampler"], r["scheduler"], r["seed"]): r for r in results}
    seeds = sorted({r["seed"] for r in results if (r["sampler"], r["scheduler"]) == reference})
    head = " | ".join(f"seed {k}" for k in seeds)
    lines = [f"Against {reference[0]}/{reference[1]} of the same seed: test HV difference (× 1000) and training "
             "steps as a share of its steps.", "",
             f"| sampler | scheduler | {head} | HV not below, seeds | mean steps share |",
             "|---|---|" + "---|" * len(seeds) + "---|---|"]
    for sampler, scheduler in sorted({(r["sampler"], r["scheduler"]) for r in results}):
        if (sampler, scheduler) == reference:
            continue
        cells, shares, ok, n = [], [], 0, 0
        for k in seeds:
            r, ref = by.get((sampler, scheduler, k)), by[(*reference, k)]
            if r is None:
                cells.append("–")
                continue
            d, share = (r["test_hypervolume"] - ref["test_hypervolume"]) * 1000, r["training_steps"] / ref["training_steps"]
            cells.append(f"{d:+.1f} / {share:.0%}")
            shares.append(share)
            ok += d >= -1e-9
            n += 1
        lines.append(f"| {sampler} | {scheduler} | " + " | ".join(cells) + f" | {ok} of {n} | {np.mean(shares):.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    p.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS), choices=SCHEDULERS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--num-samples", type=int, default=16,
                   help="trials per search (16: TPE and GP model after 5 random trials)")
    p.add_argument("--out", type=Path, default=Path("runs/experiments/sampler_comparison"))
    p.add_argument("--summary", action="store_true", help="print the table of what has finished and stop")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    store = a.out / "results.jsonl"
    results = [json.loads(line) for line in store.read_text().splitlines()] if store.exists() else []
    if not a.summary:
        done = {(r["sampler"], r["scheduler"], r["seed"], r["num_samples"]) for r in results}
        reference = None
        for seed in a.seeds:
            for scheduler in a.schedulers:
                for sampler in a.samplers:
                    # G of this seed only: the seed also draws the question split, so another seed's G saw test questions
                    g = next(iter(sorted(a.out.glob(f"*-seed{seed}/global/model"))), None)
                    reference = str(g) if g is not None else None
                    if (sampler, scheduler, seed, a.num_samples) in done:
                        continue
                    print(f"[sampler_comparison] {sampler} / {scheduler} / seed {seed} ...", flush=True)
                    r = run_one(sampler, scheduler, seed, out=a.out, num_samples=a.num_samples, reference=reference)
                    results.append(r)
                    with store.open("a") as fh:
                        fh.write(json.dumps(r) + "\n")
                    print(f"[sampler_comparison] test HV {r['test_hypervolume']:.4f}, {r['wall_s'] / 60:.1f} min, "
                          f"{r['training_steps']:.0f} steps", flush=True)
    table = summary(results) if results else "(no finished search yet)"
    print(table)
    (a.out / "summary.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
