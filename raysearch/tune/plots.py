"""The figures of a finished search, read from its study and its confirmation.

``hypervolume.png`` (the validation hypervolume after each finished trial, from the study),
``communities.png`` (test accuracy per community of the Pareto models and the baselines, from
``confirm.json``) and, when plotly is installed, Optuna's own ``pareto.html`` and
``hypervolume.html``. ``write_plots`` writes them all; ``python -m raysearch.tune.plots RUN_DIR``
draws them again for a finished run folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from raysearch.io import atomic_write_text
from raysearch.pareto import (
    CommunityChart,
    HypervolumeCurve,
    ParetoFront,
    hypervolume_curve,
    plot_communities,
    plot_hypervolume,
)
from raysearch.redact import redact
from raysearch.train.runner import FIDELITY
from raysearch.tune.study import open_storage

log = logging.getLogger(__name__)

#: summary columns of ``confirm.json``'s paired test accuracies drawn after the communities (key, label)
SUMMARY_COLUMNS = (("mean", "mean of communities"),)
_STATES = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
           optuna.trial.TrialState.FAIL: "failed"}


def _load(storage: str, study_name: str) -> optuna.Study:
    if "://" not in storage and not Path(storage).expanduser().is_file():  # never create an empty journal
        raise FileNotFoundError(f"no Optuna journal at {storage}")
    return optuna.load_study(study_name=study_name, storage=open_storage(storage))


def hypervolume_from_study(storage: str, study_name: str, front: ParetoFront) -> HypervolumeCurve:
    """The hypervolume after each finished trial of a study, in the order they finished.

    Objectives, directions and reference point are the front's (``pareto.json``); a trial counts in
    the front when COMPLETE (as in ``read_front``), and its training steps are its ``fidelity``
    user attribute (trials stopped early by MO-ASHA count their steps too).
    """
    study = _load(storage, study_name)
    from raysearch.tune.study import DUPLICATE_OF

    done = [t for t in study.get_trials(deepcopy=False) if t.state in _STATES and DUPLICATE_OF not in t.user_attrs]
    done.sort(key=lambda t: (t.datetime_complete or datetime.max, t.number))
    ids = [str(t.user_attrs.get("tune_trial_id", f"optuna-{t.number}")) for t in done]
    values = [t.values if t.state == optuna.trial.TrialState.COMPLETE and t.values else (math.nan, math.nan)
              for t in done]
    steps = [t.user_attrs.get(FIDELITY) for t in done]
    return hypervolume_curve(ids, values, objectives=front.objectives, modes=front.modes,
                             reference_point=front.reference_point, states=[_STATES[t.state] for t in done],
                             steps=[float(s) if isinstance(s, int | float) else None for s in steps])


def community_chart(confirm: Mapping[str, Any], *, split: str = "test") -> CommunityChart:
    """Per-community ``split`` accuracy of every model of a confirmation (``confirm.json``'s layout).

    The intervals are the 95% bootstrap intervals over test questions that the confirmation stored
    (``paired_test``: ``raysearch.metrics.paired``, the same resampled questions for every model, on
    correctness averaged over the seeds). A confirmation without them falls back to a Student-t 95%
    interval over seeds (two seeds or more) or to no interval.
    """
    models = list(confirm["models"])
    if not models:
        raise ValueError("the confirmation has no models to draw")
    prefix = f"{split}/acc/"
    communities = sorted({k[len(prefix):] for m in models for f in m["flat"] for k in f if k.startswith(prefix)})
    summary_keys = {"mean": f"{split}/mean_acc"}
    n_seeds = max(len(m["seeds"]) for m in models)
    paired = confirm.get("paired_test") or {}
    acc = next(iter(paired.values()))["accuracy"] if paired and split == "test" else None
    columns = [*communities, *[label for _, label in SUMMARY_COLUMNS]]
    keys = [*(prefix + c for c in communities), *(summary_keys[s] for s, _ in SUMMARY_COLUMNS)]
    stats = [*communities, *[s for s, _ in SUMMARY_COLUMNS]]
    value, low, high, seeds = [], [], [], []
    first = acc[models[0]["name"]] if acc is not None else {}
    n_pairs = [int(first[s]["n"]) for s in stats] if all(s in first and "n" in first[s] for s in stats) else None
    for m in models:
        per_seed = np.array([[float(f.get(k, math.nan)) for k in keys] for f in m["flat"]], dtype=float)
        seeds.append(per_seed)
        if acc is not None:
            ivs = [acc[m["name"]][s] for s in stats]
            value.append([iv["value"] for iv in ivs])
            low.append([iv["low"] for iv in ivs])
            high.append([iv["high"] for iv in ivs])
            continue
        mean = per_seed.mean(axis=0)
        from raysearch.metrics.paired import t_half_width

        half = t_half_width(per_seed)
        value.append(mean)
        low.append(mean - half)
        high.append(mean + half)
    if acc is not None:
        interval = ("95% bootstrap interval over test questions (the same resampled questions for every model)"
                    + (f"; correctness averaged over {n_seeds} seeds, dots: each seed" if n_seeds > 1
                       else "; one seed per model"))
    elif n_seeds > 1:
        interval = f"95% Student-t interval over {n_seeds} seeds, dots: each seed"
    else:
        interval = "none (one seed and no bootstrap stored)"
    return CommunityChart(columns=columns, n_communities=len(communities), models=[m["name"] for m in models],
                          kinds=[m["kind"] for m in models], value=np.array(value, dtype=float),
                          low=np.array(low, dtype=float), high=np.array(high, dtype=float), seeds=seeds,
                          interval=interval, split=split, n_pairs=n_pairs)


def optuna_figures(storage: str, study_name: str, *, reference_point: Sequence[float]) -> dict[str, Any]:
    """Optuna's plotly figures of a study by file name: ``pareto.html`` and ``hypervolume.html`` (needs plotly)."""
    from optuna.visualization import plot_hypervolume_history, plot_pareto_front

    study = _load(storage, study_name)
    with warnings.catch_warnings():  # plot_hypervolume_history is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        figures = {"pareto.html": plot_pareto_front(study),
                   "hypervolume.html": plot_hypervolume_history(study, reference_point=list(reference_point))}
    for fig in figures.values():
        fig.update_layout(title_text=f"{study_name}: {fig.layout.title.text} (Optuna)")
    return figures


