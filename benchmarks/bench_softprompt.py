"""Benchmark of the soft-prompt search (not a test): one run, one machine, ratios printed.

1. Scoring a population of soft prompts on the whole survey:
   - batched, soft prompt right before the answer, item KV cache shared  (``suffix``, default)
   - batched, soft prompt in front of every item (``prefix``, peft / the paper's placement)
   - item by item with ``model.generate`` (one call per candidate and item, prefix placement)
   All three give the same answer distributions up to float noise (checked).
2. Optimizers at the same budget on the same objective: TwoPointsDE in the k-dim subspace,
   TwoPointsDE in the full n*d space, CMA-ES (subspace) and random search (subspace).

    python benchmarks/bench_softprompt.py                 # default LM, China
    python benchmarks/bench_softprompt.py --quick         # smaller population and budget
    python benchmarks/bench_softprompt.py --skip-scoring --seeds 5 --out docs/results/softprompt-optimizers/runs.jsonl

Timings on a shared machine are disturbed by whatever else runs there: compare ratios
within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from raysearch.softprompt.config import SoftPromptConfig  # noqa: E402
from raysearch.softprompt.driver import run_search  # noqa: E402
from raysearch.softprompt.objective import SurveyObjective  # noqa: E402
from raysearch.softprompt.scorer import SurveyScorer, render_prompt  # noqa: E402


def generate_item_by_item(scorer: SurveyScorer, prompts: torch.Tensor) -> torch.Tensor:
    """The naive loop: one ``generate`` call per candidate and item, soft prompt in front."""
    model, tokenizer, survey = scorer.model, scorer.tokenizer, scorer.survey
    embed = model.get_input_embeddings()
    out = torch.empty(len(prompts), len(survey.items), 5)
    for c, soft in enumerate(prompts):
        for i, item in enumerate(survey.items):
            text = render_prompt(tokenizer, item.render(survey.instruction))
            ids = torch.tensor(tokenizer.encode(text, add_special_tokens=False))
            embeds = torch.cat([soft, embed(ids)])[None]
            with torch.no_grad():
                gen = model.generate(
                    inputs_embeds=embeds,
                    attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                    max_new_tokens=1,
                    do_sample=False,
                    output_scores=True,
                    return_dict_in_generate=True,
                    pad_token_id=scorer.pad_id,
                )
            out[c, i] = torch.softmax(gen.scores[0][0, scorer.answer_ids].float(), -1)
    return out


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def bench_scoring(cfg: SoftPromptConfig, population: int) -> None:
    suffix = SurveyObjective(cfg)
    model = (suffix.model, suffix.tokenizer)
    prefix = SurveyObjective(dataclasses.replace(cfg, position="prefix"), model=model)
    z = np.random.default_rng(0).normal(size=(population, suffix.search_dim))
    prompts = suffix.subspace.prompts(z)
    a, t_suffix = timed(suffix.scorer.answer_probs, prompts)
    b, t_prefix = timed(prefix.scorer.answer_probs, prompts)
    c, t_generate = timed(generate_item_by_item, prefix.scorer, prompts)
    print(
        f"\n## 1. scoring {population} candidates x {suffix.scorer.n_items} items ({prompts.shape[1]} virtual tokens)"
    )
    print("| method | seconds | s / candidate | speed-up vs generate |")
    print("| --- | ---: | ---: | ---: |")
    for name, t in (
        ("batched, suffix (KV shared)", t_suffix),
        ("batched, prefix", t_prefix),
        ("item by item, generate (prefix)", t_generate),
    ):
        print(f"| {name} | {t:.1f} | {t / population:.2f} | {t_generate / t:.1f}x |")
    print(f"batched prefix vs generate, same distributions: max |diff| = {(b - c).abs().max():.1e}")
    print(
        f"suffix vs prefix placement (different prompts, expected to differ): mean |diff| = {(a - b).abs().mean():.3f}"
    )
    print(
        f"ratio suffix/prefix time: {t_suffix / t_prefix:.3f}; "
        f"batched prefix/generate time: {t_prefix / t_generate:.3f}"
    )


def bench_optimizers(cfg: SoftPromptConfig, budget: int, seeds: list[int], out: Path | None) -> None:
    """Every optimizer on every seed at the same budget; with ``out`` each finished run is a JSON line there and a
    rerun skips the runs already in it (so seeds can be added later). The best L1 is deterministic for a seed
    (expected mode); the seconds are not."""
    k = cfg.subspace_dim
    runs = {
        f"TwoPointsDE, subspace k={k}": {},
        "TwoPointsDE, full n*d space": {"subspace_dim": 0},
        f"CMA-ES, subspace k={k}": {"optimizer": "cma"},
        f"random search, subspace k={k}": {"optimizer": "random"},
    }
    shared = SurveyObjective(cfg)
    model = (shared.model, shared.tokenizer)
    print(f"\n## 2. optimizers, {cfg.country}, budget {budget}, popsize {cfg.popsize}, seeds {seeds}")
    naive, persona = shared.baseline("naive")["loss"], shared.baseline("persona")["loss"]
    print(f"naive L1 {naive:.1f}, persona L1 {persona:.1f} (every run starts at the persona prompt)")
    key = dict(country=cfg.country, model=cfg.model, budget=budget, popsize=cfg.popsize)
    done = _read_runs(out, key)
    for name, change in runs.items():
        for seed in seeds:
            if (name, seed) in done:
                continue
            run_cfg = dataclasses.replace(cfg, budget=budget, seed=seed, **change)
            objective = SurveyObjective(run_cfg, model=model, scorer=shared.scorer)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                state = run_search(run_cfg, objective, dim=objective.search_dim, folder=Path(tmp))
                seconds = time.perf_counter() - start
            row = {**key, "optimizer": name, "seed": seed, "dims": objective.search_dim, "best": state.best_loss,
                   "best_after_half": min(state.history[: budget // 2]), "seconds": seconds,
                   "load_avg": os.getloadavg()[0]}
            done[(name, seed)] = row
            print(f"  {name}, seed {seed}: best L1 {row['best']:.1f} ({seconds:.0f} s)", flush=True)
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print(optimizer_table([r for r in done.values() if r["seed"] in seeds], list(runs)))


def _read_runs(out: Path | None, key: dict) -> dict[tuple[str, int], dict]:
    if out is None or not out.is_file():
        return {}
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["optimizer"], r["seed"]): r for r in rows if all(r.get(k) == v for k, v in key.items())}


def optimizer_table(rows: list[dict], names: list[str]) -> str:
    """Best L1 per seed, mean ± sd, and each optimizer minus the default (the first name) paired by seed, with a
    95% t interval over the seeds both ran (the seed is the unit: each is a whole search)."""
    from raysearch.metrics.paired import t_half_width

    by = {(r["optimizer"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| optimizer | dims | best L1 per seed (" + ", ".join(map(str, seeds)) + ") | mean ± sd | "
             "minus the default (first row), paired (95% t) | seconds (sum) |",
             "| --- | ---: | --- | ---: | --- | ---: |"]
    for name in names:
        mine = [by[(name, s)] for s in seeds if (name, s) in by]
        if not mine:
            continue
        best = np.array([r["best"] for r in mine])
        spread = f"{best.mean():.1f} ± {best.std(ddof=1):.1f}" if len(best) > 1 else f"{best.mean():.1f}"
        both = [s for s in seeds if (name, s) in by and (names[0], s) in by]
        diff = np.array([by[(name, s)]["best"] - by[(names[0], s)]["best"] for s in both])
        if name == names[0]:
            paired = "—"
        elif len(diff) > 1:
            half = t_half_width(diff)
            paired = f"{diff.mean():+.1f} [{diff.mean() - half:+.1f}, {diff.mean() + half:+.1f}] (n={len(diff)})"
        else:
            paired = f"{diff.mean():+.1f} (n={len(diff)})" if len(diff) else "—"
        lines.append(f"| {name} | {mine[0]['dims']} | " + ", ".join(f"{r['best']:.1f}" for r in mine)
                     + f" | {spread} | {paired} | {sum(r['seconds'] for r in mine):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--country", default="China")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--population", type=int, default=4, help="candidates scored in part 1")
    parser.add_argument("--budget", type=int, default=96, help="evaluations per optimizer run")
    parser.add_argument("--popsize", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=2, help="seeds per optimizer (A and DE)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds FIRST_SEED .. FIRST_SEED+SEEDS-1")
    parser.add_argument("--out", type=Path, help="part 2: one JSON line per finished run; a rerun skips them")
    parser.add_argument("--quick", action="store_true", help="population 2, budget 16")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--skip-optimizers", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.population, args.budget, args.seeds = 2, 16, 1
    cfg = SoftPromptConfig(country=args.country, model=args.model, popsize=args.popsize, workers=0)
    print(
        f"# bench_softprompt: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, model {args.model}"
    )
    print("(timings on a shared machine may be disturbed by concurrent load)")
    if not args.skip_scoring:
        bench_scoring(cfg, args.population)
    if not args.skip_optimizers:
        bench_optimizers(cfg, args.budget, list(range(args.first_seed, args.first_seed + args.seeds)), args.out)


if __name__ == "__main__":
    main()
