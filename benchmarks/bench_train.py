"""Training throughput of the reward-model loop against TRL's ``RewardTrainer`` and a plain torch loop.

Every contender trains one reward model (Bradley–Terry on chosen/rejected pairs, full
fine-tuning, same batch size, same maximum length) on the SAME token ids: the pairs are
tokenized once with the backbone's tokenizer, the way ``raysearch.models.text.TokenCache`` and
``raysearch.models.scoring.pair_text_ids`` do (community prefix, ``longest_first`` truncation),
and those ids are handed to every contender (the runner's own tokenization is checked to give
exactly the same ids). Contenders run in one process, repeated and interleaved
(A B C D A B C D ...), so that load from other jobs on a shared machine hits them alike: the
ratios within one run are the result, not the absolute rates.

Contenders (those whose option or package is missing are skipped, with a line saying why):

- ``plain``: a plain torch loop (``AutoModelForSequenceClassification`` with one label, AdamW,
  BT loss, gradient clip 1.0; the runner's batch order and padding);
- ``trl-matched``: TRL's ``RewardTrainer`` at our settings (fp32 on CPU / bf16 autocast on CUDA
  like the runner, no gradient checkpointing, dropout kept, lr 2e-4, weight decay 0.01, 10% warm-up);
- ``trl-defaults``: TRL's ``RewardTrainer`` at ``RewardConfig``'s own defaults (printed: bf16,
  gradient checkpointing, dropout off, ... whatever this TRL picks on this device); only batch
  size, epochs and (on CPU) ``use_cpu`` are set;
- ``ours``: the project's runner (``raysearch.train.runner.run`` with the pairwise BT method, which
  is what ``raysearch.methods.pairwise.step.train_bare`` calls), evaluation off, fp32 on CPU;
- ``ours-dedup``: the same with "score each distinct text once per step" and prompt-grouped
  batches (``PairwiseConfig.dedup`` / ``group_by_prompt``, when the config has them);
- ``ours-fast``: ``ours-dedup`` plus bf16 autocast on CPU (``precision='bf16'``, when the config has it);
- ``ours-nodrop``: ``ours-fast`` with dropout off (``dropout=False``, TRL's own default);
- ``ours-bucket``: ``ours-nodrop`` with each forward pass cut into 2 by text length (``length_buckets=2``).

Every ``ours`` variant uses the runner's optimizer: fused AdamW where torch has it (the plain loop
keeps ``torch.optim.AdamW``'s default implementation).

What is timed: training steps only. A step runs from the end of the previous step to the end of
this one (batch assembly, forward, loss, backward, clip, optimizer and scheduler step, the
trainer's own logging); the first ``--warmup-steps`` steps are left out. Model loading, data
preparation, trainer construction, checkpoint writing and evaluation are not timed (the
runner's evaluation is off: no evaluation split). For the runner the step boundaries are the
moments it asks its session for the next batch; for TRL, ``on_step_end`` of a callback; for the
plain loop, the loop itself. On CUDA every boundary synchronizes the device.

Reported per contender: pairs/s; tokens/s (non-pad tokens of the chosen and rejected texts of
the pairs trained: the same work for every contender, so scoring fewer texts shows as a higher
rate); encoded tokens/s (non-pad tokens actually run through the model); padding share of the
encoded slots; mean training loss (a sanity check, not a comparison); model FLOPs utilization
against this device's matrix-multiply peak, measured here with a large ``torch.matmul`` in the
dtype the contender computes in (6 x non-embedding parameters per encoded token plus attention,
recomputation by gradient checkpointing not counted); ratios against ``plain``,
``trl-matched`` and ``trl-defaults``, per repeat then averaged (min-max over repeats).

    python benchmarks/bench_train.py --out runs/bench/train-cpu.json             # CPU, MiniLM, ~10-15 min on 2 cores
    python benchmarks/bench_train.py --profile                                    # + where our loop spends its time
    python benchmarks/bench_train.py --device cuda --out runs/bench/train-gpu.json  # GPU: MiniLM and a ~1B Llama, bf16
    python benchmarks/bench_train.py --quick --tiny --model llama-1b              # a few steps of a tiny Llama (tests)

Never read the absolute numbers of a shared machine as the machine's speed: compare ratios of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import io
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from raysearch.methods.pairwise import BT  # noqa: E402
from raysearch.methods.pairwise.config import PairwiseConfig  # noqa: E402
from raysearch.methods.pairwise.data import TrainData, prepare_data  # noqa: E402
from raysearch.models.backbone import load_tokenizer, minilm_path, resolve_backbone  # noqa: E402
from raysearch.models.scoring import pair_text_ids  # noqa: E402
from raysearch.models.text import TokenCache  # noqa: E402
from raysearch.train.finetune import cpu_has_bf16  # noqa: E402
from raysearch.train.runner import run as runner_run  # noqa: E402

REFERENCES = ("plain", "trl-matched", "trl-defaults")
ALL_CONTENDERS = ("plain", "trl-matched", "trl-defaults", "ours", "ours-dedup", "ours-fast", "ours-nodrop", "ours-bucket")
LR, WEIGHT_DECAY, WARMUP, CLIP = 2e-4, 0.01, 0.1, 1.0  # the pairwise BT defaults (PairwiseConfig, FineTuneConfig)


# ----------------------------------------------------------------------------------------------- models


def llama_config(tiny: bool, vocab_size: int, pad_id: int) -> Any:
    """Llama-3.2-1B's shape (1.24 B parameters), or a tiny one for tests; random init."""
    from transformers import LlamaConfig

    shape: dict[str, Any]
    if tiny:
        shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=vocab_size)
    else:
        shape = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0)
    cfg = LlamaConfig(**shape, max_position_embeddings=2048, tie_word_embeddings=True, pad_token_id=pad_id,
                      bos_token_id=None, eos_token_id=None)
    cfg.num_labels = 1
    return cfg


