"""Exact checks that a planted bug in the recurrent models fails (see benchmarks/mutants.py):
a caller's initial state `hx`, in every layer and direction, in the caller's batch order; the
semi-hard triplet boundary."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vecsmith.rnn import LayerNormGRU, triplet_loss


def _ln_gru_run(x, h, layer, sfx):
    """Textbook per-step LN-GRU over one unpadded sequence x [T, I] from state h [H]:
    every step's output [T, H]."""
    p = {n: getattr(layer, n + sfx) for n in
         ("weight_ih", "weight_hh", "ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")}
    H = layer.hidden_size
    out = []
    for t in range(x.shape[0]):
        gx = F.layer_norm(p["weight_ih"] @ x[t], [3 * H], p["ln_ih_weight"], p["ln_ih_bias"])
        gh = F.layer_norm(p["weight_hh"] @ h, [3 * H], p["ln_hh_weight"], p["ln_hh_bias"])
        r = torch.sigmoid(gx[:H] + gh[:H])
        z = torch.sigmoid(gx[H:2 * H] + gh[H:2 * H])
        n = torch.tanh(gx[2 * H:] + r * gh[2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return torch.stack(out)


def _reference(x, h0, layer):
    """One sequence through every layer and direction, one at a time: (outputs, finals)."""
    dirs = 2 if layer.bidirectional else 1
    finals = []
    for lay in range(layer.num_layers):
        outs = [_ln_gru_run(x, h0[lay * dirs], layer, f"_l{lay}")]
        if dirs == 2:
            outs.append(_ln_gru_run(x.flip(0), h0[lay * dirs + 1], layer,
                                    f"_l{lay}_reverse").flip(0))
        finals += [outs[0][-1]] + ([outs[1][0]] if dirs == 2 else [])
        x = torch.cat(outs, 1)
    return x, torch.stack(finals)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_layernorm_gru_takes_hx_per_layer_direction_and_caller_order(bidirectional,
                                                                      enforce_sorted):
    torch.manual_seed(5)
    layer = LayerNormGRU(3, 4, num_layers=2, bidirectional=bidirectional).double()
    with torch.no_grad():
        for name, prm in layer.named_parameters():
            if name.startswith("ln_"):
                prm.add_(torch.randn_like(prm) * 0.3)
    lengths = (5, 4, 3, 2, 1) if enforce_sorted else (1, 3, 2, 5, 4)
    seqs = [torch.randn(n, 3, dtype=torch.double) for n in lengths]
    dirs = 2 if bidirectional else 1
    hx = torch.randn(2 * dirs, len(seqs), 4, dtype=torch.double)  # a different state per row
    packed = nn.utils.rnn.pack_sequence(seqs, enforce_sorted=enforce_sorted)
    if not enforce_sorted:  # a permutation that is not its own inverse: order bugs show
        assert not torch.equal(packed.sorted_indices, packed.unsorted_indices)
    with torch.no_grad():
        out, h_n = layer(packed, hx)
        padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        _, zero_h = layer(packed)
    assert h_n.shape == (2 * dirs, len(seqs), 4)
    for b, x in enumerate(seqs):
        ref_out, ref_h = _reference(x, hx[:, b], layer)
        torch.testing.assert_close(h_n[:, b], ref_h, atol=1e-10, rtol=1e-9)
        torch.testing.assert_close(padded[b, :len(x)], ref_out, atol=1e-10, rtol=1e-9)
        _, ref_h0 = _reference(x, torch.zeros_like(hx[:, b]), layer)
        torch.testing.assert_close(zero_h[:, b], ref_h0, atol=1e-10, rtol=1e-9)
    assert not torch.allclose(h_n, zero_h)  # hx is not ignored


def test_semi_hard_negatives_are_strictly_farther_than_the_positive():
    """Four unit vectors where each anchor's positive and one negative are at exactly the same
    distance (1), the other negative at 2. Semi-hard mining takes only negatives strictly
    farther than the positive (as tfa's TripletSemiHardLoss): the one at 2, so every loss is
    max(0, 1 - 2 + 0.3) = 0. Taking the tied negative would give 0.3 each."""
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]], dtype=torch.double)
    labels = torch.tensor([0, 0, 1, 1])
    loss, active = triplet_loss(emb, labels, 0.3, "semi-hard")
    assert float(loss) == 0.0 and active == 0.0
    loss, active = triplet_loss(emb, labels, 1.5, "semi-hard")  # margin past the gap
    assert float(loss) == pytest.approx(0.5) and active == 1.0
