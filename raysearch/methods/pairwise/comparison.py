"""SCPO against its same-init baselines, bare (no Ray): G, full-data fine-tuning from G, per-community and steerable SCPO.

The comparison of "Steerable Cultural Preference Optimization" (SCPO): every model but G starts
from the same global reward model G, so a difference is the objective's, not the starting point's.
For one training seed ``run_seed`` trains (or reuses) the four models of
``raysearch.methods.pairwise.baselines`` plus the steerable SCPO model and returns each model's per-pair
correctness on the evaluation splits, aligned with the split's pairs, so two models can be compared
on the same resampled questions (``raysearch.metrics.paired.paired_summary``). ``summarize`` averages
the correctness over seeds, compares against G and against fine-tuning from G, and measures the
seed-to-seed spread.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysearch.data.records import PairRecord
from raysearch.errors import UserInputError
from raysearch.methods.pairwise.baselines import (
    FINETUNE,
    GLOBAL,
    PER_COMMUNITY,
    finetune_config,
    global_config,
    per_community_config,
)
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import PreferenceData, TrainData
from raysearch.methods.pairwise.experiment import fingerprint
from raysearch.methods.pairwise.step import train_bare
from raysearch.metrics.paired import SUMMARIES, PairedSummary, paired_summary
from raysearch.train.checkpoint import MODEL_DIR
from raysearch.train.ray_train import FINGERPRINT

#: Report name of the steerable SCPO model (one model, the community a prompt prefix).
STEERABLE = "steerable SCPO"
#: The compared models, in table order.
MODELS = (GLOBAL, FINETUNE, PER_COMMUNITY, STEERABLE)

Log = Callable[[str], None]
#: file in a stage folder: wall seconds its training took (kept when the stage is reused)
SECONDS = "TRAIN_SECONDS"


def _print(msg: str) -> None:
    print(f"[raysearch.compare] {msg}", flush=True)


# ----------------------------------------------------------------------------- one stage
def _upstream_fingerprint(init_from: str | None) -> str:
    """The FINGERPRINT of the stage ``init_from`` came from (``<stage>/epoch-k/model``), or ''."""
    if not init_from:
        return ""
    for parent in list(Path(init_from).parents)[:3]:
        if (parent / FINGERPRINT).is_file():
            return (parent / FINGERPRINT).read_text()
    return ""


def stage_fingerprint(cfg: PairwiseConfig, data: TrainData) -> str:
    """``raysearch.methods.pairwise.experiment.fingerprint`` of config and data, chained with the starting
    checkpoint's own fingerprint, so a retrained G invalidates every model started from it."""
    fp = fingerprint(cfg, data)
    up = _upstream_fingerprint(cfg.init_from) or _upstream_fingerprint(cfg.reference)
    return fp if not up else hashlib.sha256(f"{fp}/{up}".encode()).hexdigest()[:16]


def is_finished(cfg: PairwiseConfig, data: TrainData, out: Path) -> bool:
    """Whether ``out`` holds a finished stage of exactly this config, data and starting model."""
    out = Path(out)
    return ((out / FINGERPRINT).is_file() and (out / FINGERPRINT).read_text() == stage_fingerprint(cfg, data)
            and (out / f"epoch-{cfg.epochs}" / MODEL_DIR).is_dir())


def check_shared_g(cfg: PairwiseConfig, data: TrainData, g_dir: Path, flag: str = "--g-dir") -> None:
    """Refuse a shared G folder that holds a finished G of another config or data: training there
    would overwrite the G that the other experiment's models were started from."""
    g_dir = Path(g_dir)
    fp = g_dir / FINGERPRINT
    if fp.is_file() and not is_finished(cfg, data, g_dir):
        raise UserInputError(f"{flag}: {g_dir} holds a G of another config or data (epochs, frozen layers, max_length "
                             "or pairs differ); pass the folder of a run with the same budget, or leave the flag out "
                             "to train G under --out")


