"""NP-BTL data: users (countries, simulated respondents, synthetic types), a seeded user split, cached features.

``prepare`` builds every user's preference pairs, splits the *users* into train / val / test
(test = held-out users never seen in training), and embeds every distinct text once with the
frozen backbone: ``emb [U, D]`` plus ``text_rows`` (text → row). Pairs refer to rows of ``emb``
(``rows[split] = (chosen [N, k], rejected [N, k])``, k = 1 for joint features, 2 for
``[h(prompt) ‖ h(option)]``), so the data object stays small enough to pickle to Ray workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from raysearch.data.goqa import check_communities, load_goqa, pairs_from_distribution
from raysearch.data.goqa_files import is_goqa_file
from raysearch.data.records import PairRecord
from raysearch.data.respondents import simulate_respondents
from raysearch.data.synthetic import synthetic_pairs
from raysearch.data.tasks import EVAL_CONTEXT_SIZES, TaskBatch, context_capacity, pairs_by_user, question_keys, user_of
from raysearch.errors import UserInputError
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.model import synthetic_features
from raysearch.models import embed as embed_mod

SPLITS = ("train", "val", "test")
#: Options of a search space's ``fixed`` block that shape the data (they are also config fields).
DATA_KEYS = ("users", "pairs", "respondents_per_country", "heldout_by", "min_countries", "heldout_share", "val_share",
             "margin", "synthetic_users", "disjoint")
SOURCES = "goqa (bundled GlobalOpinionQA slice), a GlobalOpinionQA file (.json, .jsonl, .csv, .parquet), or synthetic (two-type users)"
SYNTHETIC_PAIRS_PER_USER = 40


@dataclass
class NpbtlData:
    """Pairs of train / val / test users and the cached features their options index into (picklable)."""

    source: str
    users: str  # countries | respondents | synthetic
    records: dict[str, list[PairRecord]]
    rows: dict[str, tuple[torch.Tensor, torch.Tensor]]  # split -> (chosen [N, k], rejected [N, k]) rows of emb
    emb: torch.Tensor  # [U, D] features of the distinct texts (or synthetic values)
    text_rows: dict[str, int] = field(default_factory=dict)  # text key -> row of emb
    notes: list[str] = field(default_factory=list)

    @property
    def feature_dim(self) -> int:
        """D of h(y) as the model sees it (k rows of emb, concatenated)."""
        return int(self.emb.shape[1] * self.rows["train"][0].shape[1])

    def features(self, batch: TaskBatch) -> TaskBatch:
        """A batch collated over row indices (``collate(tasks, *rows[split])``) with its features gathered."""
        def g(x: torch.Tensor) -> torch.Tensor:
            return self.emb[x].flatten(-2)  # [B, W, k] rows -> [B, W, k * D]

        return TaskBatch(ctx_chosen=g(batch.ctx_chosen), ctx_rejected=g(batch.ctx_rejected), ctx_mask=batch.ctx_mask,
                         tgt_chosen=g(batch.tgt_chosen), tgt_rejected=g(batch.tgt_rejected), tgt_mask=batch.tgt_mask)

    def size_table(self) -> list[tuple[str, int, int]]:
        """Per split: (split, users, pairs)."""
        return [(s, len(pairs_by_user(self.records[s])), len(self.records[s])) for s in SPLITS]


def feature_data(records: dict[str, list[PairRecord]], feats: dict[str, tuple[torch.Tensor, torch.Tensor]], *,
                 source: str, users: str, notes: list[str] | None = None) -> NpbtlData:
    """``NpbtlData`` of pairs whose features are given per split: ``feats[split] = (chosen [N, D], rejected [N, D])``.

    ``emb`` holds every split's chosen features (in ``SPLITS`` order), then their rejected ones.
    """
    n = sum(len(records[s]) for s in SPLITS)
    emb = torch.cat([feats[s][0] for s in SPLITS] + [feats[s][1] for s in SPLITS])
    rows, start = {}, 0
    for s in SPLITS:
        idx = torch.arange(start, start + len(records[s])).reshape(-1, 1)
        rows[s] = (idx, idx + n)
        start += len(records[s])
    return NpbtlData(source=source, users=users, records=records, rows=rows, emb=emb, notes=list(notes or []))


def min_context(cfg: NpbtlConfig) -> int:
    """The largest context (training or evaluation) a held-out user must be able to give."""
    return max(cfg.max_context, max(EVAL_CONTEXT_SIZES))


def min_pairs(cfg: NpbtlConfig) -> int:
    """Pairs a user needs at least: ``n_target`` targets plus the largest context."""
    return cfg.n_target + min_context(cfg)


def capacities(pairs: list[PairRecord], cfg: NpbtlConfig) -> dict[str, int]:
    """Per user: the most context pairs a task can hold besides ``n_target`` targets (on other questions
    with ``disjoint=question``); -1 with fewer than ``n_target`` pairs. See ``raysearch.data.tasks``."""
    keys = question_keys(pairs, disjoint=cfg.disjoint)
    return {u: context_capacity([keys[i] for i in ix], cfg.n_target) for u, ix in pairs_by_user(pairs).items()}


def _needs(cfg: NpbtlConfig, need: int) -> str:
    other = " on other questions than the targets'" if cfg.disjoint == "question" else ""
    return f"{cfg.n_target} target pairs + {need} context pairs{other}"


def split_names(names: list[str], cfg: NpbtlConfig, *, seed: int, what: str) -> dict[str, str]:
    """Seeded split of ``names`` (countries or users): name -> train / val / test."""
    if len(names) < 3:
        raise UserInputError(f"{len(names)} {what} with enough pairs; a train / val / held-out split needs at least 3 "
                             f"(each needs >= {min_pairs(cfg)} pairs: lower --n-target or --max-context, or add {what})")
    order = [names[i] for i in np.random.default_rng([seed, 7]).permutation(len(names))]
    n_test = max(1, round(cfg.heldout_share * len(names)))
    n_val = max(1, round(cfg.val_share * len(names)))
    if n_test + n_val >= len(names):
        raise UserInputError(f"heldout_share={cfg.heldout_share} and val_share={cfg.val_share} leave no training "
                             f"{what} of {len(names)}; lower them")
    return {n: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, n in enumerate(order)}


def _goqa_records(source: str, communities: list[str] | None, cfg: NpbtlConfig, *, seed: int,
                  notes: list[str], strict: bool = False) -> tuple[list[PairRecord], dict[str, str]]:
    """GlobalOpinionQA pairs of each kept country's users, and each country's split."""
    goqa = load_goqa(None if source == "goqa" else source, strict=strict)
    if goqa.skipped_invalid:
        notes.append(goqa.summary())
    countries = check_communities(goqa, communities) if communities else sorted(goqa.communities)
    asked: dict[str, set[str]] = {}
    for r in goqa.records:
        asked.setdefault(r.group, set()).add(r.community)
    recs = [r for r in goqa.records if r.community in set(countries) and len(asked[r.group]) >= cfg.min_countries]
    if cfg.min_countries > 1:
        notes.append(f"kept {len({r.group for r in recs})} questions asked in >= {cfg.min_countries} countries")
    if cfg.users == "countries":
        pairs = [p for r in recs for p in pairs_from_distribution(r, margin=cfg.margin)]
    else:
        pairs = simulate_respondents(recs, per_community=cfg.respondents_per_country, seed=seed)
    need = min_context(cfg)
    cap = capacities(pairs, cfg)
    short = sorted({p.community for p in pairs if cap[user_of(p)] < need} | (set(countries) - {p.community for p in pairs}))
    if short:
        notes.append(f"dropped {len(short)} of {len(countries)} countries whose users cannot give {_needs(cfg, need)}: "
                     f"{', '.join(short[:8])}" + (", ..." if len(short) > 8 else ""))
    kept = sorted(set(countries) - set(short))
    if not kept:
        raise UserInputError(f"no country in {goqa.source} has users that can give {_needs(cfg, need)}; lower "
                             f"--n-target / --max-context{' or --margin' if cfg.users == 'countries' else ''}, "
                             f"use --disjoint pair (leaky), or pick other communities")
    pairs = [p for p in pairs if p.community in set(kept)]
    if cfg.users == "respondents" and cfg.heldout_by == "respondent":
        side: dict[str, str] = {}
        for c in kept:  # every country's respondents split alike: unseen people from seen countries
            side.update(split_names(sorted({user_of(p) for p in pairs if p.community == c}), cfg, seed=seed,
                                    what=f"respondents of {c}"))
        return pairs, side
    return pairs, {c: s for c, s in split_names(kept, cfg, seed=seed, what="countries").items()}


def pair_key(p: PairRecord) -> tuple[str, str, str]:
    """A pair's options, unordered: (prompt, a, b) with a < b, the same key whichever option a user chose."""
    a, b = sorted((p.chosen, p.rejected))
    return p.prompt, a, b


