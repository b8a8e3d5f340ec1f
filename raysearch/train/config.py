"""Training configs: one base with the fields every method has, one subclass per method with its own.

A field is declared once, with its default, its help text (which feeds the CLI flags and
``--help``) and its valid range; :meth:`BaseConfig.validate` checks every field from that
declaration (choices from ``Literal`` types, bounds from the metadata) and then the method's
cross-field rules (``check``). The search builds a trial's config with ``from_dict`` and
validates it once, through the same code.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from raysearch.errors import UserInputError

_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def option(default: Any, help: str, *, cli: bool = True, **bounds: float) -> Any:
    """A config field: ``help`` for the CLI; ``cli=False`` keeps it off the command line; bounds
    ``ge``/``gt``/``le``/``lt`` are checked by ``validate``."""
    assert set(bounds) <= set(_BOUNDS), bounds
    return field(default=default, metadata={"help": help, "cli": cli, **bounds})


@dataclass
class BaseConfig:
    """What every training run has: which method, the text backbone, the optimizer budget, seed, reporting."""

    objective: str = option("", "the method (picks the config class in the registry)", cli=False)
    backbone: str = option("all-MiniLM-L6-v2", "Hugging Face backbone name or local path")
    lr: float | None = option(None, "AdamW learning rate (default: the method's)", gt=0)
    weight_decay: float = option(0.01, "AdamW weight decay", ge=0)
    epochs: int = option(2, "passes over the training data; each ends with validation, a checkpoint and a report", ge=1)
    batch_size: int = option(32, "examples (the method's unit: pairs, records, tasks) per optimizer step, summed over all workers", ge=1)
    max_length: int = option(64, "tokens per text; the longer segment is cut first", ge=1)
    n_boot: int = option(1000, "bootstrap resamples for accuracy intervals", ge=1)
    seed: int = option(0, "seed of every random choice: data split and order, model init, bootstrap")
    log_every: int = option(10, "print a progress line every this many steps (rank 0)", ge=1)
    eval_every: int = option(0, "also evaluate validation and report (no checkpoint) every this many training steps "
                                "within an epoch, for early stopping (0: once per epoch)", ge=0)

    #: defaults a subclass changes: ``{field: default}``; the field keeps its type, help and bounds
    DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Turn ``DEFAULTS`` into field declarations of the subclass (before ``@dataclass`` reads them)."""
        super().__init_subclass__(**kwargs)
        inherited = {f.name: f for base in reversed(cls.__mro__[1:])
                     for f in getattr(base, "__dataclass_fields__", {}).values()}
        own = dict(cls.__dict__.get("__annotations__", {}))
        for name, default in cls.__dict__.get("DEFAULTS", {}).items():
            if name not in inherited or name in own:
                raise TypeError(f"{cls.__name__}.DEFAULTS[{name!r}]: no inherited field {name!r} to change")
            own[name] = inherited[name].type
            setattr(cls, name, field(default=default, metadata=inherited[name].metadata))
        cls.__annotations__ = own

    @property
    def learning_rate(self) -> float:
        """``lr``, or the method's default (``default_lr``)."""
        return self.lr if self.lr is not None else self.default_lr()

    def default_lr(self) -> float:
        """The learning rate when ``lr`` is not given: 2e-4, a new head and upper layers trained from scratch."""
        return 2e-4

    def check(self) -> None:
        """Rules across fields, beyond each field's own type and range (subclasses add theirs)."""

    def validate(self) -> BaseConfig:
        """Raise ``UserInputError`` naming the bad field, its value and what is valid; return ``self``."""
        hints = get_type_hints(type(self))
        for f in fields(type(self)):
            _check_field(f, hints[f.name], getattr(self, f.name))
        self.check()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(type(self))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserInputError(f"unknown {cls.__name__} option {unknown[0]!r}; valid: {', '.join(sorted(names))}")
        return cls(**d)


def fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The config fields of ``cls`` (its dataclass fields that are constructor arguments)."""
    return [f for f in dataclasses.fields(cls) if f.init]


def _check_field(f: dataclasses.Field[Any], hint: Any, v: Any) -> None:
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    if v is None:
        if optional:
            return
        raise UserInputError(f"{f.name}=None is invalid; give a value")
    t = next(a for a in get_args(hint) if a is not type(None)) if optional else hint
    if get_origin(t) is Literal:
        if v not in get_args(t):
            raise UserInputError(f"{f.name}={v!r} is invalid; valid: {', '.join(map(str, get_args(t)))}")
        return
    if t is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise UserInputError(f"{f.name}={v!r} is invalid; it must be an integer")
    if t is float and (isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v)):
        raise UserInputError(f"{f.name}={v!r} is invalid; it must be a number")
    rules = [(op, f.metadata[k]) for k, op in _BOUNDS.items() if k in f.metadata]
    ok = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
    if any(not ok[op](v, bound) for op, bound in rules):
        raise UserInputError(f"{f.name}={v!r} is invalid; it must be {' and '.join(f'{op} {b:g}' for op, b in rules)}")


@dataclass
class FineTuneConfig(BaseConfig):
    """Fields of the methods that fine-tune a pretrained text backbone into a reward model (pairwise, DPRM)."""

    init_from: str | None = option(None, "checkpoint folder to start from instead of the backbone", cli=False)
    condition_on_community: bool = option(True, "prefix each prompt with its community (steerable model)", cli=False)
    warmup_ratio: float = option(0.1, "share of steps with linear learning-rate warm-up", ge=0, lt=1)
    eval_batch_size: int = option(128, "texts per forward pass when scoring", ge=1)
    lora_r: int = option(0, "LoRA rank (0 = full fine-tuning)", ge=0)
    lora_alpha: int | None = option(None, "LoRA alpha (default 2 * rank)", ge=1)
    freeze_layers: int = option(3, "freeze the embeddings and this many lowest transformer layers (CPU speed; 0 trains all)", ge=0)
    grad_clip: float = option(1.0, "gradient-norm clip", gt=0)
    precision: Literal["fp32", "bf16", "auto"] = option(
        "fp32", "training forward pass: fp32, bf16 autocast, or auto (bf16 where the CPU has native bf16 "
                "matrix multiplies, else fp32); CUDA always uses bf16")
    length_buckets: int = option(
        1, "split each training forward pass into this many passes over texts of similar length, each padded "
           "to its own longest text (less padding; one process only, ignored under DDP); 1: one pass", ge=1)
    dropout: bool = option(True, "the backbone's dropout while training (off: every dropout p = 0, TRL's RewardTrainer default)")


def _flag_kwargs(t: Any) -> dict[str, Any]:
    if get_origin(t) in (Union, types.UnionType):
        t = next(a for a in get_args(t) if a is not type(None))
    if get_origin(t) is Literal:
        return {"choices": list(get_args(t)), "type": str}
    if t is bool:
        return {"action": argparse.BooleanOptionalAction}
    return {"type": t}


def add_config_flags(parser: argparse.ArgumentParser, cls: type[BaseConfig]) -> None:
    """One ``--flag`` per field of ``cls`` marked for the CLI, with the field's help text and default."""
    hints = get_type_hints(cls)
    for f in fields(cls):
        if not f.metadata.get("cli", True):
            continue
        parser.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=argparse.SUPPRESS,
            help=f"{f.metadata['help']} (default: {f.default})".replace("%", "%%"), **_flag_kwargs(hints[f.name]),
        )


def config_from_args(args: argparse.Namespace, cls: type[BaseConfig], **fixed: Any) -> Any:
    """A validated ``cls`` config from parsed flags plus fields the command fixes itself."""
    names = {f.name for f in fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**given, **fixed}).validate()


def add_run_flags(parser: argparse.ArgumentParser, *, out_help: str, smoke_help: str) -> None:
    """The flags every ``python -m raysearch.train METHOD`` has besides its config: workers, GPU, output, smoke test."""
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers (DDP)")
    parser.add_argument("--gpu", action="store_true", help="one GPU per worker")
    parser.add_argument("--cpus-per-worker", type=int, default=1,
                        help="CPUs each worker holds, and its torch threads (default 1; on a 2-core machine with "
                             "--workers 1, 2 uses both)")
    parser.add_argument("--out", default="runs/train", help=out_help)
    parser.add_argument("--smoke-test", action="store_true", help=smoke_help)
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                        help="after training, upload the model folder (config, tokenizer, safetensors weights, "
                             "README.md model card, raysearch.json; no trainer state, no pickles) to this Hugging "
                             "Face Hub model repo, created private if new; needs the network (not HF_HUB_OFFLINE=1) "
                             "and a token (HF_TOKEN or `hf auth login`)")
    from raysearch.tracking import add_callback_flag

    add_callback_flag(parser)  # each run's reports, logged from the driver once it has finished


def config_from_cli(args: argparse.Namespace, cls: type[BaseConfig], *, smoke: dict[str, Any], **fixed: Any) -> Any:
    """The validated config of a ``python -m raysearch.train METHOD`` command.

    With ``--smoke-test``, ``smoke`` fills every option the command line left unset (config
    fields and data options alike); ``--workers`` must be >= 1."""
    if args.smoke_test:
        for k, v in smoke.items():
            if getattr(args, k, None) is None:
                setattr(args, k, v)
    if args.workers < 1:
        raise UserInputError(f"--workers {args.workers} must be >= 1")
    if args.cpus_per_worker < 1:
        raise UserInputError(f"--cpus-per-worker {args.cpus_per_worker} must be >= 1")
    return config_from_args(args, cls, **fixed)