def fit_bare(cfg: PairwiseConfig, data: TrainData, out: Path, *, log: Log = _print) -> Path:
    """Train one model in this process (``train_bare``: the runner without Ray) into ``out``; return its checkpoint folder.

    The checkpoint is ``out/epoch-<epochs>`` (a loadable ``model/`` inside). A finished stage with
    the same config, data and starting checkpoint (``stage_fingerprint``) is reused, not retrained;
    ``out/FINGERPRINT`` is written only once training has finished.
    """
    out = Path(out)
    ckpt = out / f"epoch-{cfg.epochs}"
    if is_finished(cfg, data, out):
        log(f"reusing {out} (same config, data and starting model)")
        return ckpt
    fp = stage_fingerprint(cfg, data)
    if out.exists():
        shutil.rmtree(out)  # a stale or unfinished stage
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    res = train_bare(cfg, data, workdir=str(out))
    if res.checkpoint is None or Path(res.checkpoint) != ckpt:
        raise RuntimeError(f"training into {out} left no final checkpoint (got {res.checkpoint})")
    for old in out.glob("epoch-*"):  # keep only the final epoch
        if old != ckpt:
            shutil.rmtree(old)
    secs = time.perf_counter() - t0
    (out / SECONDS).write_text(f"{secs:.1f}")
    (out / FINGERPRINT).write_text(fp)
    log(f"trained {out.name} on {len(data.train)} pairs in {secs:.0f} s")
    return ckpt


def training_seconds(ckpt: Path) -> float | None:
    """The wall seconds the stage of ``ckpt`` took to train when it was trained (None if not recorded)."""
    f = Path(ckpt).parent / SECONDS
    return float(f.read_text()) if f.is_file() else None


def _pairs_key(pairs: Sequence[PairRecord]) -> str:
    h = hashlib.sha256()
    for p in pairs:
        h.update(f"{p.prompt}\x00{p.chosen}\x00{p.rejected}\x00{p.community}\x00{p.group}\x00".encode())
    return h.hexdigest()[:16]