def build_backbone(model: str, tiny: bool, folder: Path) -> tuple[str, str]:
    """A local model folder for ``model`` (and a one-line description).

    ``minilm``: the bundled all-MiniLM-L6-v2 (pretrained), or with ``tiny`` a 2-layer BERT built from a
    config. ``llama-1b``: a Llama-shaped model built from a config (random init; Llama-3.2-1B's
    shape, or tiny). Every folder carries MiniLM's tokenizer, so every model sees the same ids (a
    random-init Llama does not care which tokenizer made them); the Llama's drops token type ids.
    """
    import transformers
    from transformers import AutoTokenizer, BertConfig, BertModel, LlamaForSequenceClassification

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    if model == "minilm" and not tiny:
        return resolve_backbone("all-MiniLM-L6-v2"), "all-MiniLM-L6-v2 (pretrained, 22.7 M parameters)"
    tok = AutoTokenizer.from_pretrained(minilm_path())
    out = folder / f"{model}{'-tiny' if tiny else ''}"
    torch.manual_seed(0)
    if model == "minilm":
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)
        BertModel(cfg).save_pretrained(out)
        desc = "tiny BERT from a config (2 layers, width 32; MiniLM's tokenizer)"
    else:
        cfg = llama_config(tiny, tok.vocab_size, tok.pad_token_id)
        with torch.device("cpu"):
            m = LlamaForSequenceClassification(cfg)
        m.save_pretrained(out)
        n = sum(p.numel() for p in m.parameters())
        del m
        tok.model_input_names = ["input_ids", "attention_mask"]  # no token type ids for a Llama
        desc = (f"Llama-shaped from a config, random init, {'tiny' if tiny else 'Llama-3.2-1B shape'} "
                f"({n / 1e6:.1f} M parameters; MiniLM's tokenizer)")
    tok.save_pretrained(out)
    return str(out), desc


def model_shape(path: str) -> dict[str, float]:
    """Non-embedding parameters, layers and width of the model in ``path`` (for model FLOPs)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    cfg = AutoConfig.from_pretrained(path)
    cfg.num_labels = 1
    with torch.device("meta"):
        m = AutoModelForSequenceClassification.from_config(cfg)
    total = sum(p.numel() for p in m.parameters())
    embed = sum(p.numel() for n, p in m.named_parameters() if "embed" in n)
    return {"params": float(total), "non_embedding_params": float(total - embed),
            "layers": float(cfg.num_hidden_layers), "hidden": float(cfg.hidden_size)}


# ------------------------------------------------------------------------------------------- recording


@dataclass
class Step:
    seconds: float  # from the end of the previous step (or the start) to the end of this one
    pairs: int
    pair_tokens: int  # non-pad tokens of the pairs' chosen and rejected texts
    encoded_tokens: int  # non-pad tokens run through the model
    encoded_slots: int  # tokens run through the model, padding included
    attn: float  # sum over encoded texts of length^2 (attention FLOPs)
    loss: float


@dataclass
class Recorder:
    """Step boundaries and per-step counts of one contender's run."""

    device: torch.device
    steps: list[Step] = field(default_factory=list)
    _last: float = 0.0
    _enc: list[tuple[int, int, float]] = field(default_factory=list)  # per forward: tokens, slots, sum len^2
    _pairs: int = 0
    _pair_tokens: int = 0
    _loss: float = float("nan")
    hook: Callable[[int], None] | None = None  # called with the number of steps done, at the end of each step

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self) -> None:
        self.sync()
        self._last = time.perf_counter()

    def encoded(self, lengths: list[int], width: int) -> None:
        self._enc.append((sum(lengths), width * len(lengths), float(sum(n * n for n in lengths))))

    def batch(self, pairs: int, pair_tokens: int) -> None:
        self._pairs, self._pair_tokens = pairs, pair_tokens

    def loss(self, value: float) -> None:
        self._loss = value

    def end_step(self) -> None:
        self.sync()
        now = time.perf_counter()
        enc = self._enc
        self.steps.append(Step(now - self._last, self._pairs, self._pair_tokens, sum(e[0] for e in enc),
                               sum(e[1] for e in enc), sum(e[2] for e in enc), self._loss))
        self._last, self._enc = now, []
        if self.hook is not None:
            self.hook(len(self.steps))
            self._last = time.perf_counter()  # the hook's own time is not the next step's


@dataclass
class Tokens:
    """The pairs' token ids, made once and handed to every contender."""

    cache: TokenCache
    chosen: list[int]  # cache ids
    rejected: list[int]
    pair_tokens: list[int]  # per pair: len(chosen) + len(rejected)

    def ids(self, i: int) -> list[int]:
        return self.cache._ids[i]


