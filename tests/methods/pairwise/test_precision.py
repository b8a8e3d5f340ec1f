"""The training forward pass in bf16 autocast on CPU (``precision``), and fp32 by default."""

from __future__ import annotations

import pytest
import torch

from raysearch.errors import UserInputError
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import PairwiseSession


def _session(backbone: str, pairs, **kw) -> PairwiseSession:
    kw.setdefault("precision", "fp32")
    cfg = PairwiseConfig(objective="bt", backbone=backbone, epochs=1, batch_size=8, max_length=24, freeze_layers=0,
                         n_boot=20, seed=0, **kw).validate()
    return PairwiseSession(cfg, TrainData(train=pairs, eval={"val": pairs}), device=torch.device("cpu"),
                           resume_from=None, state=None)


def test_bf16_autocasts_the_training_forward_on_cpu(tiny_backbone, tiny_pairs):
    default = PairwiseConfig()
    assert (default.precision, default.dropout, default.length_buckets) == ("auto", False, 2)  # the pairwise defaults
    s = _session(tiny_backbone, tiny_pairs)
    s.model.eval()
    ids = list(range(10))
    with torch.no_grad():
        fp32 = s.forward(s.model, ids)
        s.cfg.precision = "bf16"
        bf16 = s.forward(s.model, ids)
        s.cfg.precision = "fp32"
        assert torch.equal(s.forward(s.model, ids), fp32)  # fp32 is deterministic: the difference is bf16's
    assert fp32.dtype == bf16.dtype == torch.float32
    assert not torch.equal(bf16, fp32)
    torch.testing.assert_close(bf16, fp32, atol=0.05, rtol=0.05)
    s.cfg.precision = "bf16"
    s.model.train()
    loss, _ = s.loss(s.model, list(range(8)), step=0)
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in s.model.parameters() if p.requires_grad)


def test_auto_precision_is_bf16_exactly_where_the_cpu_has_it(tiny_backbone, tiny_pairs):
    from raysearch.train.finetune import cpu_has_bf16

    s = _session(tiny_backbone, tiny_pairs, precision="auto")
    s.model.eval()
    ids = list(range(10))
    with torch.no_grad():
        auto = s.forward(s.model, ids)
        s.cfg.precision = "bf16" if cpu_has_bf16() else "fp32"
        assert torch.equal(s.forward(s.model, ids), auto)


def test_precision_is_checked():
    with pytest.raises(UserInputError, match="precision='fp16' is invalid; valid: fp32, bf16, auto"):
        PairwiseConfig(objective="bt", precision="fp16").validate()


def test_no_dropout_makes_the_training_forward_deterministic(tiny_backbone, tiny_pairs):
    ids = list(range(10))
    kept = _session(tiny_backbone, tiny_pairs, dropout=True)
    kept.model.train()
    assert not torch.equal(kept.forward(kept.model, ids), kept.forward(kept.model, ids))  # a new mask per pass
    off = _session(tiny_backbone, tiny_pairs)  # the pairwise default: dropout off
    assert off.cfg.dropout is False
    assert all(m.p == 0 for m in off.model.modules() if isinstance(m, torch.nn.Dropout))
    off.model.train()
    first = off.forward(off.model, ids)
    assert torch.equal(first, off.forward(off.model, ids))
    off.model.eval()
    torch.testing.assert_close(off.forward(off.model, ids), first)  # train mode without dropout = eval mode


def test_the_optimizer_is_fused_adamw_on_cpu(tiny_backbone, tiny_pairs):
    s = _session(tiny_backbone, tiny_pairs)
    s.setup_optimizer(len(tiny_pairs))
    assert isinstance(s.optimizer, torch.optim.AdamW) and s.optimizer.defaults["fused"]
    before = [p.detach().clone() for p in s.model.parameters() if p.requires_grad]
    loss, _ = s.loss(s.model, list(range(8)), step=0)
    loss.backward()
    s.optimizer.step()
    after = [p.detach() for p in s.model.parameters() if p.requires_grad]
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True) if a.numel() > 1)


def test_training_attention_on_cpu_takes_the_math_path():
    from raysearch.train.finetune import _attention_kernel

    q = torch.randn(2, 2, 8, 4, requires_grad=True)
    out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert "Flash" in type(out.grad_fn).__name__  # SDPA's own choice on CPU without dropout
    with _attention_kernel(torch.device("cpu")):
        out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert "Flash" not in type(out.grad_fn).__name__  # the math path: matmul, softmax, matmul


def test_length_buckets_give_the_same_rewards_loss_and_gradients(tiny_backbone, pairs_factory):
    pairs = pairs_factory(n_questions=12)
    one, two = _session(tiny_backbone, pairs, length_buckets=1), _session(tiny_backbone, pairs, length_buckets=3)
    ids = list(range(0, 40, 3))
    lengths = [one.cache.length(i) for i in range(40)]
    assert len(set(lengths)) > 1  # texts of several lengths: the buckets differ from one padded pass
    for s in (one, two):
        s.model.eval()
    torch.testing.assert_close(two.forward(two.model, ids), one.forward(one.model, ids), rtol=1e-5, atol=1e-5)
    grads = []
    for s in (one, two):
        s.model.zero_grad()
        loss, _ = s.loss(s.model, list(range(16)), step=0)
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in s.model.parameters() if p.requires_grad]))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
