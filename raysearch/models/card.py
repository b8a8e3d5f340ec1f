"""What a reward-model folder says about itself: ``raysearch.json`` (its text convention, communities, data,
config and metrics, read back by ``RewardModel.load``) and a ``README.md`` model card in the Hugging Face
format (YAML front matter, then how to load and steer it, the per-community metrics, the training config).

Both are written into every checkpoint's ``model/`` folder (``raysearch.train.checkpoint.save_checkpoint``);
an older folder without them is scored with the convention below (:data:`DEFAULT_CONVENTION`), the one
every raysearch model has been trained with so far.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CARD_JSON = "raysearch.json"
CARD_README = "README.md"
FORMAT = "raysearch-reward-model"
FORMAT_VERSION = 1

#: Hugging Face dataset ids of the data sources the pairwise and DPRM methods read
DATASETS = {"goqa": "Anthropic/llm_global_opinions", "prism": "HannahRoseKirk/prism-alignment"}
#: how the repo cites each data source and method (README "Data", docs/dprm.md, raysearch/methods/pairwise/losses.py)
DATA_CITATIONS = {
    "goqa": "GlobalOpinionQA: Durmus et al. (2023), *Towards Measuring the Representation of Subjective Global "
            "Opinions in Language Models* (CC-BY-NC-SA-4.0).",
    "prism": "PRISM: Kirk et al. (2024), *The PRISM Alignment Dataset* (human text CC-BY-4.0, model responses "
             "CC-BY-NC-4.0).",
}
METHOD_CITATIONS = {
    "bt": "Bradley–Terry reward model: Bradley & Terry (1952); the reward-model form of Ouyang et al. (2022), eq. 1.",
    "scpo": "SCPO, Steerable Cultural Preference Optimization: a global reward model G scores each training pair "
            "once; pairs with sigmoid(delta) < tau are kept and weighted min(exp(delta/beta), 1) in the "
            "Bradley–Terry loss (Bradley & Terry 1952), starting from G; with this project's community weighting "
            "schedule (docs/scpo.md).",
    "dprm": "DPRM: Li et al. (2024), *Aligning Crowd Feedback via Distributional Preference Reward Modeling* "
            "(arXiv:2402.09764).",
}
_BUNDLED_MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class TextConvention:
    """How a model's input text is built: the first segment (the query) and the response are one tokenizer
    text pair, cut ``longest_first`` to ``max_length`` tokens. A steered query is ``template`` with the
    community and prompt filled in; an unsteered one (``community=None``, or the ``global`` pairs) is the
    prompt alone. ``conditioned=False``: the model was trained unsteered only (the global model G)."""

    template: str = "[{community}] {prompt}"
    unsteered: str = "{prompt}"
    conditioned: bool = True
    max_length: int = 64
    truncation: str = "longest_first"

    def query(self, prompt: str, community: str | None) -> str:
        if community:
            return self.template.format(community=community, prompt=prompt)
        return self.unsteered.format(prompt=prompt)

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "unsteered": self.unsteered, "conditioned": self.conditioned,
                "max_length": self.max_length, "truncation": self.truncation,
                "segments": ["query", "response"], "global_community": "global"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextConvention:
        keys = ("template", "unsteered", "conditioned", "max_length", "truncation")
        return cls(**{k: d[k] for k in keys if k in d})


#: the convention of a folder without ``raysearch.json`` (every model before it existed)
DEFAULT_CONVENTION = TextConvention()


def read_card(model_dir: str | Path) -> dict[str, Any] | None:
    """The ``raysearch.json`` of ``model_dir``, or None where it has none (an older folder)."""
    p = Path(model_dir) / CARD_JSON
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def convention(model_dir: str | Path) -> TextConvention:
    """The text convention ``model_dir`` was trained with: from its ``raysearch.json``; else the default, with
    ``max_length`` from the checkpoint's ``meta.json`` beside it when there is one (as before)."""
    card = read_card(model_dir)
    if card is not None:
        return TextConvention.from_dict(card.get("text", {}))
    meta = Path(model_dir).parent / "meta.json"
    if meta.is_file():
        cfg = json.loads(meta.read_text()).get("config", {})
        return TextConvention(max_length=int(cfg.get("max_length", DEFAULT_CONVENTION.max_length)))
    return DEFAULT_CONVENTION


def data_kind(source: str | None) -> str | None:
    """``goqa`` or ``prism`` for a data source as the train CLIs take it (a name, a GOQA file, a PRISM folder)."""
    if not source:
        return None
    s = str(source)
    if s == "goqa" or s.lower().endswith((".json", ".jsonl", ".csv", ".parquet", ".json.gz")):
        return "goqa"
    if s == "prism" or s.startswith("hf:") or "prism" in s.lower():
        return "prism"
    return None


def base_model_id(backbone: str) -> str | None:
    """The Hub id of a backbone name (the bundled MiniLM's, or a ``org/name`` that is not a local folder)."""
    from raysearch.models.backbone import _MINILM_ALIASES, _looks_like_path

    if backbone.lower() in _MINILM_ALIASES or backbone.lower() == "all-minilm-l6-v2":
        return _BUNDLED_MINILM
    if backbone.count("/") == 1 and not _looks_like_path(backbone) and not Path(backbone).expanduser().exists():
        return backbone
    return None