def tokenize(path: str, pairs: list[Any], max_length: int) -> Tokens:
    cache = TokenCache(load_tokenizer(path), max_length=max_length)
    c, r = pair_text_ids(cache, pairs, conditioned=True)
    return Tokens(cache, c, r, [len(cache._ids[a]) + len(cache._ids[b]) for a, b in zip(c, r, strict=True)])


def run_order(n: int, batch: int, seed: int) -> list[list[int]]:
    """The runner's batch order (``FineTuneSession.batches``, epoch 0): a seeded permutation padded to whole batches."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919)).tolist()
    steps = math.ceil(n / batch)
    perm += perm[: steps * batch - len(perm)]
    return [perm[s * batch : (s + 1) * batch] for s in range(steps)]


# ------------------------------------------------------------------------------------------ contenders


@dataclass
class Setup:
    path: str
    pairs: list[Any]
    tokens: Tokens
    device: torch.device
    batch_size: int
    max_length: int
    seed: int = 0


def config_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(PairwiseConfig)}


def ours_options(variant: str) -> dict[str, Any] | None:
    """The PairwiseConfig options of a variant of our loop, or None where this checkout lacks them."""
    names = config_fields()
    opts: dict[str, Any] = {}
    dedup = variant in ("ours-dedup", "ours-fast", "ours-nodrop", "ours-bucket")
    if "dedup" in names:
        opts["dedup"] = dedup
    elif dedup:
        return None
    if "group_by_prompt" in names:
        opts["group_by_prompt"] = dedup
    if variant in ("ours-fast", "ours-nodrop", "ours-bucket"):
        if "precision" not in names:
            return None
        opts["precision"] = "bf16"
    elif "precision" in names:
        opts["precision"] = "fp32"
    if "dropout" in names:
        opts["dropout"] = variant not in ("ours-nodrop", "ours-bucket")  # else the model's, like plain and trl-matched
    elif variant in ("ours-nodrop", "ours-bucket"):
        return None
    if variant == "ours-bucket":
        if "length_buckets" not in names:
            return None
        opts["length_buckets"] = 2
    return opts


class _Instrumented:
    """The pairwise BT method with its session's steps recorded (the runner itself is unchanged)."""

    def __init__(self, home: Any, rec: Recorder, tokens: Tokens) -> None:
        self.home, self.rec, self.tokens = home, rec, tokens

    def __getattr__(self, name: str) -> Any:
        return getattr(self.home, name)

    def start(self, cfg: Any, data: Any, **kw: Any) -> Any:
        s = self.home.start(cfg, data, **kw)
        check_same_ids(s, self.tokens)
        rec = self.rec
        per_pair = [len(s.cache._ids[a]) + len(s.cache._ids[b]) for a, b in zip(s.c_ids, s.r_ids, strict=True)]
        mean_pair = float(np.mean(per_pair))
        batches, forward, loss = s.batches, s.forward, s.loss

        def timed_batches(epoch: int) -> Iterator[Any]:
            rec.start()
            for b in batches(epoch):
                yield b
                rec.end_step()  # the runner asks for the next batch: this step is done

        def counted_forward(model: torch.nn.Module, ids: Any, *a: Any, **k: Any) -> Any:
            lengths = [len(s.cache._ids[i]) for i in ids]
            rec.encoded(lengths, max(lengths))
            with torch.profiler.record_function("bench::forward"):
                return forward(model, ids, *a, **k)

        def recorded_loss(model: torch.nn.Module, batch: Any, step: int) -> Any:
            value, n = loss(model, batch, step)
            idx = _pair_indices(batch)
            rec.batch(n, sum(per_pair[i] for i in idx) if idx is not None else round(n * mean_pair))
            rec.loss(float(value.detach()))
            return value, n

        s.batches, s.forward, s.loss = timed_batches, counted_forward, recorded_loss
        return s


def _pair_indices(batch: Any) -> list[int] | None:
    """The pair indices of one of the session's batches, where they can be read off it."""
    if isinstance(batch, list | tuple) and all(isinstance(i, int) for i in batch):
        return list(batch)
    for name in ("pairs", "pair_idx", "indices", "idx"):
        v = getattr(batch, name, None) if not isinstance(batch, dict) else batch.get(name)
        if v is not None:
            v = v.tolist() if hasattr(v, "tolist") else list(v)
            if all(isinstance(i, int) for i in v):
                return v
    return None


def check_same_ids(session: Any, tokens: Tokens) -> None:
    """The runner tokenized the pairs itself: its ids must be the ones every other contender gets."""
    pairs_ok = len(session.c_ids) == len(tokens.chosen) and all(
        session.cache._ids[a] == tokens.ids(b) and session.cache._ids[c] == tokens.ids(d)
        for a, b, c, d in zip(session.c_ids, tokens.chosen, session.r_ids, tokens.rejected, strict=True))
    if not pairs_ok:
        raise AssertionError("the runner's token ids differ from the benchmark's: the contenders would not compare")