def contested_split(split: dict[str, list[PairRecord]], cfg: NpbtlConfig,
                    notes: list[str]) -> dict[str, list[PairRecord]]:
    """Keep only pairs the *training* users order both ways; drop users left with too few of them.

    A pair every training country orders alike carries no information about a user's culture, so
    neither a context of it nor a target on it can show steering. Which pairs are contested is
    decided from training users' labels alone: a held-out user's own choices never pick its pairs.
    The contested set comes from all training users' pairs, including users then dropped for
    having too few contested pairs (so a kept pair's options may be absent from the kept training pairs).
    Held-out users need room for 20 targets + the largest context (on other questions with
    ``disjoint=question``); training users need room for ``n_target`` targets + 1 context pair
    (the sampler shortens their contexts).
    """
    seen: dict[tuple[str, str, str], set[bool]] = {}
    for p in split["train"]:
        seen.setdefault(pair_key(p), set()).add(p.chosen < p.rejected)
    contested = {k for k, sides in seen.items() if len(sides) == 2}
    out: dict[str, list[PairRecord]] = {}
    for s, recs in split.items():
        kept = [p for p in recs if pair_key(p) in contested]
        need = 1 if s == "train" else min_context(cfg)
        users = {u for u, c in capacities(kept, cfg).items() if c >= need}
        dropped = len(pairs_by_user(recs)) - len(users)
        out[s] = [p for p in kept if user_of(p) in users]
        if not users:
            raise UserInputError(f"pairs=contested leaves no {s} user whose contested pairs give {_needs(cfg, need)}; "
                                 f"lower --n-target / --max-context or --margin, or use --pairs all")
        notes.append(f"contested pairs, {s}: {len(out[s])} of {len(recs)} pairs kept, {len(users)} users "
                     f"({dropped} dropped: cannot give {_needs(cfg, need)})")
    notes.append(f"{len(contested)} of {len(seen)} training option pairs are contested (ordered both ways by "
                 f"training countries)")
    return out


