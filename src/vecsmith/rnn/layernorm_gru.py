"""Layer-normalised GRU (Ba, Kiros & Hinton 2016) over packed sequences, with nn.GRU's interface.

Per layer and direction::

    [r, z, n]_x = LN_x(W_x x_t)          # all time steps in one matrix product + one LN
    [r, z, n]_h = LN_h(W_h h_{t-1})
    r, z = sigmoid(.x + .h);  n = tanh(n_x + r * n_h);  h_t = (1 - z) * n + z * h_{t-1}

The input projection has no recurrence, so it runs once over the whole packed data (only the
real characters, no padding). The recurrence walks ``batch_sizes`` as cuDNN does: step t
updates only the sequences still running, so no work is spent on padding and no mask is
needed. The backward direction reuses the same scan on the packed data permuted so that each
sequence is reversed within its own length. ``script=True`` compiles the scan with TorchScript
(deprecated upstream); on CPU it measured no faster than the eager scan (see
benchmarks/bench_rnn.py), so eager is the default.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .batching import packed_reverse_index


def _ln_gru_scan_eager(gx: Tensor, batch_sizes: list[int], h0: Tensor, w_hh: Tensor,
                       ln_w: Tensor, ln_b: Tensor) -> tuple[Tensor, Tensor]:
    """Run the recurrence over packed, already-normalised input projections `gx` ``[N, 3H]``."""
    outputs: list[Tensor] = []
    h = h0
    offset = 0
    width = w_hh.shape[0]
    w_t = w_hh.t()
    for bs in batch_sizes:
        x_t = gx[offset:offset + bs]
        offset += bs
        h_t = h[:bs]
        gh = F.layer_norm(torch.mm(h_t, w_t), [width], ln_w, ln_b)
        xr, xz, xn = x_t.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h_new = n + z * (h_t - n)
        outputs.append(h_new)
        h = torch.cat([h_new, h[bs:]], 0) if bs < h.shape[0] else h_new
    return torch.cat(outputs, 0), h


_SCRIPTED = None


def _scan_fn(use_script: bool):
    """The TorchScript-compiled scan when available (compiled once), else the eager one."""
    global _SCRIPTED
    if not use_script:
        return _ln_gru_scan_eager
    if _SCRIPTED is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _SCRIPTED = torch.jit.script(_ln_gru_scan_eager)
        except Exception:  # TorchScript missing or broken in this build: stay eager
            _SCRIPTED = _ln_gru_scan_eager
    return _SCRIPTED


class LayerNormGRU(nn.Module):
    """Drop-in for ``nn.GRU(batch_first=True)`` on PackedSequence input, with layer norm.

    ``forward(packed, hx=None) -> (packed_output, h_n)``; ``h_n`` is
    ``[num_layers * num_directions, B, H]`` in the caller's batch order, as nn.GRU returns it.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, script: bool = False):
        super().__init__()
        if hidden_size < 1 or num_layers < 1:
            raise ValueError("hidden_size and num_layers must be >= 1")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = float(dropout)
        self.script = script
        dirs = 2 if bidirectional else 1
        h3 = 3 * hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.empty(h3, in_size)))
                self.register_parameter("weight_hh" + sfx,
                                        nn.Parameter(torch.empty(h3, hidden_size)))
                self.register_parameter("ln_ih_weight" + sfx, nn.Parameter(torch.ones(h3)))
                self.register_parameter("ln_ih_bias" + sfx, nn.Parameter(torch.zeros(h3)))
                self.register_parameter("ln_hh_weight" + sfx, nn.Parameter(torch.ones(h3)))
                self.register_parameter("ln_hh_bias" + sfx, nn.Parameter(torch.zeros(h3)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            if name.startswith("weight_"):
                nn.init.uniform_(p, -bound, bound)
            elif name.startswith("ln_") and "_weight" in name:
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def _direction(self, x: Tensor, batch_sizes: list[int], h0: Tensor, sfx: str
                   ) -> tuple[Tensor, Tensor]:
        h3 = 3 * self.hidden_size
        w_ih = getattr(self, "weight_ih" + sfx)
        gx = F.layer_norm(F.linear(x, w_ih), [h3], getattr(self, "ln_ih_weight" + sfx),
                          getattr(self, "ln_ih_bias" + sfx))
        scan = _scan_fn(self.script)
        return scan(gx, batch_sizes, h0, getattr(self, "weight_hh" + sfx),
                    getattr(self, "ln_hh_weight" + sfx), getattr(self, "ln_hh_bias" + sfx))

    def forward(self, packed: PackedSequence, hx: Tensor | None = None
                ) -> tuple[PackedSequence, Tensor]:
        if not isinstance(packed, PackedSequence):
            raise TypeError("LayerNormGRU takes a PackedSequence (see pack_padded_sequence)")
        data, batch_sizes_t = packed.data, packed.batch_sizes
        batch_sizes = batch_sizes_t.tolist()
        n_seq = batch_sizes[0]
        dirs = 2 if self.bidirectional else 1
        if hx is None:
            hx = data.new_zeros(self.num_layers * dirs, n_seq, self.hidden_size)
        elif packed.sorted_indices is not None:
            hx = hx.index_select(1, packed.sorted_indices)
        perm = packed_reverse_index(batch_sizes_t).to(data.device) if self.bidirectional else None
        finals: list[Tensor] = []
        x = data
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, training=True)
            out_f, h_f = self._direction(x, batch_sizes, hx[layer * dirs], f"_l{layer}")
            finals.append(h_f)
            if self.bidirectional:
                out_b, h_b = self._direction(x[perm], batch_sizes, hx[layer * dirs + 1],
                                             f"_l{layer}_reverse")
                finals.append(h_b)
                x = torch.cat([out_f, out_b[perm]], 1)
            else:
                x = out_f
        h_n = torch.stack(finals, 0)
        if packed.unsorted_indices is not None:
            h_n = h_n.index_select(1, packed.unsorted_indices)
        out = PackedSequence(x, batch_sizes_t, packed.sorted_indices, packed.unsorted_indices)
        return out, h_n

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, dropout={self.dropout}")