def run_ours(setup: Setup, variant: str, rec: Recorder) -> dict[str, Any]:
    opts = ours_options(variant)
    assert opts is not None
    cfg = PairwiseConfig(objective="bt", backbone=setup.path, epochs=1, batch_size=setup.batch_size,
                         max_length=setup.max_length, freeze_layers=0, lr=LR, weight_decay=WEIGHT_DECAY,
                         warmup_ratio=WARMUP, grad_clip=CLIP, seed=setup.seed, log_every=10, **opts)
    data = TrainData(train=setup.pairs, eval={})  # no evaluation split: the runner evaluates nothing
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as tmp:
        method = _Instrumented(BT, rec, setup.tokens)
        result = runner_run(method, cfg, data, device=setup.device, workdir=tmp)
    return {"config": {k: v for k, v in cfg.to_dict().items() if k in (
        "batch_size", "max_length", "freeze_layers", "lr", "weight_decay", "warmup_ratio", "grad_clip", *opts)},
        "runner_pairs_per_s": result.flat.get("train/pairs_per_s")}


def run_plain(setup: Setup, rec: Recorder) -> dict[str, Any]:
    """AutoModelForSequenceClassification(num_labels=1), AdamW, BT loss, clip; the runner's batch order."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(setup.seed)
    model = AutoModelForSequenceClassification.from_pretrained(setup.path, num_labels=1).to(setup.device)
    model.config.pad_token_id = setup.tokens.cache.tok.pad_token_id
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    cuda = setup.device.type == "cuda"
    t = setup.tokens
    rec.start()
    for idx in run_order(len(setup.pairs), setup.batch_size, setup.seed):
        ids = [t.chosen[i] for i in idx] + [t.rejected[i] for i in idx]
        batch = {k: v.to(setup.device) for k, v in t.cache.batch(ids).items()}
        rec.encoded([len(t.ids(i)) for i in ids], batch["input_ids"].shape[1])
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda), torch.profiler.record_function("bench::forward"):
            r = model(**batch).logits.squeeze(-1).float()
        n = len(idx)
        loss = -torch.nn.functional.logsigmoid(r[:n] - r[n:]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        rec.batch(n, sum(t.pair_tokens[i] for i in idx))
        rec.loss(float(loss.detach()))
        rec.end_step()
    return {"config": {"lr": LR, "weight_decay": WEIGHT_DECAY, "grad_clip": CLIP, "scheduler": "none",
                       "precision": "bf16 autocast" if cuda else "fp32", "dropout": "model's (on)"}}


TRL_SHOWN = ("bf16", "fp16", "gradient_checkpointing", "disable_dropout", "learning_rate", "lr_scheduler_type",
             "warmup_steps", "weight_decay", "max_grad_norm", "optim", "torch_compile", "dataloader_num_workers",
             "logging_steps", "seed", "max_length", "pad_to_multiple_of", "center_rewards_coefficient",
             "activation_offloading", "use_cpu")


def trl_available() -> str | None:
    try:
        import trl  # noqa: F401
    except ImportError as e:
        return f"trl is not importable ({e}); pip install '.[bench]'"
    return None


def run_trl(setup: Setup, matched: bool, rec: Recorder) -> dict[str, Any]:
    import datasets
    import transformers
    from transformers import TrainerCallback
    from trl import RewardConfig, RewardTrainer
    from trl.trainer.reward_trainer import DataCollatorForPreference

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    t = setup.tokens
    ds = datasets.Dataset.from_dict({"chosen_ids": [t.ids(i) for i in t.chosen],
                                     "rejected_ids": [t.ids(i) for i in t.rejected]})
    cpu = setup.device.type == "cpu"
    with tempfile.TemporaryDirectory(prefix="bench-trl-") as tmp:
        kw: dict[str, Any] = dict(output_dir=tmp, per_device_train_batch_size=setup.batch_size, num_train_epochs=1,
                                  report_to="none", disable_tqdm=True, save_strategy="no")
        if cpu:
            kw["use_cpu"] = True  # TrainingArguments refuses bf16 without a GPU unless told it runs on the CPU
        if matched:
            kw.update(bf16=not cpu, gradient_checkpointing=False, disable_dropout=False, learning_rate=LR,
                      weight_decay=WEIGHT_DECAY, warmup_steps=WARMUP, lr_scheduler_type="linear", max_grad_norm=CLIP,
                      seed=setup.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            args = RewardConfig(**kw)
        tok = load_tokenizer(setup.path)

        # the collator runs, in order, when the data loader fetches a batch (accelerate fetches one batch ahead):
        # count per collator call, then give call i's counts to step i
        fetched: list[tuple[int, int, int, int, float]] = []  # pairs, pair tokens, encoded tokens, slots, sum len^2

        class Collator(DataCollatorForPreference):
            def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
                out = super().torch_call(examples)
                lengths = out["attention_mask"].sum(1).tolist()
                n = sum(lengths)
                fetched.append((len(examples), n, n, out["attention_mask"].numel(), float(sum(x * x for x in lengths))))
                return out

        class Clock(TrainerCallback):
            def on_train_begin(self, *a: Any, **k: Any) -> None:
                rec.start()

            def on_step_end(self, *a: Any, **k: Any) -> None:
                rec.end_step()

        pad_multiple = args.pad_to_multiple_of if isinstance(args.pad_to_multiple_of, int) else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer: Any = RewardTrainer(model=setup.path, args=args, train_dataset=ds, processing_class=tok,
                                         data_collator=Collator(pad_token_id=tok.pad_token_id,
                                                                pad_to_multiple_of=pad_multiple),
                                         callbacks=[Clock()])
            if len(trainer.train_dataset) != len(setup.pairs):
                raise AssertionError(f"TRL dropped pairs: {len(trainer.train_dataset)} of {len(setup.pairs)}")
            out = trainer.train()
        if len(fetched) < len(rec.steps):
            raise AssertionError(f"{len(rec.steps)} TRL steps but {len(fetched)} batches collated")
        for s, (n, pt, et, slots, attn) in zip(rec.steps, fetched, strict=False):
            s.pairs, s.pair_tokens, s.encoded_tokens, s.encoded_slots, s.attn = n, pt, et, slots, attn
        settings = {k: _plain(getattr(args, k, None)) for k in TRL_SHOWN}
        settings["mixed_precision (accelerate)"] = str(trainer.accelerator.mixed_precision)
        settings["model dtype"] = str(next(trainer.model.parameters()).dtype)
        settings["dropout modules with p>0"] = sum(
            isinstance(m, torch.nn.Dropout) and m.p > 0 for m in trainer.model.modules())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = trainer.model
            settings["gradient checkpointing active"] = bool(
                getattr(m, "is_activation_checkpointing", None) or getattr(m, "is_gradient_checkpointing", False))
        loss = float(out.training_loss)
        del trainer
    return {"config": settings, "mean_loss": loss}


def _plain(v: Any) -> Any:
    if hasattr(v, "value"):
        return v.value
    return v if isinstance(v, int | float | str | bool | type(None)) else str(v)


def run_contender(name: str, setup: Setup, hook: Callable[[int], None] | None = None) -> dict[str, Any]:
    rec = Recorder(setup.device, hook=hook)
    t0 = time.perf_counter()
    if name == "plain":
        info = run_plain(setup, rec)
    elif name.startswith("trl-"):
        info = run_trl(setup, name == "trl-matched", rec)
    else:
        info = run_ours(setup, name, rec)
    total = time.perf_counter() - t0
    gc.collect()
    if setup.device.type == "cuda":
        torch.cuda.empty_cache()
    return {"steps": [dataclasses.asdict(s) for s in rec.steps], "total_s": total, **info}


# ----------------------------------------------------------------------------------------- measurement


def summarize_run(run: dict[str, Any], warmup: int) -> dict[str, float]:
    steps = run["steps"][warmup:] if len(run["steps"]) > warmup else run["steps"][-1:]
    secs = sum(s["seconds"] for s in steps)
    tot = {k: sum(s[k] for s in steps) for k in ("pairs", "pair_tokens", "encoded_tokens", "encoded_slots", "attn")}
    losses = [s["loss"] for s in run["steps"] if math.isfinite(s["loss"])]
    return {"timed_steps": len(steps), "timed_s": secs, "pairs_per_s": tot["pairs"] / secs,
            "tokens_per_s": tot["pair_tokens"] / secs, "encoded_tokens_per_s": tot["encoded_tokens"] / secs,
            "padding_share": 1 - tot["encoded_tokens"] / max(1, tot["encoded_slots"]),
            "mean_loss": float(np.mean(losses)) if losses else run.get("mean_loss", float("nan")),
            **{f"timed_{k}": float(v) for k, v in tot.items()}}


def model_flops(s: dict[str, float], shape: dict[str, float]) -> float:
    """Training FLOPs of the timed steps: 6 N per encoded token + attention 12 L d per (length^2), no recomputation."""
    return 6 * shape["non_embedding_params"] * s["timed_encoded_tokens"] + 12 * shape["layers"] * shape["hidden"] * s[
        "timed_attn"]


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square ``torch.matmul`` in ``dtype`` on ``device`` (best of a few).

    On a CPU without native bf16 (no AVX-512 BF16 or AMX) a bf16 product is emulated, about 50x
    slower than fp32 (a 1024² one took 3 s on an AVX2-only EPYC): a 512² product measures that rate
    in a second instead of the minutes a 2048² one takes."""
    if device.type == "cuda":
        n, reps = 8192, 20
    elif dtype == torch.bfloat16 and not cpu_has_bf16():
        n, reps = 512, 2
    else:
        n, reps = 2048, 3
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for i in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        if i:  # the first one warms up
            best = min(best, dt)
    return 2 * n**3 / best


