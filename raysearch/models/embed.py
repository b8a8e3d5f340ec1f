"""Frozen backbone embeddings h(text): mean-pooled last hidden states, computed once per distinct text.

NP-BTL (``raysearch.methods.npbtl``) works on cached features, never on tokens: every distinct
text is embedded once, in ``prepare``, and training gathers rows of the cached tensor. The
pooling is all-MiniLM-L6-v2's own (sentence-transformers): the attention-masked mean of the
last hidden states, then L2 normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from raysearch.models.backbone import load_tokenizer, resolve_backbone


@torch.no_grad()
def embed_texts(
    firsts: Sequence[str], seconds: Sequence[str] | None = None, *, backbone: str, max_length: int = 128,
    batch_size: int = 64,
) -> torch.Tensor:
    """``[N, D]`` float32 embeddings of ``N`` texts (or text pairs: ``firsts[i]``, ``seconds[i]``).

    A pair is encoded as the tokenizer's two segments (``[CLS] prompt [SEP] option [SEP]``) and
    truncated longest-first, so a long question is cut before a short answer option.
    ``backbone`` is a name or path (``resolve_backbone``); runs on CPU in eval mode.
    """
    import transformers
    from transformers import AutoModel

    transformers.logging.set_verbosity_error()
    path = resolve_backbone(backbone)
    tok = load_tokenizer(path)
    model = AutoModel.from_pretrained(path).eval()
    rows = []
    for s in range(0, len(firsts), batch_size):
        a = list(firsts[s : s + batch_size])
        b = list(seconds[s : s + batch_size]) if seconds is not None else None
        enc = tok(a, b, truncation="longest_first" if b is not None else True, max_length=max_length,
                  padding=True, return_tensors="pt")
        hidden = model(**enc).last_hidden_state  # [B, L, D]
        m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        rows.append(torch.nn.functional.normalize(pooled, dim=-1).float())
    if not rows:
        return torch.zeros((0, int(model.config.hidden_size)))
    return torch.cat(rows)
