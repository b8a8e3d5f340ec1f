import pytest
import torch

from raysearch.data.goqa import GLOBAL_COMMUNITY
from raysearch.methods.pairwise.config import PairwiseConfig
from raysearch.methods.pairwise.data import select_pairs


def test_bt_keeps_everything(tiny_pairs):
    sel = select_pairs(PairwiseConfig(objective="bt"), tiny_pairs, [], None)
    assert sel.pairs == tiny_pairs and torch.equal(sel.weights, torch.ones(len(tiny_pairs)))


def test_scpo_filters_with_margins(tiny_pairs):
    margins = torch.linspace(-3, 3, len(tiny_pairs))
    sel = select_pairs(PairwiseConfig(objective="scpo", tau=0.5, beta=1.0), tiny_pairs, [], margins)
    kept = [p for p, m in zip(tiny_pairs, margins, strict=True) if torch.sigmoid(m) < 0.5]
    assert sel.pairs == kept
    assert sel.weights.tolist() == pytest.approx(torch.exp(margins[margins < 0]).tolist())
    assert sel.info["scpo/n_kept"] == len(kept)
    replay = select_pairs(PairwiseConfig(objective="scpo", tau=0.5, beta=1.0), tiny_pairs, [], None, state=sel.state)
    assert replay.pairs == sel.pairs


def test_global_share_mixes_in_global_pairs(pairs_factory):
    comm = pairs_factory(10)
    glob = [p for p in pairs_factory(30, ("A",))]
    sel = select_pairs(PairwiseConfig(objective="bt", global_share=0.2, seed=4), comm, glob, None)
    n_global = sum(p.community == GLOBAL_COMMUNITY for p in sel.pairs)
    assert n_global == round(0.25 * len(comm)) == sel.info["train/n_global_pairs"]
    assert len(sel.weights) == len(sel.pairs)
    again = select_pairs(PairwiseConfig(objective="bt", global_share=0.2, seed=4), comm, glob, None)
    assert again.pairs == sel.pairs