def backbone_license(backbone: str) -> str | None:
    """The ``license:`` of the backbone's own model card, read locally only (the bundled MiniLM, a local folder,
    or a Hub name already in the cache); None where none is found. Never touches the network."""
    readme: Path | None = None
    try:
        from raysearch.models.backbone import _MINILM_ALIASES, minilm_path

        if backbone.lower() in _MINILM_ALIASES:
            readme = minilm_path() / "README.md"
        elif Path(backbone).expanduser().is_dir():
            readme = Path(backbone).expanduser() / "README.md"
        elif base_model_id(backbone):
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(backbone, "README.md")
            readme = Path(hit) if isinstance(hit, str) else None
    except Exception:  # no MiniLM package, an odd cache: the card just has no licence line
        return None
    if readme is None or not readme.is_file():
        return None
    front = _front_matter(readme.read_text(errors="replace"))
    lic = front.get("license")
    return str(lic) if isinstance(lic, str) and lic else None


def _front_matter(text: str) -> dict[str, Any]:
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    import yaml

    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def card_info(config: dict[str, Any], *, metrics: dict[str, Any], flat: dict[str, Any], epoch: int,
              communities: list[str] | None = None, source: str | None = None) -> dict[str, Any]:
    """The ``raysearch.json`` content of a model trained with ``config`` (a config's ``to_dict()``), whose
    last evaluation gave ``metrics`` (per split, the metrics objects' ``to_dict()``) and ``flat``."""
    import raysearch

    if communities is None:  # from the evaluated per-community metrics
        found: set[str] = set()
        for m in metrics.values():
            for key in ("per_community", "jsd"):
                if isinstance(m, dict) and isinstance(m.get(key), dict):
                    found.update(m[key])
        communities = sorted(found - {"global"})
    backbone = str(config.get("backbone", ""))
    kind = data_kind(source)
    text = TextConvention(conditioned=bool(config.get("condition_on_community", True)),
                          max_length=int(config.get("max_length", DEFAULT_CONVENTION.max_length)))
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "raysearch_version": raysearch.__version__,
        "objective": config.get("objective"), "backbone": backbone, "base_model": base_model_id(backbone),
        "text": text.to_dict(), "communities": list(communities),
        "data": {"source": source, "kind": kind, "dataset": DATASETS.get(kind or "")},
        "seed": config.get("seed"), "epoch": epoch, "epochs": config.get("epochs"),
        "metrics": {k: float(v) for k, v in flat.items() if isinstance(v, int | float)},
        "intervals": _intervals(metrics), "config": config,
    }


