"""Variable-length batches: pad id lists, reverse each sequence within its own length.

Callers hand the model lists of any lengths in any order; these helpers turn them into a
padded id tensor plus lengths, which the model packs (``enforce_sorted=False``) so outputs
come back in input order without the caller sorting anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from .vocab import PAD


@dataclass
class CharBatch:
    """Padded ids ``[B, T]`` (PAD after each sequence's end) and true lengths ``[B]`` (CPU int64).

    Lengths may be 0 (empty strings); the model reads those as one padding step.
    """

    ids: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to(self, device: str | torch.device) -> CharBatch:
        """Move ids to `device`; lengths stay on the CPU, where packing wants them."""
        return CharBatch(self.ids.to(device, non_blocking=True), self.lengths)

    def select(self, index: torch.Tensor | Sequence[int]) -> CharBatch:
        """Rows `index`, trimmed to their longest length (keeps minibatches tight)."""
        index = torch.as_tensor(index, dtype=torch.long)
        lengths = self.lengths[index]
        width = max(int(lengths.max()) if len(lengths) else 0, 1)
        return CharBatch(self.ids[index.to(self.ids.device), :width], lengths)


def pad_ids(seqs: Sequence[Sequence[int]], vocab_size: int | None = None) -> CharBatch:
    """Pad id sequences to a ``[B, max(1, longest)]`` tensor; validate ids when `vocab_size` is given."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    padded = np.full((len(seqs), width), PAD, dtype=np.int64)
    total = int(lengths.sum())
    if total:
        flat = np.fromiter(chain.from_iterable(seqs), dtype=np.int64, count=total)
        if vocab_size is not None and (flat.min() < 0 or flat.max() >= vocab_size):
            bad = int(flat[(flat < 0) | (flat >= vocab_size)][0])
            raise ValueError(f"id {bad} is outside the vocabulary [0, {vocab_size})")
        mask = np.arange(width)[None, :] < lengths[:, None]
        padded[mask] = flat
    return CharBatch(torch.from_numpy(padded), torch.from_numpy(lengths))


def reverse_within_length(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` entries in place of a whole-row flip.

    ``x.flip(1)`` on a padded batch would put the padding first; here row ``b`` becomes
    ``ids[b, len-1], ..., ids[b, 0], PAD, ...``. Works for ``[B, T]`` and ``[B, T, E]``.
    """
    bsz, width = ids.shape[0], ids.shape[1]
    t = torch.arange(width, device=ids.device).unsqueeze(0)
    lens = lengths.to(ids.device).unsqueeze(1)
    src = (lens - 1 - t).clamp(min=0)
    valid = t < lens
    if ids.dim() == 2:
        out = ids.gather(1, src)
        return out.masked_fill(~valid, PAD)
    idx = src.unsqueeze(-1).expand(bsz, width, ids.shape[2])
    out = ids.gather(1, idx)
    return out * valid.unsqueeze(-1).to(out.dtype)


def packed_reverse_index(batch_sizes: torch.Tensor) -> torch.Tensor:
    """Permutation of a PackedSequence's rows that reverses every sequence within its length.

    Row (sequence s, step t) moves to (s, len_s-1-t); the set of valid positions is the same,
    so the permutation stays inside ``packed.data`` and is its own inverse.
    """
    bs = batch_sizes.tolist()
    n_seq = bs[0] if bs else 0
    lengths = (batch_sizes.unsqueeze(0) > torch.arange(n_seq).unsqueeze(1)).sum(1)
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]]).astype(np.int64)
    offsets_t = torch.from_numpy(offsets)
    t_max = len(bs)
    steps = torch.arange(t_max).unsqueeze(0).expand(n_seq, t_max)
    seqs = torch.arange(n_seq).unsqueeze(1).expand(n_seq, t_max)
    valid = steps < lengths.unsqueeze(1)
    src_t = steps[valid]
    src_s = seqs[valid]
    dst_t = lengths[src_s] - 1 - src_t
    src_pos = offsets_t[src_t] + src_s
    dst_pos = offsets_t[dst_t] + src_s
    perm = torch.empty(int(batch_sizes.sum()), dtype=torch.long)
    perm[dst_pos] = src_pos
    return perm


def length_buckets(lengths: Sequence[int] | np.ndarray, batch_size: int,
                   max_tokens: int = 1 << 18) -> list[np.ndarray]:
    """Split indices into batches of similar length for inference.

    Sorting by length keeps padding small, and capping ``rows × longest`` at `max_tokens`
    bounds memory however long one input is (a very long text gets a batch of its own).
    The caller scatters results back by the returned indices, so its order never changes.
    """
    if batch_size < 1 or max_tokens < 1:
        raise ValueError("batch_size and max_tokens must be >= 1")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    buckets: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        end = start + 1
        while end < n and end - start < batch_size:
            width = max(int(lengths[order[end]]), 1)
            if (end - start + 1) * width > max_tokens:
                break
            end += 1
        buckets.append(order[start:end])
        start = end
    return buckets
