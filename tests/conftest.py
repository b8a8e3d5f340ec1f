"""Shared fixtures: offline environment, a tiny BERT reward backbone, tiny GOQA-shaped pairs."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from raysearch.data.records import PairRecord  # noqa: E402


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-wide BERT with MiniLM's tokenizer, saved as a local folder (built from a config)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from raysearch.models.backbone import minilm_path

    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(minilm_path())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def make_pairs(n_questions: int = 12, communities: tuple[str, ...] = ("A", "B")) -> list[PairRecord]:
    """Pairs over ``n_questions`` questions where community A prefers 'yes' and B prefers 'no'."""
    out = []
    for q in range(n_questions):
        prompt = f"question {q}: is topic {q} important?"
        for c in communities:
            good, bad = ("yes", "no") if c == "A" else ("no", "yes")
            out.append(PairRecord(prompt=prompt, chosen=good, rejected=bad, community=c, group=prompt))
            out.append(PairRecord(prompt=prompt, chosen=f"{good}, very", rejected="unsure", community=c, group=prompt))
    return out


@pytest.fixture()
def tiny_pairs() -> list[PairRecord]:
    return make_pairs()


@pytest.fixture()
def pairs_factory():
    return make_pairs


@pytest.fixture(scope="session")
def experiment_script():
    """``load(name)``: the script ``experiments/<name>.py`` as a module, registered in ``sys.modules`` (its
    dataclasses resolve their module, and a script importing a sibling finds it)."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "experiments"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    return load