def goqa_split(source: str, communities: list[str] | None, cfg: NpbtlConfig, *, seed: int,
               notes: list[str], strict: bool = False) -> dict[str, list[PairRecord]]:
    """The GlobalOpinionQA users' pair records per split (train / val / test), before any embedding.

    ``strict``: an invalid GlobalOpinionQA record is an error instead of skipped and counted."""
    if source != "goqa" and not is_goqa_file(source):
        raise UserInputError(f"NP-BTL data {source!r} is unknown; valid: {SOURCES}")
    pairs, side = _goqa_records(source, communities, cfg, seed=seed, notes=notes, strict=strict)
    by = user_of if cfg.users == "respondents" and cfg.heldout_by == "respondent" else (lambda p: p.community)
    split = {s: [p for p in pairs if side[by(p)] == s] for s in SPLITS}
    return contested_split(split, cfg, notes) if cfg.pairs == "contested" else split


def _text_cache(records: dict[str, list[PairRecord]], cfg: NpbtlConfig) -> tuple[torch.Tensor, dict[str, int], dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Embed every distinct text once; standardize each dimension over the distinct texts."""
    keys: dict[str, tuple[str, str | None]] = {}

    def key_rows(prompt: str, option: str) -> list[str]:
        if cfg.features == "joint":
            ks = [f"{prompt}\x00{option}"]
            keys.setdefault(ks[0], (prompt, option))
        else:
            ks = [f"P\x00{prompt}", f"O\x00{option}"]
            keys.setdefault(ks[0], (prompt, None))
            keys.setdefault(ks[1], (option, None))
        return ks

    split_keys = {s: [(key_rows(p.prompt, p.chosen), key_rows(p.prompt, p.rejected)) for p in recs]
                  for s, recs in records.items()}
    text_rows = {k: i for i, k in enumerate(keys)}
    firsts = [a for a, _ in keys.values()]
    seconds = [b or "" for _, b in keys.values()] if cfg.features == "joint" else None
    emb = embed_mod.embed_texts(firsts, seconds, backbone=cfg.backbone, max_length=cfg.max_length)
    emb = (emb - emb.mean(dim=0)) / emb.std(dim=0).clamp_min(1e-6)
    rows = {s: (torch.tensor([[text_rows[k] for k in c] for c, _ in ks], dtype=torch.long).reshape(len(ks), -1),
                torch.tensor([[text_rows[k] for k in r] for _, r in ks], dtype=torch.long).reshape(len(ks), -1))
            for s, ks in split_keys.items()}
    return emb, text_rows, rows


def prepare(source: str, communities: list[str] | None, cfg: NpbtlConfig, *, seed: int,
            **data_opts: Any) -> tuple[NpbtlData, list[str]]:
    """Users, their seeded train / val / test split, and features embedded once (see the module docstring).

    ``data_opts`` override the config's data fields (``DATA_KEYS``), e.g. from a search space's
    ``fixed`` block. Every problem is one ``UserInputError`` line.
    """
    strict = bool(data_opts.pop("strict", False))  # --strict: an invalid GlobalOpinionQA record is an error
    unknown = sorted(set(data_opts) - set(DATA_KEYS))
    if unknown:
        raise UserInputError(f"unknown NP-BTL data option {unknown[0]!r}; valid: {', '.join(DATA_KEYS)}")
    if data_opts:
        cfg = NpbtlConfig.from_dict({**cfg.to_dict(), **data_opts})
    cfg.validate()
    notes: list[str] = []
    if source == "synthetic":
        if cfg.pairs != "all":
            raise UserInputError(f"pairs={cfg.pairs} applies to GlobalOpinionQA countries; --data synthetic uses all pairs")
        if communities:
            raise UserInputError("--communities does not apply to --data synthetic (its users are two hidden types)")
        pairs = synthetic_pairs(n_users=cfg.synthetic_users, pairs_per_user=SYNTHETIC_PAIRS_PER_USER, seed=seed)
        cap = capacities(pairs, cfg)  # synthetic pairs are independent: each is its own question
        users = sorted(u for u, c in cap.items() if c >= min_context(cfg))
        if len(users) < len(cap):
            notes.append(f"dropped {len(cap) - len(users)} synthetic users with fewer than {min_pairs(cfg)} pairs")
        pairs = [p for p in pairs if cap[user_of(p)] >= min_context(cfg)]
        side = split_names(users, cfg, seed=seed, what="users")
        split = {s: [p for p in pairs if side[user_of(p)] == s] for s in SPLITS}
        notes.append(f"synthetic: {len(users)} two-type users x {SYNTHETIC_PAIRS_PER_USER} pairs, h(x) = x")
        data = feature_data(split, {s: synthetic_features(split[s]) for s in SPLITS}, source="synthetic",
                            users="synthetic", notes=notes)
        return data, notes
    split = goqa_split(source, communities, cfg, seed=seed, notes=notes, strict=strict)
    emb, text_rows, rows = _text_cache(split, cfg)
    notes.append(f"embedded {len(text_rows)} distinct texts once with {cfg.backbone} ({cfg.features} features, "
                 f"D={emb.shape[1] * rows['train'][0].shape[1]})")
    return NpbtlData(source=source, users=cfg.users, records=split, rows=rows, emb=emb, text_rows=text_rows,
                     notes=notes), notes
