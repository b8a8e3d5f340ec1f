"""Hugging Face Hub names for backbones and reward models: resolve ``org/name`` to a local snapshot (a
download when online, the local cache under ``HF_HUB_OFFLINE=1``), and push a trained model folder.

Offline (``HF_HUB_OFFLINE=1``, as the tests run) nothing touches the network: a name is found in the
cache (``HF_HUB_CACHE``, read when called) or is one ``UserInputError`` line saying it needs the network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError

_TRUE = {"1", "on", "yes", "true"}
#: files of a model repo a reward model never needs (other frameworks' weights, exports)
SKIP_DOWNLOAD = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "openvino/*", "coreml/*", "flax_model*",
                 "tf_model*", "rust_model*", "*.tflite", "*.mlmodel"]
#: what ``push_to_hub`` uploads from a model folder: config, tokenizer, safetensors weights, card (no pickles)
UPLOAD = ["*.json", "*.safetensors", "*.txt", "*.md", "*.model", "tokenizer*"]
#: never uploaded, whatever the folder holds: pickled weights, trainer and optimizer state
NEVER_UPLOAD = ["*.pt", "*.pth", "*.bin", "*.pkl", "*.pickle", "*.ckpt", "trainer_state*", "optimizer*",
                "scheduler*", "rng_state*"]


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) set, read now, or huggingface_hub's own constant."""
    if any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


def _cache_dir() -> str | None:
    """``HF_HUB_CACHE`` as set now (huggingface_hub reads it once, at import), else its default."""
    return os.environ.get("HF_HUB_CACHE") or None


def resolve_hub(repo_id: str, *, what: str = "model", revision: str | None = None) -> str:
    """A local snapshot folder of Hub repo ``repo_id``: downloaded (or refreshed) when online, from the local
    cache when ``HF_HUB_OFFLINE=1``. One ``UserInputError`` line when neither gives it."""
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    try:
        return str(snapshot_download(repo_id, revision=revision, cache_dir=_cache_dir(), local_files_only=offline,
                                     ignore_patterns=SKIP_DOWNLOAD))
    except Exception as exc:
        if offline:
            raise UserInputError(
                f"{what} {repo_id!r} is not a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE=1 "
                f"forbids downloading it: unset HF_HUB_OFFLINE to download it, or give a local path") from None
        raise UserInputError(f"{what} {repo_id!r} could not be downloaded from the Hugging Face Hub "
                             f"({type(exc).__name__}: {_first_line(exc)}); check the name and your network, "
                             f"or give a local path") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else "no detail"


def model_folder(path: str | Path) -> Path:
    """The model folder of ``path``: itself, or the ``model/`` of a checkpoint folder."""
    p = Path(path).expanduser()
    return p / "model" if (p / "model" / "config.json").is_file() else p


def upload_plan(model_dir: str | Path) -> list[str]:
    """The files (relative paths) ``push_to_hub`` uploads from ``model_dir``: ``UPLOAD`` minus ``NEVER_UPLOAD``."""
    from fnmatch import fnmatch

    root = Path(model_dir)
    out = []
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root).as_posix()
        if not f.is_file() or rel.startswith(".") or "/." in rel:
            continue
        if any(fnmatch(rel, p) or fnmatch(f.name, p) for p in NEVER_UPLOAD):
            continue
        if any(fnmatch(rel, p) or fnmatch(f.name, p) for p in UPLOAD):
            out.append(rel)
    return out


def prepare_upload(model_dir: str | Path) -> Path:
    """Check ``model_dir`` can be pushed (a ``config.json``, safetensors weights, the card: written from the
    checkpoint's ``meta.json`` for a folder saved before cards existed); returns the model folder."""
    from raysearch.models.card import CARD_JSON, CARD_README, card_from_meta, write_card

    d = model_folder(model_dir)
    if not (d / "config.json").is_file():
        raise UserInputError(f"{str(model_dir)!r} is not a model folder (no config.json); give a run's model/ folder")
    if not any(d.glob("*.safetensors")):
        raise UserInputError(f"{str(d)!r} has no .safetensors weights; only safetensors are pushed (no pickles)")
    if not (d / CARD_JSON).is_file() or not (d / CARD_README).is_file():
        info = card_from_meta(d)
        if info is None:
            raise UserInputError(f"{str(d)!r} has no {CARD_JSON} and no meta.json beside it to write its model card "
                                 f"from; push a model folder written by raysearch.train")
        write_card(d, info)
    return d


def check_push(repo_id: str) -> None:
    """One ``UserInputError`` line if ``repo_id`` cannot be pushed to now: offline, or not ``user/name``
    (checked before a training run as well, so a run is not wasted)."""
    if hub_offline():
        raise UserInputError(f"--push-to-hub {repo_id}: HF_HUB_OFFLINE=1 is set, so nothing was uploaded; unset it "
                             f"(and log in with `hf auth login` or set HF_TOKEN) to push")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or repo_id.startswith((".", "~")):
        raise UserInputError(f"--push-to-hub {repo_id!r}: give a Hub repo id 'user/name' or 'org/name'")


def push_to_hub(model_dir: str | Path, repo_id: str, *, private: bool = True, token: str | None = None,
                commit_message: str | None = None) -> str:
    """Create (or reuse) Hub model repo ``repo_id`` and upload the model folder to it: config, tokenizer,
    safetensors weights, ``README.md`` card and ``raysearch.json`` (:func:`upload_plan`); never trainer
    state or pickles. Refused in one line under ``HF_HUB_OFFLINE=1``. Returns the repo's URL."""
    check_push(repo_id)
    d = prepare_upload(model_dir)
    from huggingface_hub import HfApi

    _refresh_card(d, repo_id)
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(d), repo_id=repo_id, repo_type="model", allow_patterns=upload_plan(d),
                      ignore_patterns=NEVER_UPLOAD, commit_message=commit_message or "raysearch reward model")
    return str(url)


def _refresh_card(d: Path, repo_id: str) -> None:
    """The card's code examples load ``repo_id`` (instead of a placeholder path)."""
    from raysearch.models.card import CARD_README, backbone_license, read_card, render_card

    info = read_card(d)
    if info is not None:
        (d / CARD_README).write_text(render_card(info, license=backbone_license(str(info.get("backbone") or "")),
                                                 repo_id=repo_id))


def looks_like_repo_id(name: str) -> bool:
    """``org/name`` that is not an existing local path and not rooted or relative."""
    return (name.count("/") == 1 and not name.startswith((".", "/", "~")) and not name.endswith("/")
            and not Path(name).expanduser().exists())


def push_from_cli(model_dir: str | Path, repo_id: str | None, **kwargs: Any) -> None:
    """``--push-to-hub REPO_ID`` after a training command: push and print one line (nothing when not given)."""
    if not repo_id:
        return
    url = push_to_hub(model_dir, repo_id, **kwargs)
    print(f"[raysearch.train] pushed {model_folder(model_dir)} to {url} (private unless it existed)", flush=True)