def matmul_peaks(device: torch.device) -> dict[str, float]:
    """The matmul peak in every dtype a contender may compute in on ``device``."""
    dtypes = {"bf16": torch.bfloat16} if device.type == "cuda" else {"bf16": torch.bfloat16, "fp32": torch.float32}
    return {k: matmul_peak(device, v) for k, v in dtypes.items()}


def compute_dtype(name: str, device: torch.device, trl_bf16: bool | None) -> str:
    if device.type == "cuda":
        return "bf16"
    if name in ("ours-fast", "ours-nodrop", "ours-bucket") or (name == "trl-defaults" and trl_bf16):
        return "bf16"
    return "fp32"


def spread(xs: list[float]) -> tuple[float, float, float]:
    return float(np.mean(xs)), float(min(xs)), float(max(xs))


def ratio_table(per_repeat: dict[str, list[dict[str, float]]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Per contender and reference: pairs/s ratio in each repeat (interleaved runs), then mean, min, max."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        out[name] = {}
        for ref in REFERENCES:
            if ref not in per_repeat or ref == name:
                continue
            rs = [a["pairs_per_s"] / b["pairs_per_s"] for a, b in zip(per_repeat[name], per_repeat[ref], strict=True)]
            mean, lo, hi = spread(rs)
            out[name][ref] = {"mean": mean, "min": lo, "max": hi, "per_repeat": rs}
    return out


# --------------------------------------------------------------------------------------------- profile


CATEGORIES = (
    ("matmul", r"addmm|^aten::mm$|bmm|matmul|linear|baddbmm|scaled_dot_product|_efficient_attention|flash"),
    ("dropout", r"dropout|bernoulli"),
    ("softmax", r"softmax"),
    ("layer norm", r"layer_norm|rms_norm"),
    ("activation (gelu/silu)", r"gelu|silu"),
    ("optimizer", r"adam|_foreach|lerp|addcdiv|addcmul|clip_grad|norm"),
    ("embedding", r"embedding"),
    ("copies and casts", r"copy_|^aten::to$|_to_copy|contiguous|clone|cat$"),
)


def profile_contender(setup: Setup, name: str, steps: int) -> dict[str, Any]:
    """``steps`` steps of a contender under torch.profiler (the first one unprofiled): top operators by
    self time, shares by kind, and the wall time split into forward, optimizer step and the rest."""
    from torch.profiler import ProfilerActivity, profile

    n = min(len(setup.pairs), steps * setup.batch_size)
    t = setup.tokens
    sub = dataclasses.replace(setup, pairs=setup.pairs[:n], tokens=dataclasses.replace(
        t, chosen=t.chosen[:n], rejected=t.rejected[:n], pair_tokens=t.pair_tokens[:n]))
    total_steps = math.ceil(n / setup.batch_size)
    cuda = setup.device.type == "cuda"
    prof = profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else []), record_shapes=False)
    window: dict[str, float] = {}

    def hook(done: int) -> None:  # called at the end of every step, after the device is synchronized
        if done == 1:
            prof.start()
            window["t0"] = time.perf_counter()
        elif done == total_steps and "t0" in window:
            window["wall"] = time.perf_counter() - window["t0"]
            prof.stop()

    run_contender(name, sub, hook=hook)
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = list(prof.key_averages())
    ops = [e for e in events if getattr(e, key, 0) > 0 and not e.key.startswith(("bench::", "Optimizer."))]
    total = sum(getattr(e, key) for e in ops)
    ops.sort(key=lambda e: getattr(e, key), reverse=True)
    rows = [{"name": e.key, "self_ms": getattr(e, key) / 1e3, "share": getattr(e, key) / total, "calls": e.count}
            for e in ops[:15]]
    cats: dict[str, float] = {c: 0.0 for c, _ in CATEGORIES}
    cats["other"] = 0.0
    for e in ops:
        cat = next((c for c, pat in CATEGORIES if re.search(pat, e.key)), "other")
        cats[cat] += getattr(e, key) / total
    wall = window.get("wall", float("nan"))

    def span(prefix: str) -> float:  # CPU time inside annotated ranges (bench::forward, Optimizer.step#...)
        return sum(e.cpu_time_total for e in events if e.key.startswith(prefix)) / 1e6

    phases = None
    if not cuda and math.isfinite(wall):
        fwd, opt = span("bench::forward"), span("Optimizer.step") + span("Optimizer.zero_grad")
        phases = {"forward": fwd / wall, "optimizer step": opt / wall,
                  "backward, clip and the rest": max(0.0, 1 - (fwd + opt) / wall)}
    return {"contender": name, "profiled_steps": total_steps - 1, "clock": "device" if cuda else "cpu",
            "wall_s": wall, "op_self_s": total / 1e6, "top": rows, "by_kind": cats, "phases": phases,
            "outside_ops_share": None if cuda or not math.isfinite(wall) else max(0.0, 1 - total / 1e6 / wall),
            "note": "self time of each operator over the profiled steps (on CPU: wall time on the calling thread, "
                    "its intra-op threads inside); outside_ops_share: the rest of the wall time (Python, the loop); "
                    "phases: shares of the wall time (forward: the model call only, where the contender is "
                    "annotated; TRL's is not)"}