def _intervals(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{split: {community: {value, low, high, n}}}`` of the per-community accuracies that have intervals."""
    out: dict[str, dict[str, Any]] = {}
    for split, m in metrics.items():
        if isinstance(m, dict) and isinstance(m.get("per_community"), dict):
            out[split] = {c: dict(iv) for c, iv in m["per_community"].items() if isinstance(iv, dict)}
    return out


def write_card(model_dir: str | Path, info: dict[str, Any]) -> None:
    """Write ``raysearch.json`` and the ``README.md`` model card of ``info`` into ``model_dir``."""
    d = Path(model_dir)
    (d / CARD_JSON).write_text(json.dumps(info, indent=2, default=str) + "\n")
    (d / CARD_README).write_text(render_card(info, license=backbone_license(str(info.get("backbone") or ""))))


def card_from_meta(model_dir: str | Path) -> dict[str, Any] | None:
    """The card info of an older checkpoint's ``model/`` folder from the ``meta.json`` beside it, or None."""
    meta = Path(model_dir).parent / "meta.json"
    if not meta.is_file():
        return None
    m = json.loads(meta.read_text())
    return card_info(m.get("config", {}), metrics=m.get("metrics", {}), flat=m.get("flat", {}),
                     epoch=int(m.get("epoch", 0)))


def _yaml_list(name: str, items: list[str]) -> list[str]:
    return [f"{name}:", *(f"- {json.dumps(i)}" for i in items)] if items else []


def render_card(info: dict[str, Any], *, license: str | None = None, repo_id: str | None = None) -> str:
    """The Hugging Face model card (``README.md``) of ``info``: YAML front matter, then the text."""
    objective = str(info.get("objective") or "reward model")
    text = TextConvention.from_dict(info.get("text", {}))
    communities = list(info.get("communities") or [])
    data = info.get("data") or {}
    dataset = data.get("dataset")
    tags = ["reward-model", "raysearch", "text-classification", objective]
    if text.conditioned and communities:
        tags.append("steerable")
    front = ["---", "library_name: transformers", *_yaml_list("tags", tags)]
    if license:
        front.append(f"license: {json.dumps(license)}")
    if info.get("base_model"):
        front.append(f"base_model: {json.dumps(info['base_model'])}")
    if dataset:
        front += _yaml_list("datasets", [dataset])
    front += ["pipeline_tag: text-classification", "---", ""]
    where = repo_id or "path/to/model"
    example = communities[0] if communities else "Chile"
    steer = (f'`"{text.template}"`, e.g. `"{text.query("Is family important?", example)}"`'
             if text.conditioned else "none: this model was trained unsteered (the global model G)")
    body = [
        f"# raysearch {objective.upper()} reward model",
        "",
        f"A one-output reward model (a sequence classifier over `{info.get('backbone')}`) trained with "
        f"raysearch (`pip install raysearch-align`; objective `{objective}`) on "
        f"{_data_line(data)}." + (f" It is steered to a community by a prefix before the prompt; trained "
                                  f"communities: {', '.join(communities)}." if text.conditioned and communities else ""),
        "",
        "## Text convention",
        "",
        f"- Community prefix of the prompt: {steer}; unsteered (`community=None`): the prompt alone.",
        f"- Input: the query and the response as one tokenizer text pair `(query, response)`, truncated "
        f"`{text.truncation}` to **{text.max_length}** tokens.",
        "- The reward is the single logit; compare rewards of responses to the same query.",
        f"- All of this is in `{CARD_JSON}`, which `RewardModel.load` reads, so the model scores as it was trained.",
        "",
        "## Use",
        "",
        "```python",
        "from raysearch.models import RewardModel  # pip install raysearch-align",
        "",
        f'rm = RewardModel.load("{where}")',
        f'rm.score("Is family important?", "Very important", community={json.dumps(example) if text.conditioned else "None"})',
        "```",
        "",
        "With plain transformers, build the query yourself:",
        "",
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "",
        f'tok = AutoTokenizer.from_pretrained("{where}")',
        f'model = AutoModelForSequenceClassification.from_pretrained("{where}").eval()',
        f'query = {json.dumps(text.query("Is family important?", example if text.conditioned else None))}',
        f'enc = tok(query, "Very important", truncation="{text.truncation}", max_length={text.max_length}, '
        'return_tensors="pt")',
        "reward = model(**enc).logits[0, 0].item()",
        "```",
        "",
    ]
    table = metrics_table(info)
    if table:
        body += ["## Metrics", "", f"After epoch {info.get('epoch')} of {info.get('epochs')}; accuracy is pairwise "
                 "(the chosen response scores higher; ties wrong), in %, with 95% bootstrap intervals "
                 "resampling questions where given.", "", table, ""]
    cfg = info.get("config") or {}
    if cfg:
        body += ["## Training config", "", "| option | value |", "|---|---|"]
        body += [f"| `{k}` | `{v}` |" for k, v in cfg.items()]
        body.append("")
    body += ["## Citation", ""]
    if objective in METHOD_CITATIONS:
        body.append(f"- {METHOD_CITATIONS[objective]}")
    if data.get("kind") in DATA_CITATIONS:
        body.append(f"- {DATA_CITATIONS[data['kind']]}")
    body += [f"- raysearch {info.get('raysearch_version')} (`raysearch-align`)."]
    return "\n".join(front + body) + "\n"


def _data_line(data: dict[str, Any]) -> str:
    if data.get("dataset"):
        return f"[{data['dataset']}](https://huggingface.co/datasets/{data['dataset']}) (`{data.get('source')}`)"
    return f"`{data['source']}`" if data.get("source") else "its training data"


def metrics_table(info: dict[str, Any]) -> str:
    """A markdown table, one row per community: each split's accuracy (with its interval where known), JSD, W1."""
    flat: dict[str, float] = info.get("metrics") or {}
    ivs: dict[str, dict[str, Any]] = info.get("intervals") or {}
    cols: list[tuple[str, str]] = []
    rows: set[str] = set()
    for split in ("test", "val"):
        for metric in ("acc", "jsd", "w1"):
            have = [k.split("/", 2)[2] for k in flat if k.startswith(f"{split}/{metric}/")]
            if have:
                cols.append((split, metric))
                rows.update(have)
    if not cols:
        return ""
    head = ["community", *(f"{s} {m}" for s, m in cols)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(split: str, metric: str, c: str) -> str:
        v = flat.get(f"{split}/{metric}/{c}")
        if v is None:
            return ""
        if metric != "acc":
            return f"{v:.3f}"
        iv = ivs.get(split, {}).get(c)
        if iv and iv.get("low") is not None:
            return f"{v * 100:.1f} [{iv['low'] * 100:.1f}, {iv['high'] * 100:.1f}] (n={iv.get('n')})"
        return f"{v * 100:.1f}"

    for c in sorted(rows):
        lines.append("| " + " | ".join([c, *(cell(s, m, c) for s, m in cols)]) + " |")
    for name, key in (("mean", "mean"), ("worst", "worst")):
        vals = []
        for s, m in cols:
            v = flat.get(f"{s}/{key}_{m}")
            vals.append("" if v is None else (f"{v * 100:.1f}" if m == "acc" else f"{v:.3f}"))
        if any(vals):
            lines.append("| " + " | ".join([f"**{name}**", *vals]) + " |")
    return "\n".join(lines)
