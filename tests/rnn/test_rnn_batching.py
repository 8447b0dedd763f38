"""Padding, within-length reversal and packed reversal against manual per-sequence work."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_sequence

from vecsmith.rnn import (
    PAD,
    CharVocab,
    length_buckets,
    packed_reverse_index,
    pad_ids,
    reverse_within_length,
)

seqs_strategy = st.lists(st.lists(st.integers(2, 9), min_size=0, max_size=7), min_size=1,
                         max_size=6)


@given(seqs_strategy)
@settings(max_examples=60, deadline=None)
def test_pad_ids_roundtrip(seqs):
    batch = pad_ids(seqs)
    assert batch.ids.shape == (len(seqs), max(1, max(len(s) for s in seqs)))
    assert batch.lengths.tolist() == [len(s) for s in seqs]
    for row, s in zip(batch.ids.tolist(), seqs, strict=True):
        assert row[: len(s)] == s
        assert all(x == PAD for x in row[len(s):])


@given(seqs_strategy)
@settings(max_examples=60, deadline=None)
def test_reverse_within_length_matches_manual(seqs):
    batch = pad_ids(seqs)
    rev = reverse_within_length(batch.ids, batch.lengths)
    manual = pad_ids([list(reversed(s)) for s in seqs]).ids
    assert torch.equal(rev, manual)
    # 3-D (embedded) input reverses the same way and zeroes padding
    emb = torch.randn(*batch.ids.shape, 3) * (batch.ids != PAD).unsqueeze(-1)
    rev3 = reverse_within_length(emb, batch.lengths)
    for b, s in enumerate(seqs):
        n = len(s)
        assert torch.equal(rev3[b, :n], emb[b, :n].flip(0))
        assert not rev3[b, n:].any()


def test_flip_of_padded_batch_is_not_reverse():
    batch = pad_ids([[2, 3, 4], [5]])
    assert not torch.equal(batch.ids.flip(1), reverse_within_length(batch.ids, batch.lengths))


@given(st.lists(st.lists(st.integers(0, 99), min_size=1, max_size=8), min_size=1, max_size=7))
@settings(max_examples=60, deadline=None)
def test_packed_reverse_index(seqs):
    packed = pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    packed_rev = pack_sequence([torch.tensor(s[::-1]) for s in seqs], enforce_sorted=False)
    perm = packed_reverse_index(packed.batch_sizes)
    assert torch.equal(packed.data[perm], packed_rev.data)
    assert torch.equal(perm[perm], torch.arange(len(perm)))  # an involution


def test_pad_ids_validates_ids_and_handles_empty():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        pad_ids([[1, 2], [7]], vocab_size=5)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        pad_ids([[-1]], vocab_size=5)
    empty = pad_ids([])
    assert empty.ids.shape == (0, 1)
    allempty = pad_ids([[], []])
    assert allempty.ids.shape == (2, 1) and allempty.lengths.tolist() == [0, 0]


def test_select_trims_to_longest():
    batch = pad_ids([[2, 3, 4, 5], [2], [3, 3]])
    sub = batch.select([1, 2])
    assert sub.ids.shape == (2, 2)
    assert sub.lengths.tolist() == [1, 2]


def test_vocab_unk_and_json():
    vocab = CharVocab.build(["abca", "bd"])
    assert vocab.chars[0] == "a"  # most frequent first
    ids = vocab.encode("azé")
    assert ids[1] == ids[2] == 1  # unseen characters -> UNK
    assert vocab.decode(vocab.encode("abd")) == "abd"
    back = CharVocab.from_json(vocab.to_json())
    assert back.chars == vocab.chars
    with pytest.raises(ValueError, match="single characters"):
        CharVocab(["ab"])
    with pytest.raises(ValueError, match="duplicate character"):
        CharVocab(["a", "a"])
    with pytest.raises(TypeError, match="text 1 is int"):
        vocab.encode_batch(["a", 3])
    assert len(CharVocab.build(["aab"], min_count=2)) == 3


@given(st.lists(st.integers(0, 50), min_size=0, max_size=40), st.integers(1, 8),
       st.integers(1, 60))
@settings(max_examples=80, deadline=None)
def test_length_buckets_partition_and_bounds(lengths, batch_size, max_tokens):
    buckets = length_buckets(lengths, batch_size, max_tokens)
    flat = sorted(int(i) for b in buckets for i in b)
    assert flat == list(range(len(lengths)))
    for b in buckets:
        assert 1 <= len(b) <= batch_size
        width = max(1, max(lengths[i] for i in b))
        assert len(b) == 1 or len(b) * width <= max_tokens
