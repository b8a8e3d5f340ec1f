"""One training experiment: the global reference model G, then the BT or SCPO model, compared.

For GlobalOpinionQA, G is a BT model trained on the global (mean over countries) pairs of the
training questions, scoring prompts without a community. For PRISM, G is any given reward
model (``reference``). The BT baseline fine-tunes the backbone on the community pairs; SCPO
starts from G and trains on the pairs G gets wrong or only weakly right, re-weighted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from raysearch.errors import UserInputError
from raysearch.io import atomic_write_text
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import PreferenceData, TrainData
from raysearch.metrics.accuracy import CommunityMetrics
from raysearch.train.checkpoint import MODEL_DIR, read_meta


@dataclass
class ExperimentResult:
    """Test-split metrics of the global model and of the trained model, and where they are."""

    objective: str
    reference: CommunityMetrics
    trained: CommunityMetrics
    reference_path: str
    model_path: str
    extra: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"objective": self.objective, "reference": self.reference.to_dict(),
                "trained": self.trained.to_dict(), "reference_path": self.reference_path,
                "model_path": self.model_path, "extra": self.extra}


def fingerprint(cfg: PairwiseConfig, data: TrainData) -> str:
    h = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    for name, recs in [("train", data.train), ("global", data.global_train), *sorted(data.eval.items())]:
        h.update(name.encode())
        for p in recs:
            h.update(f"{p.prompt}\x00{p.chosen}\x00{p.rejected}\x00{p.community}\x00".encode())
    return h.hexdigest()[:16]


def fit_stage(cfg: PairwiseConfig, data: TrainData, *, name: str, out: Path, workers: int, gpu: bool,
              cpus: float = 1) -> tuple[str, CommunityMetrics]:
    """Train under Ray Train, or reuse ``out`` if it holds the same config and data (resume)."""
    from raysearch.train.ray_train import fit_or_reuse

    fit_or_reuse(cfg, data, out=out, name=name, fingerprint=fingerprint(cfg, data), workers=workers, gpu=gpu,
                 cpus_per_worker=cpus)
    return str(out / MODEL_DIR), CommunityMetrics.from_dict(read_meta(out)["metrics"]["test"])


def _evaluate_given(path: str, pairs: list, cfg: PairwiseConfig) -> CommunityMetrics:
    """Test metrics of a given reward model, in this process (no Ray)."""
    import torch

    from raysearch.methods.pairwise.step import evaluate
    from raysearch.models.backbone import load_reward_model
    from raysearch.models.text import TokenCache

    model, tok = load_reward_model(path, seed=cfg.seed)
    return evaluate(model, TokenCache(tok, max_length=cfg.max_length), pairs, cfg, torch.device("cpu"), conditioned=False)


def run_experiment(
    cfg: PairwiseConfig, data: PreferenceData, *, out: Path, workers: int = 2, gpu: bool = False,
    reference: str | None = None, cpus: float = 1,
) -> ExperimentResult:
    """Train (or load) G, then the ``cfg.objective`` model; both evaluated on the test split."""
    out.mkdir(parents=True, exist_ok=True)
    evals = {"val": data.pairs.val, "test": data.pairs.test}
    if reference is not None:
        ref_path, ref_metrics = reference, _evaluate_given(reference, data.pairs.test, cfg)
    elif data.global_pairs is not None:
        g_cfg = replace(cfg, objective="bt", init_from=None, reference=None, condition_on_community=False)
        print(f"[raysearch.train] stage 1/2: global model G on {len(data.global_pairs.train)} global pairs", flush=True)
        ref_path, ref_metrics = fit_stage(g_cfg, TrainData(data.global_pairs.train, evals, source=data.source), name="global",
                                     out=out / "global", workers=workers, gpu=gpu, cpus=cpus)
    else:
        raise UserInputError(
            f"{data.kind} has no global preference to train G from; pass --reference PATH (a reward model folder)"
        )
    if cfg.objective == "scpo":
        m_cfg = replace(cfg, init_from=ref_path, reference=ref_path)
    else:
        m_cfg = replace(cfg, init_from=None, reference=None)
    print(f"[raysearch.train] stage 2/2: {cfg.objective.upper()} model on {len(data.pairs.train)} community pairs", flush=True)
    glob = data.global_pairs.train if data.global_pairs is not None else []
    model_path, metrics = fit_stage(m_cfg, TrainData(data.pairs.train, evals, global_train=glob, source=data.source), name=cfg.objective,
                               out=out / cfg.objective, workers=workers, gpu=gpu, cpus=cpus)
    flat = read_meta(Path(model_path).parent).get("flat", {})
    extra = {k: v for k, v in flat.items() if k.startswith(("scpo/", "train/"))}
    result = ExperimentResult(cfg.objective, ref_metrics, metrics, ref_path, model_path, extra)
    atomic_write_text(out / "results.json", json.dumps(result.to_dict(), indent=2))
    shutil.rmtree(out / "ray", ignore_errors=True)  # Ray's copies of the checkpoints, now in out/
    return result