def pair_scores(ckpt: Path, pairs: Sequence[PairRecord], *, conditioned: bool,
                max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Rewards of the chosen and of the rejected text of every pair under the model at ``ckpt``.

    Each distinct text is scored once (an option appears in several pairs of its question, and
    unsteered texts repeat across communities)."""
    from raysearch.models.scoring import RewardModel, pair_text_ids, score_ids

    rm = RewardModel.load(Path(ckpt) / MODEL_DIR, max_length=max_length)
    c_ids, r_ids = pair_text_ids(rm.cache, pairs, conditioned=conditioned)
    uniq = sorted(set(c_ids) | set(r_ids))
    r = dict(zip(uniq, score_ids(rm.model, rm.cache, uniq, batch_size=128, device=rm.device), strict=True))
    return np.array([r[i] for i in c_ids]), np.array([r[i] for i in r_ids])


def pair_correct(ckpt: Path, pairs: Sequence[PairRecord], *, conditioned: bool, max_length: int) -> np.ndarray:
    """Per pair, whether the model at ``ckpt`` ranks chosen strictly over rejected (as
    ``RewardModel.pair_correct``; cached next to the checkpoint)."""
    cache = Path(ckpt) / f"correct-{'c' if conditioned else 'u'}-{max_length}-{_pairs_key(pairs)}.npy"
    if cache.is_file():
        return np.load(cache)
    if not pairs:
        return np.zeros(0, dtype=bool)
    rc, rr = pair_scores(ckpt, pairs, conditioned=conditioned, max_length=max_length)
    ok = rc > rr
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, ok)
    tmp.replace(cache)
    return ok


# ----------------------------------------------------------------------------- one seed
@dataclass
class SeedRun:
    """The four models of one training seed: per split and model, per-pair correctness on the split's pairs."""

    seed: int
    correct: dict[str, dict[str, np.ndarray]]
    #: model (per-community: ``"per-community SCPO/<country>"``) -> checkpoint folder
    checkpoints: dict[str, str]
    #: model -> the communities of the pairs it was trained on
    trained_on: dict[str, list[str]]
    #: model -> number of training pairs it was given (before SCPO's filter)
    n_train: dict[str, int]
    #: model -> wall seconds of this call (reused stages: about 0)
    seconds: dict[str, float] = field(default_factory=dict)
    #: model -> wall seconds its training took when it was trained (None: not recorded)
    train_seconds: dict[str, float | None] = field(default_factory=dict)


def slug(name: str) -> str:
    """A folder name for a community."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "community"


def steerable_config(base: PairwiseConfig, g_path: str) -> PairwiseConfig:
    """The steerable SCPO model: SCPO's defaults (τ, β, no community schedule, no global mix-in) from G, community prefix."""
    return replace(base, objective="scpo", init_from=g_path, reference=g_path, condition_on_community=True)


def run_seed(data: PreferenceData, base: PairwiseConfig, out: Path, *, splits: Sequence[str] = ("val", "test"),
             g_dir: Path | None = None, log: Log = _print) -> SeedRun:
    """Train (or reuse) G, fine-tuning from G, per-community SCPO and steerable SCPO for ``base.seed``.

    ``base`` holds the budget (epochs, freeze_layers, max_length, ...) and the training seed; the
    data split and the training subsample are ``data``'s (fixed across seeds). G trains on all
    global training pairs; the other models on ``data.pairs.train``, each per-community model on
    its own community's pairs only. G lives in ``g_dir`` (default ``out/global``): another
    experiment's G folder is reused when it holds this very stage (``check_shared_g`` first).
    Returns per-pair correctness on every split in ``splits``.
    """
    if data.global_pairs is None:
        raise UserInputError(f"data source {data.source!r} has no global preference to train G from; "
                             "the comparison needs GlobalOpinionQA (goqa or a GOQA .json file)")
    bad = [s for s in splits if s not in ("train", "val", "test")]
    if bad:
        raise UserInputError(f"split {bad[0]!r} is unknown; valid: train, val, test")
    out = Path(out)
    evals = {s: list(getattr(data.pairs, s)) for s in splits}
    train = list(data.pairs.train)
    ml = base.max_length
    correct: dict[str, dict[str, np.ndarray]] = {s: {} for s in splits}
    ckpts: dict[str, str] = {}
    trained_on: dict[str, list[str]] = {}
    n_train: dict[str, int] = {}
    secs: dict[str, float] = {}
    train_secs: dict[str, float | None] = {}

    def stage(name: str, cfg: PairwiseConfig, pairs: list[PairRecord], where: Path,
              margins: torch.Tensor | None = None) -> Path:
        t0 = time.perf_counter()
        log(f"seed {base.seed}: {name} on {len(pairs)} pairs ({cfg.objective}, lr {cfg.learning_rate:g}, "
            f"{cfg.epochs} epoch(s), {'community prefix' if cfg.condition_on_community else 'no prefix'})")
        ckpt = fit_bare(cfg, TrainData(pairs, margins=margins), where, log=log)
        secs[name] = time.perf_counter() - t0
        train_secs[name] = training_seconds(ckpt)
        ckpts[name] = str(ckpt)
        trained_on[name] = sorted({p.community for p in pairs})
        n_train[name] = len(pairs)
        return ckpt

    g = stage(GLOBAL, global_config(base), list(data.global_pairs.train), Path(g_dir) if g_dir else out / "global")
    g_model = str(g / MODEL_DIR)
    ft = stage(FINETUNE, finetune_config(base, g_model), train, out / "finetune")
    st_cfg, pc_cfg = steerable_config(base, g_model), per_community_config(base, g_model)
    own = {c: [p for p in train if p.community == c] for c in data.communities}
    empty = [c for c, v in own.items() if not v]
    if empty:
        raise UserInputError(f"community {empty[0]!r} has no training pairs for its per-community SCPO model; "
                             "raise max_train_pairs or drop the community")
    margins = None
    pending = [(st_cfg, train, out / "steerable")] + [(pc_cfg, own[c], out / "per-community" / slug(c)) for c in own]
    if any(not is_finished(cfg, TrainData(pairs), where) for cfg, pairs, where in pending):
        # SCPO's Δ = r_G(chosen) - r_G(rejected), scored once for every model started from G
        rc, rr = pair_scores(g, train, conditioned=False, max_length=ml)
        margins = torch.tensor(rc - rr, dtype=torch.float32)
    st = stage(STEERABLE, st_cfg, train, out / "steerable", margins)
    for s, pairs in evals.items():
        correct[s][GLOBAL] = pair_correct(g, pairs, conditioned=False, max_length=ml)
        correct[s][FINETUNE] = pair_correct(ft, pairs, conditioned=True, max_length=ml)
        correct[s][STEERABLE] = pair_correct(st, pairs, conditioned=True, max_length=ml)
        correct[s][PER_COMMUNITY] = np.zeros(len(pairs), dtype=bool)
    for c in data.communities:
        idx_train = [i for i, p in enumerate(train) if p.community == c]
        ckpt = stage(f"{PER_COMMUNITY}/{c}", pc_cfg, own[c], out / "per-community" / slug(c),
                     None if margins is None else margins[idx_train])
        for s, pairs in evals.items():
            idx = [i for i, p in enumerate(pairs) if p.community == c]
            correct[s][PER_COMMUNITY][idx] = pair_correct(ckpt, [pairs[i] for i in idx], conditioned=False,
                                                          max_length=ml)
    secs[PER_COMMUNITY] = sum(v for k, v in secs.items() if k.startswith(PER_COMMUNITY + "/"))
    trained_on[PER_COMMUNITY] = sorted(data.communities)
    n_train[PER_COMMUNITY] = len(train)
    ordered = {s: {m: correct[s][m] for m in MODELS} for s in splits}
    return SeedRun(seed=base.seed, correct=ordered, checkpoints=ckpts, trained_on=trained_on, n_train=n_train,
                   seconds=secs, train_seconds=train_secs)


# ----------------------------------------------------------------------------- across seeds
def community_accuracy(correct: np.ndarray, communities: Sequence[str]) -> dict[str, float]:
    """Per community, then ``mean`` (over communities) and ``worst``, of per-pair correctness."""
    comm = np.asarray(communities)
    ok = np.asarray(correct, dtype=float)
    acc = {c: float(ok[comm == c].mean()) for c in sorted(set(comm.tolist()))}
    vals = list(acc.values())
    return {**acc, "mean": float(np.mean(vals)), "worst": float(np.min(vals))}


@dataclass
class SplitSummary:
    """One split over all seeds: the paired comparisons on seed-averaged correctness, and the seed spread."""

    split: str
    seeds: list[int]
    #: paired bootstrap against G and against fine-tuning from G (the same question resamples)
    vs_global: PairedSummary
    vs_finetune: PairedSummary
    #: model -> seed -> per-community accuracy, mean, worst
    per_seed: dict[str, dict[int, dict[str, float]]]
    #: model -> {"mean": std over seeds of the mean accuracy, "worst": ... of the worst}
    seed_std: dict[str, dict[str, float]]


def summarize(runs: Sequence[SeedRun], pairs: Sequence[PairRecord], split: str, *, n_boot: int = 2000,
              seed: int = 0) -> SplitSummary:
    """Average each model's per-pair correctness over ``runs`` (fractional) and compare paired.

    The same question resamples are used for every model (``paired_summary``); the seed-to-seed
    standard deviation (ddof 1; 0 with one seed) of each model's mean and worst accuracy shows
    how much of a difference is training noise.
    """
    if not runs:
        raise UserInputError("no seeds to summarize; pass at least one seed")
    comms = [p.community for p in pairs]
    groups = [p.group for p in pairs]
    mean_correct = {m: np.mean([r.correct[split][m].astype(float) for r in runs], axis=0) for m in MODELS}
    vs_g = paired_summary(mean_correct, comms, groups, reference=GLOBAL, n_boot=n_boot, seed=seed)
    vs_ft = paired_summary(mean_correct, comms, groups, reference=FINETUNE, n_boot=n_boot, seed=seed)
    per_seed = {m: {r.seed: community_accuracy(r.correct[split][m], comms) for r in runs} for m in MODELS}
    ddof = 1 if len(runs) > 1 else 0
    seed_std = {m: {k: float(np.std([v[k] for v in per_seed[m].values()], ddof=ddof)) for k in ("mean", "worst")}
                for m in MODELS}
    return SplitSummary(split=split, seeds=[r.seed for r in runs], vs_global=vs_g, vs_finetune=vs_ft,
                        per_seed=per_seed, seed_std=seed_std)


def summary_dict(s: PairedSummary) -> dict[str, Any]:
    """JSON form of a ``PairedSummary``: per model and statistic, accuracy and difference intervals."""
    def iv(x: Any) -> dict[str, float]:
        return {"value": x.value, "low": x.low, "high": x.high, "n": x.n}
    return {"reference": s.reference, "stats": list(s.stats),
            "accuracy": {m: {k: iv(v) for k, v in d.items()} for m, d in s.accuracy.items()},
            "difference": {m: {k: iv(v) for k, v in d.items()} for m, d in s.difference.items()}}


def excludes_zero(s: PairedSummary, model: str, stats: Sequence[str] | None = None) -> dict[str, str]:
    """The statistics where ``model``'s difference to the reference has a 95% interval above or below 0."""
    out: dict[str, str] = {}
    for k in stats or s.stats:
        d = s.difference[model][k]
        if np.isfinite(d.low) and (d.low > 0 or d.high < 0):
            out[k] = "above" if d.low > 0 else "below"
    return out


__all__ = [
    "MODELS", "STEERABLE", "SUMMARIES", "SeedRun", "SplitSummary", "community_accuracy", "excludes_zero",
    "fit_bare", "is_finished", "training_seconds", "pair_correct", "pair_scores", "run_seed", "stage_fingerprint", "steerable_config", "summarize", "summary_dict",
]
