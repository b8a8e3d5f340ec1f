"""Scoring each distinct text once: the training loss and its gradients, grouped batches, evaluation."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import torch

from raysearch.data.records import PairRecord
from raysearch.methods.pairwise import step
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import TrainData
from raysearch.methods.pairwise.step import PairwiseSession, evaluate
from raysearch.models.scoring import RewardModel, distinct, pair_text_ids, score_ids

CPU = torch.device("cpu")


def option_pairs(n_questions: int = 4, communities: tuple[str, ...] = ("A", "B"), n_options: int = 3) -> list[PairRecord]:
    """Every pair of options of each question, per community (as GlobalOpinionQA's pairs): each option
    text appears in ``n_options - 1`` pairs of its question."""
    out = []
    for q in range(n_questions):
        prompt = f"question {q}: how much does topic {q} matter?"
        opts = [f"option {k} of {q}" for k in range(n_options)]
        for c in communities:
            ranked = opts if c == "A" else opts[::-1]
            out += [PairRecord(prompt=prompt, chosen=a, rejected=b, community=c, group=prompt)
                    for a, b in combinations(ranked, 2)]
    return out


def _cfg(backbone: str, **kw) -> PairwiseConfig:
    base = dict(objective="bt", backbone=backbone, epochs=1, batch_size=8, eval_batch_size=5, max_length=24,
                lr=5e-3, freeze_layers=0, n_boot=20, log_every=100, seed=2)
    return PairwiseConfig(**{**base, **kw}).validate()


def _session(backbone: str, pairs: list[PairRecord], **kw) -> PairwiseSession:
    data = TrainData(train=pairs, eval={"val": pairs}, margins=torch.linspace(-2.0, 1.0, len(pairs)))
    s = PairwiseSession(_cfg(backbone, **kw), data, device=CPU, resume_from=None, state=None)
    with torch.no_grad():  # the tiny model scores texts within ~0.01 of each other: spread the rewards
        g = torch.Generator().manual_seed(0)
        for p in s.model.classifier.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 100)
    return s


def _loss_and_grads(s: PairwiseSession, batch: list[int], *, dedup: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    s.cfg.dedup = dedup
    s.model.zero_grad(set_to_none=True)
    loss, n = s.loss(s.model, batch, step=3)
    assert n == len(batch)
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in s.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("objective", ["bt", "scpo"])
def test_dedup_gives_the_per_pair_loss_and_gradients(tiny_backbone, objective):
    # SCPO with margins: per-pair weights w = min(exp(Δ/β), 1), weight normalization and the community schedule
    kw = dict(objective="scpo", tau=1.0, beta=0.7, normalize="weights", gamma_start=1.0, gamma_end=0.0,
              shape="linear") if objective == "scpo" else {}
    s = _session(tiny_backbone, option_pairs(), **kw)
    # no dropout, so both paths compute the same function of the weights; float64, because this tiny
    # model scores every text nearly alike, so the gradient is a sum of nearly cancelling terms
    s.model.eval().double()
    batch = list(range(0, len(s.pairs), 2)) + [1, 3, 0]  # repeated texts, and a pair given twice
    on, g_on = _loss_and_grads(s, batch, dedup=True)
    off, g_off = _loss_and_grads(s, batch, dedup=False)
    torch.testing.assert_close(on, off)
    assert g_on.keys() == g_off.keys() and any("encoder" in k for k in g_on)
    torch.testing.assert_close(g_on, g_off)
    # a different batch gives a different loss, so the comparison is not vacuous
    other, _ = _loss_and_grads(s, list(range(1, len(s.pairs), 2)), dedup=True)
    assert abs(on - other) > 1e-6  # far above float64 precision (assert_close allows 1e-7 of 0.69)


def test_dedup_encodes_each_distinct_text_of_a_batch_once(tiny_backbone):
    s = _session(tiny_backbone, option_pairs())
    seen: list[list[int]] = []
    forward = s.forward
    s.forward = lambda model, ids: seen.append(list(ids)) or forward(model, ids)  # type: ignore[method-assign]
    batch = list(range(6))  # question 0: 3 pairs of community A and 3 of B over 3 options each
    for dedup in (True, False):
        s.cfg.dedup = dedup
        s.loss(s.model, batch, step=0)
    ids = [s.c_ids[i] for i in batch] + [s.r_ids[i] for i in batch]
    assert seen[0] == list(dict.fromkeys(ids)) and len(seen[0]) == 6  # 2 communities x 3 options
    assert seen[1] == ids and len(seen[1]) == 12


def test_distinct_maps_back():
    texts, where = distinct([5, 3, 5, 9, 3, 3])
    assert texts == [5, 3, 9] and where.tolist() == [0, 1, 0, 2, 1, 1]
    empty, none = distinct([])
    assert empty == [] and none.shape == (0,) and none.dtype == torch.long


def _runs(order: list[int], members: set[int]) -> int:
    """How many contiguous runs the indices ``members`` form in ``order``."""
    pos = sorted(order.index(i) for i in members)
    return 1 + sum(b != a + 1 for a, b in zip(pos, pos[1:], strict=False))


def test_grouped_batches_cover_each_pair_once_keep_groups_together_and_are_deterministic(tiny_backbone):
    pairs = option_pairs(n_questions=4)  # 8 groups of 3 pairs, 24 pairs = 4 batches of 6
    s = _session(tiny_backbone, pairs, group_by_prompt=True, batch_size=6)
    again = _session(tiny_backbone, pairs, group_by_prompt=True, batch_size=6)
    assert sorted(map(sorted, s.groups)) == [list(range(k, k + 3)) for k in range(0, 24, 3)]
    orders = []
    for epoch in range(3):
        batches = s.epoch_batches(epoch)
        assert batches == again.epoch_batches(epoch) and list(s.batches(epoch)) == batches
        assert [len(b) for b in batches] == [6, 6, 6, 6]
        order = [i for b in batches for i in b]
        assert sorted(order) == list(range(24))  # every pair exactly once
        assert all(_runs(order, set(g)) == 1 for g in s.groups)  # a group's pairs are adjacent
        orders.append(order)
    assert orders[0] != orders[1] != orders[2]  # reshuffled every epoch
    plain = _session(tiny_backbone, pairs, batch_size=6)
    assert plain.groups is None
    assert any(_runs([i for b in plain.epoch_batches(0) for i in b], set(g)) > 1 for g in s.groups)
    # grouping puts the repeated texts in the same step: far fewer encodes per epoch
    sides, grouped = s.texts_per_epoch(0)
    assert sides == 48 and grouped == 8 * 3  # each (community, question) has 3 distinct options
    assert plain.texts_per_epoch(0)[1] > grouped


def test_grouped_batches_pad_like_plain_ones_and_ranks_keep_groups(tiny_backbone):
    pairs = option_pairs(n_questions=3, n_options=4)  # 6 groups of 6 pairs, 36 pairs: 5 steps of 8, 4 padded
    s = _session(tiny_backbone, pairs, group_by_prompt=True)
    order = [i for b in s.epoch_batches(1) for i in b]
    assert len(order) == 40 and set(order) == set(range(36)) and order[36:] == order[:4]
    s.size = 2  # two ranks: each takes as many pairs as with plain batches, as one contiguous slice
    for batch in s.epoch_batches(1):
        r0, r1 = s.share(batch, 0), s.share(batch, 1)
        assert r0 + r1 == batch and len(r0) == len(batch[0::2]) and len(r1) == len(batch[1::2])
    plain = _session(tiny_backbone, pairs)
    plain.size = 2
    b = plain.epoch_batches(1)[0]
    assert plain.share(b, 1) == b[1::2]


def test_plain_batches_are_the_seeded_permutation(tiny_backbone, tiny_pairs):
    # group_by_prompt off keeps the batches of earlier versions bit for bit
    s = _session(tiny_backbone, tiny_pairs)
    perm = torch.randperm(len(tiny_pairs), generator=torch.Generator().manual_seed(2 * 7919 + 1)).tolist()
    perm += perm[: -len(perm) % 8]
    assert list(s.batches(1)) == [perm[k : k + 8] for k in range(0, len(perm), 8)]


def test_evaluation_scores_each_distinct_text_once_with_the_same_result(tiny_backbone, monkeypatch):
    pairs = option_pairs(n_questions=5, n_options=4)
    s = _session(tiny_backbone, pairs)
    scored: list[int] = []

    def counting(model, cache, ids, **kw):
        scored.append(len(ids))
        return score_ids(model, cache, ids, **kw)

    monkeypatch.setattr(step, "score_ids", counting)
    c_ids, r_ids = pair_text_ids(s.cache, pairs, conditioned=True)
    on = step._score_pairs_sharded(s.model, s.cache, c_ids, r_ids, batch_size=7, device=CPU, dedup=True)
    off = step._score_pairs_sharded(s.model, s.cache, c_ids, r_ids, batch_size=7, device=CPU, dedup=False)
    assert scored == [len(set(c_ids) | set(r_ids)), 2 * len(pairs)] and scored[0] * 3 == scored[1]
    np.testing.assert_allclose(on[0], off[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on[1], off[1], rtol=1e-5, atol=1e-6)
    assert np.abs(on[0] - on[1]).min() > 1e-4  # no near-ties, so correctness must agree exactly
    m_on = evaluate(s.model, s.cache, pairs, s.cfg, CPU, conditioned=True)
    s.cfg.dedup = False
    m_off = evaluate(s.model, s.cache, pairs, s.cfg, CPU, conditioned=True)
    assert m_on.to_dict() == m_off.to_dict()


def test_reward_model_pair_correct_scores_each_text_once(tiny_backbone, monkeypatch):
    from raysearch.models import scoring
    from raysearch.models.backbone import load_reward_model

    model, tok = load_reward_model(tiny_backbone, seed=5)
    rm = RewardModel(model, tok, max_length=24)
    pairs = option_pairs(n_questions=4, n_options=4)
    c_ids, r_ids = pair_text_ids(rm.cache, pairs, conditioned=True)
    r = score_ids(rm.model, rm.cache, c_ids + r_ids, batch_size=128, device=CPU)
    expected = r[: len(pairs)] > r[len(pairs) :]
    assert 0 < expected.sum() < len(pairs)
    scored: list[int] = []
    monkeypatch.setattr(scoring, "score_ids", lambda m, c, ids, **kw: scored.append(len(ids)) or score_ids(m, c, ids, **kw))
    np.testing.assert_array_equal(rm.pair_correct(pairs, conditioned=True), expected)
    assert scored == [len(set(c_ids) | set(r_ids))] == [32]

