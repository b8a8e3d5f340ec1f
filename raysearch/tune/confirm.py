"""After a pairwise search: every Pareto trial and baseline retrained with more seeds and read on test, paired.

The trials were chosen on validation; this step reads the test split once, for the front and the
baselines alike, and shows how much of the front is seed noise:

1. each Pareto configuration and each baseline (G, the same-init baseline) is trained again with
   ``reruns`` more seeds (Ray Train, like the trials; a finished rerun is reused on ``--resume``);
2. every model is scored on the validation and test pairs in the driver (per-pair correctness,
   kept in ``confirm/`` so nothing is scored twice);
3. per model: each objective's mean and seed SD on validation, test metrics per seed; on test, the
   paired difference of every model to G and to the same-init baseline, resampling the same
   questions for both (``raysearch.metrics.paired``), on correctness averaged over seeds;
4. the noise floor: each objective's seed SD (pooled over the rerun configurations) and its
   resampling SD over validation questions, next to the spread of that objective between trials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from raysearch.data.records import PairRecord
from raysearch.io import atomic_write_text, atomic_write_with
from raysearch.metrics.accuracy import community_metrics, summary_resample_sd
from raysearch.metrics.paired import PairedSummary, paired_summary, paired_table
from raysearch.pareto.front import ParetoFront
from raysearch.pareto.report import table_lines

#: test metrics shown per model (mean ± seed SD)
TEST_METRICS = ("test/mean_acc", "test/worst_acc", "test/worst3_acc", "test/majority_acc", "test/minority_acc")
N_BOOT = 1000
#: a trial spread this many seed SDs wide is a spread of configurations, not of seeds
TOLD_APART = 2.0
#: objectives whose noise floor is reported beside the searched ones, to choose the defaults from
NOISE_CANDIDATES = ("val/mean_acc", "val/worst_acc", "val/worst3_acc", "val/minority_acc")


@dataclass
class ModelRuns:
    """One configuration (a Pareto trial or a baseline) over its seeds: flat val/test metrics per seed."""

    name: str
    kind: str  # "pareto" or "baseline"
    seeds: list[int]
    flat: list[dict[str, float]]
    #: per seed, per split: per-pair correctness
    per_seed: list[dict[str, np.ndarray]] = field(repr=False, default_factory=list)

    @property
    def correct(self) -> dict[str, np.ndarray]:
        """Per split: per-pair correctness averaged over seeds (a share in [0, 1])."""
        return {s: np.mean([o[s] for o in self.per_seed], axis=0) for s in self.per_seed[0]}

    def stat(self, key: str) -> tuple[float, float]:
        """Mean and seed SD (0 with one seed) of a flat metric."""
        v = np.array([f[key] for f in self.flat if key in f], dtype=float)
        if v.size == 0:
            return float("nan"), float("nan")
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@dataclass
class Confirmation:
    """Everything the report shows about the front beyond the search itself (plain data; rendering is separate)."""

    objectives: tuple[str, str]
    models: list[ModelRuns]
    paired_vs: dict[str, PairedSummary]  # reference model name -> paired test summary
    noise: list[dict[str, float | str]]

    def seed_sd(self) -> dict[str, tuple[float, float]]:
        """Per model: the seed SD of both objectives (for error bars on the plot)."""
        return {m.name: (m.stat(self.objectives[0])[1], m.stat(self.objectives[1])[1])
                for m in self.models if len(m.seeds) > 1}

    def to_dict(self) -> dict[str, Any]:
        return {
            "objectives": list(self.objectives),
            "models": [{"name": m.name, "kind": m.kind, "seeds": m.seeds, "flat": m.flat} for m in self.models],
            "paired_test": {ref: {"reference": s.reference,
                                  "difference": {m: {k: iv.__dict__ for k, iv in d.items()} for m, d in s.difference.items()},
                                  "accuracy": {m: {k: iv.__dict__ for k, iv in d.items()} for m, d in s.accuracy.items()}}
                            for ref, s in self.paired_vs.items()},
            "noise": self.noise,
        }


def _score(model_dir: Path, cfg: dict[str, Any], splits: dict[str, list[PairRecord]], cache: Path) -> dict[str, np.ndarray]:
    """Per-pair correctness of one trained model on each split, cached in ``cache`` (an .npz)."""
    if cache.exists():
        with np.load(cache) as z:
            return {s: z[s] for s in splits}
    from raysearch.models.scoring import RewardModel

    rm = RewardModel.load(model_dir, max_length=cfg["max_length"])
    out = {s: rm.pair_correct(p, conditioned=bool(cfg["condition_on_community"])) for s, p in splits.items()}
    atomic_write_with(cache, lambda tmp: np.savez(tmp, **out), suffix=".npz")  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    return out


def _flat(correct: dict[str, np.ndarray], splits: dict[str, list[PairRecord]], seed: int) -> dict[str, float]:
    flat: dict[str, float] = {}
    for s, pairs in splits.items():
        m = community_metrics(correct[s], [p.community for p in pairs], groups=[p.group for p in pairs],
                              n_boot=200, seed=seed)
        flat.update(m.flat(prefix=f"{s}/"))
    return flat


def confirm_front(
    front: ParetoFront, *, trials: dict[str, Any], baselines: dict[str, Any], splits: dict[str, list[PairRecord]],
    root: Path, base_seed: int, reruns: int, fit: Any,
) -> Confirmation:
    """Retrain, score and compare (see the module docstring).

    ``trials``: Pareto trial id -> ``(Stage, seed-0 model dir)``; ``baselines``: name -> ``(Stage, seed-0 model
    dir)``; ``fit(stage, seed) -> model dir`` trains a rerun. The first baseline is G when there is one,
    and every model is also compared with the last baseline (the same-init one).
    """
    seeds = [base_seed + k for k in range(reruns + 1)]
    models: list[ModelRuns] = []
    for kind, group in (("pareto", trials), ("baseline", baselines)):
        for name, (stage, first_dir) in group.items():
            per_seed, flats = [], []
            for s in seeds:
                model_dir = Path(first_dir) if s == base_seed else Path(fit(stage, s))
                slug = "".join(ch if ch.isalnum() else "-" for ch in name)
                ok = _score(model_dir, replace(stage.cfg, seed=s).to_dict(), splits,
                            root / "confirm" / f"{slug}-seed{s}.npz")
                per_seed.append(ok)
                flats.append(_flat(ok, splits, seed=s))
                print(f"[raysearch.tune] confirm {name} seed {s}: test mean {flats[-1]['test/mean_acc']:.3f}, "
                      f"worst {flats[-1]['test/worst_acc']:.3f}", flush=True)
            models.append(ModelRuns(name, kind, seeds, flats, per_seed))
    test = splits["test"]
    comm, groups = [p.community for p in test], [p.group for p in test]
    names = list(baselines)
    correct = {m.name: m.correct["test"] for m in models}
    paired = {ref: paired_summary(correct, comm, groups, reference=ref, n_boot=N_BOOT, seed=base_seed)
              for ref in dict.fromkeys([names[0], names[-1]])}
    noise = noise_floor(front, models, splits)
    return Confirmation(objectives=front.objectives, models=models, paired_vs=paired, noise=noise)


def noise_floor(front: ParetoFront, models: list[ModelRuns], splits: dict[str, list[PairRecord]]) -> list[dict[str, float | str]]:
    """Per objective (and per candidate objective of ``NOISE_CANDIDATES``): seed SD pooled over the models
    with reruns, resampling SD over validation questions, and the spread of its value between trials."""
    out: list[dict[str, float | str]] = []
    trials = [*front.points, *front.dominated]
    metrics = [*front.objectives, *[m for m in NOISE_CANDIDATES if m not in front.objectives]]
    resample = {m.name: {s: summary_resample_sd(m.per_seed[0][s], [p.community for p in pairs], [p.group for p in pairs],
                                                prefix=f"{s}/") for s, pairs in splits.items() if s != "test"}
                for m in models}
    for metric in metrics:
        if not all(metric in f for m in models for f in m.flat):
            continue
        variances = [np.var([f[metric] for f in m.flat], ddof=1) for m in models if len(m.flat) > 1]
        seed_sd = float(np.sqrt(np.mean(variances))) if variances else float("nan")
        split = metric.split("/", 1)[0]
        rs = [resample[m.name].get(split, {}).get(metric, np.nan) for m in models]
        k = front.objectives.index(metric) if metric in front.objectives else None
        raw = [t.values[k] if k is not None else t.extra.get(metric) for t in trials]
        values = [float(v) for v in raw if isinstance(v, int | float)]
        spread = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        out.append({"objective": metric, "searched": "yes" if k is not None else "no", "seed_sd": seed_sd,
                    "resample_sd": float(np.nanmean(rs)) if rs else float("nan"), "trial_spread_sd": spread,
                    "spread_over_seed_sd": spread / seed_sd if seed_sd > 0 else float("nan")})
    return out


def confirmation_markdown(conf: Confirmation) -> list[str]:
    """Report sections: models on test over seeds, paired differences, the noise floor."""
    o1, o2 = conf.objectives
    seeds = max(len(m.seeds) for m in conf.models)
    lines = ["## Test, read once: the Pareto trials and the baselines over seeds", "",
             f"Each configuration trained with {seeds} seeds ({', '.join(map(str, conf.models[0].seeds))}); "
             "mean ± seed SD. The trials were chosen on validation only.", ""]
    head = ["model", "kind", o1, o2, *TEST_METRICS]
    rows = [[m.name, m.kind, *[_pm(*m.stat(k)) for k in (o1, o2, *TEST_METRICS)]] for m in conf.models]
    lines += table_lines(head, rows) + [""]
    for ref, summary in conf.paired_vs.items():
        lines += [f"## Paired differences on test against {ref}", "",
                  "Accuracy (%) of correctness averaged over seeds, and each model minus the reference with a 95% "
                  "paired bootstrap interval (the same resampled questions for both models).", "",
                  paired_table(summary), ""]
    lines += ["## Noise floor of the objectives", "",
              "Seed SD: the same configuration trained with another seed (pooled over the configurations above). "
              "Resample SD: one model scored on resampled validation questions. Trial spread: the SD of the "
              "objective over this search's trials. Two trials that differ by less than about two seed SDs "
              "are not told apart by this search.", ""]
    rows = [[str(n["objective"]), str(n["searched"]),
             *[_n(n[k]) for k in ("seed_sd", "resample_sd", "trial_spread_sd", "spread_over_seed_sd")],
             verdict(float(n["spread_over_seed_sd"]))]
            for n in conf.noise]
    lines += table_lines(["objective", "searched", "seed SD", "resample SD", "trial spread (SD)", "spread / seed SD",
                          "verdict"], rows) + [""]
    return lines


def verdict(ratio: float) -> str:
    """Whether the trials' spread in an objective stands out from its seed noise (ratio of SDs >= ``TOLD_APART``)."""
    if not np.isfinite(ratio):
        return "unknown (no reruns)"
    return "trials told apart" if ratio >= TOLD_APART else "within seed noise: the front is not a finding"


def write_confirmation(conf: Confirmation, root: Path) -> None:
    """``confirm.json`` next to the report (atomic)."""
    atomic_write_text(root / "confirm.json", json.dumps(conf.to_dict(), indent=2, default=float))


def _pm(mean: float, sd: float) -> str:
    return "" if not np.isfinite(mean) else f"{mean:.3f} ± {sd:.3f}"


def _n(x: Any) -> str:
    return f"{float(x):.4f}" if isinstance(x, float | int) and np.isfinite(x) else ""