# ------------------------------------------------------------------------------------------------ main


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "torch": torch.__version__}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = re.search(r"Model name:\s*(.+)", lscpu)
        flags = re.search(r"Flags:\s*(.+)", lscpu)
        info["cpu_model"] = model.group(1).strip() if model else platform.processor()
        fl = flags.group(1).split() if flags else []
        info["cpu_bf16_flags"] = [f for f in fl if f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")]
    except OSError:
        info["cpu_model"] = platform.processor()
    with contextlib.suppress(OSError):
        mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
        info["memory_gib"] = round(int(mem.group(1)) / 2**20, 1) if mem else None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    for mod in ("transformers", "trl", "accelerate", "datasets"):
        with contextlib.suppress(ImportError):
            info[mod] = __import__(mod).__version__
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                            cwd=Path(__file__).parent, check=False).stdout.strip()
    return info


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def select_contenders(requested: list[str], device: torch.device) -> tuple[list[str], dict[str, str]]:
    skipped: dict[str, str] = {}
    names = []
    trl_missing = trl_available()
    for name in requested:
        if name.startswith("trl-") and trl_missing:
            skipped[name] = trl_missing
        elif name.startswith("ours") and ours_options(name) is None:
            skipped[name] = "this checkout's PairwiseConfig lacks the option (dedup / precision / dropout)"
        elif name == "ours-fast" and device.type == "cuda":
            skipped[name] = "on CUDA the runner already trains under bf16 autocast (ours-dedup is the same)"
        else:
            names.append(name)
    return names, skipped


