"""One soft-prompt run end to end: baselines, search, best prompt saved as an adapter, report.

In sample mode the three prompts are then re-scored on fresh paired draws (``rescore_fresh``),
and the report uses those numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from raysearch.errors import UserInputError
from raysearch.softprompt.config import SoftPromptConfig
from raysearch.softprompt.draws import draw_record, rescore_plan
from raysearch.softprompt.driver import CHECKPOINT, SearchState, load_checkpoint, run_search
from raysearch.softprompt.lm import check_model
from raysearch.softprompt.objective import survey_and_targets
from raysearch.softprompt.report import build_report, markdown, write_report
from raysearch.softprompt.rescore import summarize


def _evaluator(cfg: SoftPromptConfig, log: Callable[[str], None]) -> Any:
    """Ray actors (``--workers N``) or the objective in this process (``--workers 0``).

    On a single machine whose local Ray cannot start (a busy shared box), scoring falls back to
    this process: evaluation is deterministic, so the results are the same, only not spread.
    """
    from raysearch.softprompt.objective import SurveyObjective

    if cfg.workers > 0:
        from raysearch.softprompt.actors import ActorPool

        try:
            return ActorPool(cfg, workers=cfg.workers, gpu=cfg.gpu)
        except Exception as exc:  # noqa: BLE001 - any Ray start-up failure
            if os.environ.get("RAY_ADDRESS"):
                raise
            import ray

            ray.shutdown()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log(f"local Ray did not start ({first}); scoring in this process instead")
    return SurveyObjective(cfg, device="cuda" if cfg.gpu else "cpu")


def rescore_fresh(
    cfg: SoftPromptConfig,
    evaluator: Any,
    state: SearchState,
    search_results: dict[str, dict[str, Any]],
    dimensions: list[str],
) -> dict[str, Any]:
    """Sample mode: naive, persona and the winner on ``cfg.rescore_draws`` fresh paired draws.

    Returns the ``fresh``, ``search_time`` and ``draws`` arguments of ``build_report``: the
    fresh-draw summary, the losses the search saw (the mean over ``--search-draws`` draws each;
    the winner's is the minimum over the search, biased low) and both seed sets, checked disjoint.
    """
    assert state.best_z is not None
    search, fresh_list = rescore_plan(cfg.seed, cfg.budget, cfg.rescore_draws, cfg.search_draws)
    per_draw = evaluator.rescore(state.best_z, fresh_list)
    search_time = {name: float(search_results[name]["loss"]) for name in ("naive", "persona")}
    search_time.update(optimized=float(state.best_loss), optimized_eval=int(state.best_eval))
    search_time["optimized_indices"] = search_results["optimized"]["indices"]
    return {
        "fresh": summarize(per_draw, dimensions, fresh_list, seed=cfg.seed),
        "search_time": search_time,
        "draws": draw_record(search, fresh_list),
    }


def run_softprompt(
    cfg: SoftPromptConfig, *, log: Callable[[str], None] = print, evaluator: Any = None
) -> dict[str, Any]:
    """Run (or resume) the search of ``cfg``; write adapter/, report.* and the checkpoint to out."""
    survey, targets = survey_and_targets(cfg)  # bad country or survey fails before any loading
    folder = cfg.out_dir
    if (folder / CHECKPOINT).exists() and not cfg.resume:
        raise UserInputError(
            f"{str(folder)!r} already holds a run; pass --resume to continue it, or choose "
            "another --out (or delete the folder)"
        )
    state: SearchState | None = load_checkpoint(folder, cfg) if cfg.resume else None
    started = time.perf_counter()
    if evaluator is None:
        check_model(cfg.model)  # converts the default GGUF once, here rather than in each actor
    evaluator = evaluator or _evaluator(cfg, log)
    dim = int(evaluator.search_dim)
    log(f"model ready in {time.perf_counter() - started:.1f} s; searching {dim} dimensions")
    results = {name: evaluator.baseline(name) for name in ("naive", "persona")}
    n = cfg.search_draws
    once = f" ({n} search-time draw{'s' if n > 1 else ''} each)" if cfg.mode == "sample" else ""
    log(f"naive L1 {results['naive']['loss']:.1f}, persona L1 {results['persona']['loss']:.1f}{once}")

    def progress(s: SearchState, seconds: float) -> None:
        log(
            f"gen {s.generation:3d}  evals {s.evaluations:4d}/{cfg.budget}  "
            f"best L1 {s.best_loss:7.2f}  ({seconds:.1f} s)"
        )

    try:
        state = run_search(cfg, evaluator, dim=dim, folder=folder, state=state, on_generation=progress)
    except BaseException:  # a dead actor, OOM, Ctrl-C: say how to continue, then fail loudly
        if (folder / CHECKPOINT).exists():
            log(
                f"search stopped; the checkpoint in {str(folder)!r} keeps every finished generation: "
                "rerun the same command with --resume to continue"
            )
        raise
    assert state.best_z is not None
    dimensions = [d.code for d in survey.dimensions]
    results["optimized"] = evaluator.point_summary(state.best_z, state.best_eval)
    sampled: dict[str, Any] = {}
    if cfg.mode == "sample":
        sampled = rescore_fresh(cfg, evaluator, state, results, dimensions)
        log(
            f"re-scored on {cfg.rescore_draws} fresh draws: optimized L1 "
            f"{sampled['fresh']['prompts']['optimized']['loss']:.1f} (search-time winner {state.best_loss:.1f})"
        )
    report = build_report(
        country=cfg.country,
        targets=targets,
        dimensions=dimensions,
        results=results,
        history=state.history,
        config=cfg.to_dict(),
        elapsed_s=state.elapsed_s,
        **sampled,
    )
    if cfg.goqa:
        report["goqa"] = evaluator.goqa_check(state.best_z, cfg.goqa)
    meta = {"config": cfg.to_dict(), "best_eval": state.best_eval, "scores": results["optimized"]}
    if sampled:
        meta["scores"] = sampled["fresh"]["prompts"]["optimized"]
        meta["fresh_seeds"] = sampled["fresh"]["seeds"]
        meta["search_time_loss"] = state.best_loss
    evaluator.save(state.best_z, folder / "adapter", meta)
    paths = write_report(report, folder)
    log(markdown(report))
    log(f"wrote {paths['markdown']}, {paths['json']}, {paths['plot']} and {folder / 'adapter'}")
    report["wall_s"] = time.perf_counter() - started
    return report