def write_optuna_html(storage: str, study_name: str, root: Path, *,
                      reference_point: Sequence[float]) -> list[Path]:
    """Optuna's Pareto-front and hypervolume-history plots as ``pareto.html`` and ``hypervolume.html``.

    Only when plotly is installed (``pip install plotly``); without it nothing is written and a debug
    line is logged. The axes carry the study's objective names (``study.set_metric_names``). Each file
    embeds plotly.js, so it opens offline.
    """
    try:
        import plotly  # noqa: F401
    except ImportError:
        log.debug("plotly is not installed: pareto.html and hypervolume.html are not written (pip install plotly)")
        return []
    figures = optuna_figures(storage, study_name, reference_point=reference_point)
    return [atomic_write_text(root / name, fig.to_html(include_plotlyjs=True, full_html=True))
            for name, fig in figures.items()]


def write_plots(front: ParetoFront, root: Path, *, storage: str, study_name: str,
                confirm: Mapping[str, Any] | None = None) -> list[Path]:
    """``hypervolume.png``, ``communities.png`` (with a confirmation) and Optuna's HTML plots in ``root``.

    A figure that cannot be drawn (e.g. the study's storage is unreachable) is reported on one line
    and skipped: the search's results are already written."""
    written: list[Path] = []
    jobs = [("hypervolume.png", lambda: [plot_hypervolume(hypervolume_from_study(storage, study_name, front),
                                                          root / "hypervolume.png",
                                                          title=f"{study_name}: hypervolume against trials")])]
    if confirm is not None:
        jobs.append(("communities.png", lambda: [plot_communities(community_chart(confirm), root / "communities.png",
                                                                  title=f"{study_name}: test accuracy per community")]))
    jobs.append(("the Optuna HTML plots", lambda: write_optuna_html(storage, study_name, root,
                                                                    reference_point=front.reference_point)))
    for what, job in jobs:
        try:
            written += job()
        except Exception as exc:  # a figure is never worth losing the run's other outputs
            why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
            print(redact(f"[raysearch.tune] {what} not drawn ({why})"), flush=True)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the figures of a finished run folder again (into it, or into ``--out``)."""
    ap = argparse.ArgumentParser(prog="python -m raysearch.tune.plots", description=main.__doc__)
    ap.add_argument("run_dir", type=Path, help="the run folder of a search (holds pareto.json)")
    ap.add_argument("--study-name", help="the Optuna study (default: the run folder's name)")
    ap.add_argument("--optuna-storage", help="journal file or RDB URL (default: RUN_DIR/study.journal)")
    ap.add_argument("--out", type=Path, help="where to write the figures (default: RUN_DIR)")
    args = ap.parse_args(argv)
    run = args.run_dir.expanduser().resolve()
    front = ParetoFront.from_json(run / "pareto.json")
    confirm = json.loads((run / "confirm.json").read_text()) if (run / "confirm.json").exists() else None
    out = (args.out or run).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = write_plots(front, out, storage=args.optuna_storage or str(run / "study.journal"),
                          study_name=args.study_name or run.name, confirm=confirm)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