def bench_model(model: str, args: argparse.Namespace, device: torch.device, folder: Path,
                partial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    path, desc = build_backbone(model, args.tiny, folder)
    data = prepare_data("goqa", None, seed=0, max_train_pairs=args.pairs)
    pairs = data.pairs.train
    tokens = tokenize(path, pairs, args.max_length)
    lens = [len(tokens.ids(i)) for i in tokens.chosen + tokens.rejected]
    names, skipped = select_contenders(args.contenders, device)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    setup = Setup(path, pairs, tokens, device, args.batch_size, args.max_length)
    shape = model_shape(path)
    print(f"\n## {model}: {desc}; {len(pairs)} pairs, {len(set(tokens.chosen + tokens.rejected))} distinct texts of "
          f"{2 * len(pairs)}, mean {np.mean(lens):.1f} tokens a text (max {max(lens)}), batch {args.batch_size}, "
          f"max length {args.max_length}, {device.type}; contenders {', '.join(names)}; "
          f"{args.repeats} interleaved repeats")
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    early_peaks = matmul_peaks(device) if args.repeats > 0 else {}
    for r in range(args.repeats):
        for name in names:
            at_start = load()
            print(f"[bench] repeat {r + 1}/{args.repeats}: {name} (load {at_start})", flush=True)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf) if not args.verbose else contextlib.nullcontext():
                res = run_contender(name, setup)
            s = summarize_run(res, args.warmup_steps)
            res["summary"], res["load_average_at_start"] = s, at_start
            runs[name].append(res)
            if partial is not None:  # what is measured so far survives an interrupted run
                partial({"model": model, "partial": True, "runs": runs})
            print(f"[bench]   {s['pairs_per_s']:.2f} pairs/s, {s['tokens_per_s']:.0f} tokens/s over "
                  f"{s['timed_steps']} timed steps ({s['timed_s']:.1f} s; {res['total_s']:.1f} s with set-up)",
                  flush=True)
    result: dict[str, Any] = {"model": model, "model_description": desc, "model_shape": shape,
                              "n_pairs": len(pairs), "distinct_texts": len(set(tokens.chosen + tokens.rejected)),
                              "mean_text_tokens": float(np.mean(lens)), "contenders": names, "skipped": skipped,
                              "runs": runs}
    if args.repeats > 0:
        result.update(measure(runs, names, shape, device, early_peaks))
        print_table(result)
    if args.profile:
        result["profile"] = []
        for name in [n for n in args.profile_contenders if n in names]:
            with contextlib.redirect_stdout(io.StringIO()) if not args.verbose else contextlib.nullcontext():
                prof = profile_contender(setup, name, args.profile_steps)
            result["profile"].append(prof)
            print_profile(prof)
    return result


def measure(runs: dict[str, list[dict[str, Any]]], names: list[str], shape: dict[str, float],
            device: torch.device, early_peaks: dict[str, float]) -> dict[str, Any]:
    """The table (mean and spread over repeats, MFU against the measured matmul peak) and the ratios."""
    per_repeat = {n: [x["summary"] for x in runs[n]] for n in names}
    trl_bf16 = runs["trl-defaults"][0]["config"].get("bf16") if "trl-defaults" in runs else None
    peaks = {k: max(v, early_peaks.get(k, 0.0)) for k, v in matmul_peaks(device).items()}  # the best of before and after
    table = {}
    for n in names:
        ss = per_repeat[n]
        dt = compute_dtype(n, device, trl_bf16)
        mfu = [model_flops(s, shape) / s["timed_s"] / peaks[dt] for s in ss]
        table[n] = {
            "pairs_per_s": spread([s["pairs_per_s"] for s in ss]), "tokens_per_s": spread([s["tokens_per_s"] for s in ss]),
            "encoded_tokens_per_s": spread([s["encoded_tokens_per_s"] for s in ss]),
            "padding_share": float(np.mean([s["padding_share"] for s in ss])),
            "mean_loss": float(np.mean([s["mean_loss"] for s in ss])), "compute_dtype": dt,
            "mfu": spread(mfu), "config": runs[n][0].get("config"),
        }
    return {"matmul_peak_flops": peaks, "table": table, "ratios": ratio_table(per_repeat, names)}


