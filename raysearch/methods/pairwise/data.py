"""The pairwise methods' data: from a data source name to community preference pairs split by question
or user (and global pairs where the source defines them), and which pairs a run trains on with what
base weight (SCPO's filter and weights, the global mix-in)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY, goqa_pairs, load_goqa
from raysearch.data.goqa_files import is_goqa_file
from raysearch.data.prism import HF_NAME, HF_PREFIX, load_prism, prism_pairs
from raysearch.data.records import PairRecord
from raysearch.data.splits import Split, assign_groups, split_by_group, subsample
from raysearch.errors import UserInputError
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.losses import scpo_select

#: search-space ``fixed`` options that shape the data (passed to ``prepare``), not the training config
DATA_KEYS = ("max_train_pairs", "max_global_pairs", "margin")


SOURCES = ("goqa (bundled GlobalOpinionQA slice), prism (Hugging Face), a GlobalOpinionQA file (.json, .jsonl, .csv, "
           ".parquet), or a PRISM folder")


@dataclass
class PreferenceData:
    """Split community pairs and, where the source defines it, split global (unified) pairs."""

    source: str
    kind: str  # "goqa" or "prism"
    communities: list[str]
    pairs: Split[PairRecord]
    global_pairs: Split[PairRecord] | None
    notes: list[str]

    def size_table(self) -> list[tuple[str, int, int, int]]:
        sizes = self.pairs.sizes()
        return [(c, sizes[c]["train"], sizes[c]["val"], sizes[c]["test"]) for c in self.communities]


def prepare_data(
    source: str, communities: list[str] | None, *, margin: float = 0.05, seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), max_train_pairs: int | None = None,
    max_global_pairs: int | None = None, strict: bool = False,
) -> PreferenceData:
    """Load ``source``, keep ``communities`` and split by group (question or user), seeded.

    ``max_train_pairs`` subsamples the community training pairs and ``max_global_pairs`` the
    global ones (G's), each seeded, for quick runs; None keeps them all. ``strict``: an invalid
    GlobalOpinionQA record is one error line instead of skipped and counted.
    """
    if not 0 <= margin < 1:
        raise UserInputError(f"margin={margin} must be in [0, 1); it is the share gap that makes a pair")
    for name, cap in (("max_train_pairs", max_train_pairs), ("max_global_pairs", max_global_pairs)):
        if cap is not None and cap < 1:
            raise UserInputError(f"{name}={cap} must be >= 1")
    path = Path(source).expanduser()
    if source == "goqa" or (source != "prism" and is_goqa_file(path)):
        data = load_goqa(None if source == "goqa" else path, strict=strict)
        pairs, gpairs = goqa_pairs(data, communities, margin=margin)
        kind, notes = "goqa", [data.summary()]
    elif source == "prism" or source.startswith(HF_PREFIX) or path.is_dir():
        pdata = load_prism(f"{HF_PREFIX}{HF_NAME}" if source == "prism" else source)
        pairs, gpairs = prism_pairs(pdata, communities), None
        kind, notes = "prism", [pdata.summary()]
    elif not path.exists():
        raise FileNotFoundError(f"data source {source!r} is not a known name and no such file exists; valid: {SOURCES}")
    else:
        raise UserInputError(f"data source {source!r} is neither a GlobalOpinionQA file nor a folder; valid: {SOURCES}")
    assignment = assign_groups(pairs, fractions=fractions, seed=seed)
    split = split_by_group(pairs, seed=seed, assignment=assignment)
    comms = list(dict.fromkeys(p.community for p in pairs))
    ordered = [c for c in (communities or sorted(comms)) if c in comms]
    for c in ordered:
        n = split.sizes().get(c, {"test": 0})
        if n["train"] == 0 or n["test"] == 0:
            raise UserInputError(
                f"community {c!r} has too little data to split ({n}); it needs pairs in train and test"
            )
    gsplit = split_by_group(gpairs, seed=seed, assignment=assignment) if gpairs is not None else None
    if max_train_pairs is not None:
        split = Split(subsample(split.train, max_train_pairs, seed), split.val, split.test)
        notes.append(f"community training pairs subsampled to at most {max_train_pairs} (seed {seed})")
    if gsplit is not None and max_global_pairs is not None:
        gsplit = Split(subsample(gsplit.train, max_global_pairs, seed + 1), gsplit.val, gsplit.test)
        notes.append(f"global training pairs subsampled to at most {max_global_pairs} (seed {seed + 1})")
    return PreferenceData(source=source, kind=kind, communities=ordered, pairs=split, global_pairs=gsplit, notes=notes)


def prepare(source: str, communities: list[str] | None, cfg: PairwiseConfig | None, *, seed: int,
            max_train_pairs: int | None = None, max_global_pairs: int | None = None,
            margin: float = 0.05, strict: bool = False) -> tuple[PreferenceData, list[str]]:
    """Community pairs (and GlobalOpinionQA's global pairs), split by question or user."""
    data = prepare_data(source, communities, margin=margin, seed=seed, max_train_pairs=max_train_pairs,
                        max_global_pairs=max_global_pairs, strict=strict)
    return data, data.notes


@dataclass
class TrainData:
    """What one run trains and evaluates on: training pairs and named evaluation splits (``{"val": [...], ...}``)."""

    train: list[PairRecord]
    eval: dict[str, list[PairRecord]] = field(default_factory=dict)
    #: global (unified) pairs that ``PairwiseConfig.global_share`` mixes in
    global_train: list[PairRecord] = field(default_factory=list)
    #: SCPO: Δ = r_G(chosen) - r_G(rejected) per training pair, if already computed (shape ``[len(train)]``)
    margins: torch.Tensor | None = None
    #: the data source it came from (``goqa``, ``prism``, a file or folder), for the model card
    source: str | None = None


def evals(data: PreferenceData) -> dict[str, list[PairRecord]]:
    """The evaluation splits of prepared data."""
    return {"val": data.pairs.val, "test": data.pairs.test}


@dataclass
class Selection:
    """Training pairs and their base weights (SCPO's w; 1 for BT and for global pairs)."""

    pairs: list[PairRecord]
    weights: torch.Tensor  # [len(pairs)]
    state: dict[str, Any]  # what a checkpoint needs to rebuild exactly this selection
    info: dict[str, float]


def select_pairs(cfg: PairwiseConfig, train: list[PairRecord], global_train: list[PairRecord],
                 margins: torch.Tensor | None, *, state: dict[str, Any] | None = None) -> Selection:
    """Apply SCPO's filter/weights to ``train`` (``margins`` = Δ per pair, shape ``[N]``), then mix in
    ``global_share`` of global pairs (seeded sample, weight 1). ``state`` replays a saved selection."""
    weights = torch.ones(len(train))
    keep = torch.ones(len(train), dtype=torch.bool)
    info: dict[str, float] = {}
    if cfg.objective == "scpo":
        if state is not None:
            keep, weights = state["keep"], state["weights"]
        else:
            assert margins is not None and margins.shape == (len(train),), "SCPO needs one margin per pair"
            sel = scpo_select(margins, tau=cfg.tau, beta=cfg.beta)
            keep, weights = sel.keep, sel.weights
        info = {"scpo/n_pairs": float(len(train)), "scpo/n_kept": float(keep.sum()),
                "scpo/mean_weight": float(weights[keep].mean()) if keep.any() else 0.0}
        if not keep.any():
            raise UserInputError(f"SCPO kept no training pairs at tau={cfg.tau}; raise --tau (at most 1)")
    idx = torch.nonzero(keep).flatten().tolist()
    pairs, w = [train[i] for i in idx], weights[keep]
    n_global = 0
    if cfg.global_share > 0 and global_train:
        n_global = min(len(global_train), round(cfg.global_share / (1 - cfg.global_share) * len(pairs)))
        rng = random.Random(cfg.seed * 31 + 7)
        extra = [p if p.community == GLOBAL_COMMUNITY else replace(p, community=GLOBAL_COMMUNITY)
                 for p in rng.sample(global_train, n_global)]
        pairs = pairs + extra
        w = torch.cat([w, torch.ones(n_global)])
    info["train/n_global_pairs"] = float(n_global)
    return Selection(pairs=pairs, weights=w, state={"keep": keep, "weights": weights}, info=info)
