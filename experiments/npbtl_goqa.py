"""NP-BTL vs BTL vs DPL on GlobalOpinionQA users, bare (no Ray): held-out accuracy against context size.

The same data, runner and tasks as ``python -m raysearch.train npbtl``, without Ray Train, so all models
run in one process on features embedded once (texts shared by several splits are embedded once per
run). With several ``--seeds`` each seed is its own split of countries (and model init); tables pool
the users of all splits, with 95% intervals from a bootstrap over countries (a country in two splits
counts as one group) and the gain over no context paired on the same target pairs. Context and
targets come from disjoint questions (``--set disjoint=pair`` gives the older, leaky protocol).

Evaluation protocol: the models are declared up front: NP-BTL with each of ``--encoders`` (default
settings otherwise, or ``--set``), BTL and DPL. While training, only *validation* accuracy is
printed. Then the NP-BTL encoder with the best pooled validation accuracy (mean over the context
sizes) is marked as selected, and the held-out test table is printed once, at the end, for every
declared model. Nothing is chosen on test. The leakage probe (``raysearch.data.task_leakage``: wins
minus losses among the context pairs of the target's question, no learning) is reported for the
test tasks scored and, for reference, for pair-disjoint tasks on the same users. Numbers: docs/npbtl.md.

    python experiments/npbtl_goqa.py --pairs contested --seeds 0 1 2 3 4 5 6 7 8 9 --set eval_repeats=16
    python experiments/npbtl_goqa.py --seeds 0 1 2 3 4                  # all pairs
    python experiments/npbtl_goqa.py --users respondents               # simulated respondents, held-out countries
    python experiments/npbtl_goqa.py --min-countries 10                # only questions asked in >= 10 countries
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from raysearch.data.task_leakage import LeakageProbe, within_question_probe
from raysearch.data.tasks import EVAL_CONTEXT_SIZES
from raysearch.errors import UserInputError, run_cli
from raysearch.methods.npbtl import METHOD
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import prepare
from raysearch.methods.npbtl.model import ENCODERS
from raysearch.methods.npbtl.report import markdown_table, pooled_curve
from raysearch.methods.npbtl.step import eval_task_sets, load_model, score_tasks
from raysearch.metrics.accuracy import Interval
from raysearch.models import embed as embed_mod
from raysearch.train.runner import run

SPLITS = ("val", "test")


def _value(text: str) -> object:
    """A --set value: JSON (2, 1e-3, true) or, failing that, the bare string (factor)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def memo_embed(real: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``embed_texts`` that embeds each distinct (text, second text) once per process (splits share texts)."""
    cache: dict[tuple[str, str | None, str, int], torch.Tensor] = {}

    def embed(firsts: Sequence[str], seconds: Sequence[str] | None = None, *, backbone: str, max_length: int = 128,
              **kw: object) -> torch.Tensor:
        keys = [(f, seconds[i] if seconds is not None else None, backbone, max_length) for i, f in enumerate(firsts)]
        new = [k for k in dict.fromkeys(keys) if k not in cache]
        if new:
            rows = real([k[0] for k in new], [k[1] or "" for k in new] if seconds is not None else None,
                        backbone=backbone, max_length=max_length, **kw)
            cache.update(zip(new, rows, strict=True))
        return torch.stack([cache[k] for k in keys]) if keys else real(firsts, seconds, backbone=backbone,
                                                                       max_length=max_length, **kw)

    return embed


def models(encoders: Sequence[str]) -> dict[str, dict[str, str]]:
    """The declared models: name -> config overrides."""
    out = {f"npbtl-{e}": {"model": "npbtl", "encoder": e} for e in encoders}
    return {**out, "btl": {"model": "btl"}, "dpl": {"model": "dpl"}}


def _curve_line(name: str, acc: dict[int, Interval]) -> str:
    return f"{name}: " + " ".join(f"{c}:{100 * acc[c].value:.1f}" for c in EVAL_CONTEXT_SIZES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="goqa", help="goqa, a GlobalOpinionQA .json, or synthetic")
    p.add_argument("--users", default="countries", choices=("countries", "respondents"),
                   help="users: countries, or simulated respondents of countries")
    p.add_argument("--heldout-by", default="country", choices=("country", "respondent"),
                   help="users=respondents: hold out whole countries or respondents within every country")
    p.add_argument("--min-countries", type=int, default=1, help="keep questions asked in >= this many countries")
    p.add_argument("--pairs", default="all", choices=("all", "contested"),
                   help="all pairs, or only those the training countries order both ways")
    p.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS,
                   help="NP-BTL context encoders to train (declared up front; one is marked selected on validation)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON",
                   help="any other NpbtlConfig field, e.g. epochs=6 eval_repeats=16 disjoint=pair")
    p.add_argument("--features", default="joint", choices=("joint", "concat"), help="h(y): joint or [h(prompt) || h(option)]")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one split of countries (and model init) per seed")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=Path("runs/npbtl_goqa"), help="checkpoints, table.md, results.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    extra = {k: _value(v) for k, v in (s.split("=", 1) for s in a.set)}
    for k in ("model", "encoder", "seed"):
        if k in extra:
            raise UserInputError(f"--set {k}=... is set by the script (--encoders, --seeds); drop it")
    embed_mod.embed_texts = memo_embed(embed_mod.embed_texts)  # type: ignore[assignment]
    declared = models(a.encoders)
    t0 = time.perf_counter()
    # per split, model and context size: correctness of every target, and each target's country
    ok: dict[str, dict[str, dict[int, list[np.ndarray]]]] = {
        s: {m: {c: [] for c in EVAL_CONTEXT_SIZES} for m in declared} for s in SPLITS}
    groups: dict[str, list[str]] = {s: [] for s in SPLITS}
    probe = {d: {c: LeakageProbe(0, 0, 0) for c in EVAL_CONTEXT_SIZES} for d in ("scored", "pair")}
    per_seed: dict[str, list[float]] = {m: [] for m in declared}
    disjoint = "question"
    for seed in a.seeds:
        cfg = NpbtlConfig.from_dict(dict(users=a.users, heldout_by=a.heldout_by, min_countries=a.min_countries,
                                         features=a.features, pairs=a.pairs, seed=seed, **extra)).validate()
        disjoint = cfg.disjoint
        data, notes = prepare(a.data, None, cfg, seed=seed)
        print(f"seed {seed}: " + "; ".join(notes) + f"\n  users/pairs: {data.size_table()}", flush=True)
        tasks = {s: eval_task_sets(data.records[s], cfg) for s in SPLITS}
        test = data.records["test"]
        leaky = eval_task_sets(test, replace(cfg, disjoint="pair"))
        for c in EVAL_CONTEXT_SIZES:
            probe["scored"][c] += within_question_probe(tasks["test"][c], test)
            probe["pair"][c] += within_question_probe(leaky[c], test)
        for name, over in declared.items():
            t = time.perf_counter()
            res = run(METHOD, replace(cfg, **over, log_every=10**9), data, workdir=str(a.out / f"seed{seed}" / name))
            assert res.checkpoint is not None
            model = load_model(res.checkpoint)
            accs = {}
            for s in SPLITS:
                for c, ts in tasks[s].items():
                    ok[s][name][c].append(score_tasks(model, data, s, ts, device=torch.device("cpu")).reshape(-1))
                accs[s] = {c: ok[s][name][c][-1].mean() for c in EVAL_CONTEXT_SIZES}
            per_seed[name].append(float(accs["test"][10] - accs["test"][0]))
            print(f"  {name}: {time.perf_counter() - t:.0f} s, validation accuracy " + " ".join(
                f"{c}:{100 * accs['val'][c]:.1f}" for c in EVAL_CONTEXT_SIZES), flush=True)
        for s in SPLITS:
            recs = data.records[s]
            groups[s] += [recs[i].community for t in tasks[s][0] for i in t.target]
    curves = {s: {m: pooled_curve({c: np.concatenate(v) for c, v in ok[s][m].items()}, groups[s]) for m in declared}
              for s in SPLITS}
    val_mean = {m: float(np.mean([curves["val"][m][0][c].value for c in EVAL_CONTEXT_SIZES]))
                for m in declared if m.startswith("npbtl")}
    chosen = max(val_mean, key=lambda m: val_mean[m])
    setting = (f"{a.data}, users={a.users}, held out by {a.heldout_by}, min_countries={a.min_countries}, "
               f"pairs={a.pairs}, context and targets disjoint by {disjoint}{', ' + ' '.join(a.set) if a.set else ''}; "
               f"{len(a.seeds)} split(s) (seeds {' '.join(map(str, a.seeds))})")
    npbtl_gains = {m: curves["val"][m][1] for m in declared if m.startswith("npbtl")}
    val_table = markdown_table({m: curves["val"][m][0] for m in declared}, gains=npbtl_gains, caption=(
        f"VALIDATION accuracy (%), {setting}; {len(set(groups['val']))} distinct validation countries, "
        f"{len(groups['val'])} target pairs per context size. Used to select the NP-BTL encoder."))
    selection = ("selected on validation (mean accuracy over context sizes): " + chosen + "; "
                 + ", ".join(f"{m} {100 * v:.2f}" for m, v in val_mean.items()))
    test_gains = {m: curves["test"][m][1] for m in declared if m.startswith("npbtl")}
    test_table = markdown_table({m: curves["test"][m][0] for m in declared}, gains=test_gains, caption=(
        f"HELD-OUT TEST accuracy (%), read once after training; every row is a model declared before the run, and "
        f"nothing was chosen on test ({chosen} was selected on validation). {setting}; "
        f"{len(set(groups['test']))} distinct held-out countries, {len(groups['test'])} target pairs per context "
        f"size; 95% intervals: bootstrap over countries; gain paired on the same targets."))
    probe_lines = "\n".join(
        f"leakage probe (within-question wins - losses, no learning), context {c}: tasks scored here: "
        f"{probe['scored'][c].line()}; pair-disjoint tasks on the same users: {probe['pair'][c].line()}"
        for c in EVAL_CONTEXT_SIZES[1:])
    seeds_line = "test gain at 10 context pairs per split (points): " + "; ".join(
        f"{k} " + " ".join(f"{100 * g:+.1f}" for g in v) for k, v in per_seed.items())
    wall = time.perf_counter() - t0
    report = f"{val_table}\n{selection}\n\n{test_table}\n{seeds_line}\n\n{probe_lines}\n"
    print("\n" + report + f"\nwall time {wall:.0f} s")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "table.md").write_text(report + f"\nwall time {wall:.0f} s\n")
    (a.out / "results.json").write_text(json.dumps({
        "argv": argv if argv is not None else sys.argv[1:], "seeds": a.seeds, "selected_on_val": chosen, "val_mean": val_mean, "wall_s": wall,
        **{s: {m: {str(c): iv.__dict__ for c, iv in curves[s][m][0].items()} for m in declared} for s in SPLITS},
        **{f"{s}_gain": {m: {str(c): iv.__dict__ for c, iv in curves[s][m][1].items()} for m in declared}
           for s in SPLITS},
        "probe": {d: {str(c): pr.__dict__ for c, pr in v.items()} for d, v in probe.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