def print_table(res: dict[str, Any]) -> None:
    names, t, ratios = res["contenders"], res["table"], res["ratios"]
    refs = [r for r in REFERENCES if r in names]
    peaks = ", ".join(f"{k} {v / 1e12:.2f} TFLOP/s" for k, v in res["matmul_peak_flops"].items())
    print(f"\n### {res['model']}: throughput (mean (min-max) over repeats; matmul peak measured here: {peaks})\n")
    head = ["contender", "pairs/s", "tokens/s", "encoded tok/s", "padding", "mean loss", "dtype", "MFU",
            *[f"x {r}" for r in refs]]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    for n in names:
        row = t[n]
        p, tk, et, mfu = row["pairs_per_s"], row["tokens_per_s"], row["encoded_tokens_per_s"], row["mfu"]
        cells = [n, f"{p[0]:.2f} ({p[1]:.2f}-{p[2]:.2f})", f"{tk[0]:.0f} ({tk[1]:.0f}-{tk[2]:.0f})", f"{et[0]:.0f}",
                 f"{row['padding_share']:.0%}", f"{row['mean_loss']:.3f}", row["compute_dtype"], f"{mfu[0]:.1%}"]
        for r in refs:
            x = ratios[n].get(r)
            cells.append("1" if r == n else f"{x['mean']:.2f} ({x['min']:.2f}-{x['max']:.2f})")
        print("| " + " | ".join(cells) + " |")
    for n in names:
        if n.startswith("trl-"):
            print(f"\n{n} settings: " + ", ".join(f"{k}={v}" for k, v in t[n]["config"].items()))
        elif n.startswith("ours"):
            own = [x.get("runner_pairs_per_s") for x in res["runs"][n]]
            print(f"{n} options: {t[n]['config']}; the runner's own train/pairs_per_s (all steps, first included): "
                  + ", ".join(f"{v:.2f}" for v in own if v is not None))


def print_profile(prof: dict[str, Any]) -> None:
    outside = prof.get("outside_ops_share")
    print(f"\n### profile of {prof['contender']}: {prof['profiled_steps']} steps, wall {prof['wall_s']:.1f} s, "
          f"operator self time {prof['op_self_s']:.1f} s ({prof['clock']})"
          + (f", outside operators {outside:.1%} of the wall time" if outside is not None else "") + "\n")
    print("| operator | self ms | share | calls |")
    print("| --- | ---: | ---: | ---: |")
    for row in prof["top"]:
        print(f"| {row['name']} | {row['self_ms']:.0f} | {row['share']:.1%} | {row['calls']} |")
    print("\nby kind (operator self time): "
          + ", ".join(f"{k} {v:.1%}" for k, v in sorted(prof["by_kind"].items(), key=lambda kv: -kv[1])))
    if prof["phases"]:
        print("wall time: " + ", ".join(f"{k} {v:.1%}" for k, v in prof["phases"].items()))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: cuda when available, else cpu")
    p.add_argument("--model", default=None,
                   help="comma list of minilm, llama-1b (default: minilm on CPU, minilm,llama-1b on CUDA)")
    p.add_argument("--tiny", action="store_true", help="tiny models built from configs (tests, CPU smoke of llama-1b)")
    p.add_argument("--pairs", type=int, default=1024, help="training pairs of the bundled GlobalOpinionQA slice")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2, help="interleaved repeats of every contender")
    p.add_argument("--warmup-steps", type=int, default=2, help="first steps of each run left out of the timing")
    p.add_argument("--contenders", default=",".join(ALL_CONTENDERS), help=f"comma list of {', '.join(ALL_CONTENDERS)}")
    p.add_argument("--profile", action="store_true", help="profile our loop (torch.profiler) after the timed runs")
    p.add_argument("--profile-steps", type=int, default=8, help="steps per profiled run (the first is not profiled)")
    p.add_argument("--profile-contenders", default="plain,trl-defaults,ours,ours-dedup,ours-fast,ours-nodrop",
                   help="comma list of the contenders --profile profiles")
    p.add_argument("--quick", action="store_true", help="3 steps, 1 repeat, 1 warm-up step (tests)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--verbose", action="store_true", help="show the contenders' own output")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs, args.repeats, args.warmup_steps, args.profile_steps = 3 * args.batch_size, 1, 1, 3
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    args.profile_contenders = [c.strip() for c in args.profile_contenders.split(",") if c.strip()]
    bad = sorted(set(args.contenders) - set(ALL_CONTENDERS))
    if bad:
        p.error(f"unknown contender {bad[0]!r}; valid: {', '.join(ALL_CONTENDERS)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    models = (args.model or ("minilm,llama-1b" if device.type == "cuda" else "minilm")).split(",")
    for m in models:
        if m not in ("minilm", "llama-1b"):
            raise SystemExit(f"unknown --model {m!r}; valid: minilm, llama-1b")
    random.seed(0)
    np.random.seed(0)
    info = machine()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = load()
    print(f"# bench_train: {info.get('cpu_model')}, {info['cpus']} CPUs, torch threads {info['torch_threads']}, "
          f"bf16 CPU flags {info.get('cpu_bf16_flags')}, {info.get('gpu', 'no GPU')}, device {device}; "
          f"load average {load_before}")
    print(f"# command: python {' '.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}")
    folder = Path(tempfile.mkdtemp(prefix="bench-train-models-"))
    results: list[dict[str, Any]] = []
    head = {"command": " ".join(["python", "benchmarks/bench_train.py", *(argv if argv is not None else sys.argv[1:])]),
            "started": started, "load_average_before": load_before, "machine": info, "device": str(device)}

    def partial(current: dict[str, Any]) -> None:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({**head, "partial": True, "load_average_now": load(),
                                                  "results": [*results, current]}, indent=1, default=str))

    try:
        for m in models:
            results.append(bench_model(m, args, device, folder, partial))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = {**head, "finished": datetime.now(UTC).isoformat(timespec="seconds"), "load_average_after": load(),
           "args": dict(vars(args)),
           "timed": "training steps only, first warmup_steps of each run left out; set-up, checkpoints and "
                    "evaluation not timed", "results": results}
    print(f"\nload average before {load_before}, after {out['load_average_after']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
