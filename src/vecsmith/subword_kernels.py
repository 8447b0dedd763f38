"""`vecsmith.subwords` compiled (numba) for large batches: hashing, the word table, n-grams,
bucket rows, and the row lists the batch lookups sum.

Each kernel reproduces a loop of the official C++ code with its arithmetic order, so it gives
the same bits as fastText and as the numpy path in `vecsmith.subwords` (tests/test_subwords).
Imported only through `vecsmith.subwords.compiled()`, on the first large batch: importing
numba costs about a second, which a single query should not pay.
"""

from __future__ import annotations

import numpy as np

from vecsmith._deps import require

require("numba", "compiled subword kernels")  # a clear message when the extra is missing

from numba import njit  # noqa: E402

from vecsmith._prefetch import prefetch  # noqa: E402
from vecsmith._rowsum import sum_rows_into  # noqa: E402, F401 - the batch row-sum kernel

FNV_OFFSET = np.uint32(2166136261)
FNV_PRIME = np.uint32(16777619)
BOW = np.uint8(ord("<"))
EOW = np.uint8(ord(">"))


@njit(cache=True, nogil=True, inline="always")
def fnv_step(h, byte):
    # fastText hashes through int8_t: bytes >= 0x80 are sign-extended before the XOR.
    b = np.uint32(byte)
    if byte >= 128:
        b |= np.uint32(0xFFFFFF00)
    # numba widens uint32 arithmetic to 64 bits: truncate to keep fastText's uint32 wrap-around.
    return np.uint32((np.uint64(h ^ b) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF))


@njit(cache=True, nogil=True)
def fnv_hash(data, start, end):
    h = FNV_OFFSET
    for i in range(start, end):
        h = fnv_step(h, data[i])
    return h


@njit(cache=True, nogil=True)
def hash_entries(blob, offsets):
    """FNV-1a (fastText flavour) of every entry; entry i is blob[offsets[i]:offsets[i+1]-1]."""
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint32)
    for i in range(n):
        out[i] = fnv_hash(blob, offsets[i], offsets[i + 1] - 1)
    return out


@njit(cache=True, nogil=True)
def _same(blob, a0, a1, q, b0, b1):
    if a1 - a0 != b1 - b0:
        return False
    for k in range(a1 - a0):
        if blob[a0 + k] != q[b0 + k]:
            return False
    return True


def build_table(blob, offsets, hashes):
    """fastText's word2int_: linear probing, ceil(size/0.7) slots, later duplicates win.

    Returns (ids, slot_hashes): int32 word id per slot (-1 = empty) and uint32 hash of the
    word in each slot (0 where empty). An unknown word probes ~6 slots at this load factor;
    comparing the slot's hash first rejects nearly all of them without reading the word's
    offsets and bytes elsewhere in memory (a cache miss per probe without it). Allocated by
    numpy, which asks Linux for 2 MB pages on large arrays: fewer TLB misses per probe.
    """
    tsize = max(1, int(np.ceil((offsets.shape[0] - 1) / 0.7)))
    ids = np.full(tsize, -1, dtype=np.int32)
    slot_hashes = np.zeros(tsize, dtype=np.uint32)
    _fill_table(ids, slot_hashes, blob, offsets, hashes)
    return ids, slot_hashes


@njit(cache=True, nogil=True)
def _fill_table(ids, slot_hashes, blob, offsets, hashes):
    tsize = ids.shape[0]
    for i in range(offsets.shape[0] - 1):
        slot = np.int64(hashes[i] % np.uint32(tsize))
        while ids[slot] != -1:
            w = ids[slot]
            if _same(blob, offsets[w], offsets[w + 1] - 1, blob, offsets[i], offsets[i + 1] - 1):
                break
            slot = (slot + 1) % tsize
        ids[slot] = i
        slot_hashes[slot] = hashes[i]


@njit(cache=True, nogil=True)
def slot_hashes_into(out, ids, blob, offsets):
    """The hash of each slot's word (0 where empty), for a table of `ids` kept without them
    (stores written before `word_table_hashes`). Ids must be valid."""
    for slot in range(ids.shape[0]):
        w = ids[slot]
        out[slot] = 0 if w < 0 else fnv_hash(blob, offsets[w], offsets[w + 1] - 1)


@njit(cache=True, nogil=True)
def find_id(blob, offsets, table, q, q0, q1, h):
    """Id of the word q[q0:q1] (hash h), or -1; `table` is (ids, slot_hashes) of
    `build_table`."""
    ids, slot_hashes = table
    tsize = ids.shape[0]
    slot = np.int64(h % np.uint32(tsize))
    while True:
        w = ids[slot]
        if w == -1:
            return -1
        if slot_hashes[slot] == h and _same(blob, offsets[w], offsets[w + 1] - 1, q, q0, q1):
            return np.int64(w)
        slot = (slot + 1) % tsize


SLOT_AHEAD = 4  # words hashed, and their table slot fetched, before they are looked up
HASH_RING = 8  # a power of two above SLOT_AHEAD: the hashes of the words in flight


@njit(cache=True, nogil=True, inline="always")
def hash_ahead(ring, k, q, qoffsets, table):
    """Hash query word k into `ring` and prefetch the table slot its probe starts at, so the
    lookup SLOT_AHEAD words later finds it in cache: an unknown word's probe is otherwise a
    cache and TLB miss that nothing else overlaps (measured 0.50 -> 0.37 us/word for hashing,
    probing and n-grams of OOV words on the 2M-word model). No-op past the last word."""
    if k < qoffsets.shape[0] - 1:
        h = fnv_hash(q, qoffsets[k], qoffsets[k + 1] - 1)
        ring[k & (HASH_RING - 1)] = h
        ids, slot_hashes = table
        if ids.shape[0]:
            slot = np.int64(h % np.uint32(ids.shape[0]))
            prefetch(ids, slot)
            prefetch(slot_hashes, slot)


@njit(cache=True, nogil=True)
def lookup_ids(blob, offsets, table, qblob, qoffsets):
    """Ids of many query words (qblob/qoffsets as for entries: NUL-separated)."""
    n = qoffsets.shape[0] - 1
    out = np.empty(n, dtype=np.int32)
    for i in range(n):
        s, e = qoffsets[i], qoffsets[i + 1] - 1
        out[i] = find_id(blob, offsets, table, qblob, s, e, fnv_hash(qblob, s, e))
    return out


@njit(cache=True, nogil=True)
def is_eos(q, s, e):
    # b"</s>" spelled out: numba cannot cache functions that read global arrays.
    return (e - s == 4 and q[s] == 60 and q[s + 1] == 47 and q[s + 2] == 115
            and q[s + 3] == 62)


@njit(cache=True, nogil=True)
def char_ngrams(q, s, e, minn, maxn, scratch, out_start, out_end, out_hash):
    """`computeSubwords("<" + word + ">")`: n-gram spans in the bracketed word and their hashes.

    The bracketed word is written to `scratch`; spans index into it. UTF-8 aware as fastText:
    an n-gram never starts on a continuation byte and takes all continuation bytes after its
    last character. Returns the number of n-grams.
    """
    length = e - s + 2
    scratch[0] = BOW
    for k in range(e - s):
        scratch[k + 1] = q[s + k]
    scratch[length - 1] = EOW
    count = 0
    for i in range(length):
        if (scratch[i] & 0xC0) == 0x80:
            continue
        h = FNV_OFFSET
        j = i
        n = 1
        while j < length and n <= maxn:
            h = fnv_step(h, scratch[j])
            j += 1
            while j < length and (scratch[j] & 0xC0) == 0x80:
                h = fnv_step(h, scratch[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == length)):
                out_start[count] = i
                out_end[count] = j
                out_hash[count] = h
                count += 1
            n += 1
    return count


@njit(cache=True, nogil=True)
def ngram_capacity(maxlen, maxn):
    """Room for every n-gram of a word of `maxlen` bytes (plus its own id)."""
    return (maxlen + 2) * max(1, min(maxn, maxlen + 2)) + 1


@njit(cache=True, nogil=True, inline="always")
def bucket_row(h, bucket, nwords, pruneidx_size, prune_keys, prune_values):
    """`pushHash(hash % bucket)`: the input row of an n-gram, or -1 when pruning dropped it."""
    if bucket <= 0 or pruneidx_size == 0:
        return -1
    b = np.int64(h % np.uint32(bucket))
    if pruneidx_size > 0:
        k = np.searchsorted(prune_keys, b)
        if k >= prune_keys.shape[0] or prune_keys[k] != b:
            return -1
        b = np.int64(prune_values[k])
    return nwords + b


@njit(cache=True, nogil=True)
def subword_rows(q, s, e, wid, minn, maxn, bucket, nwords, pruneidx_size, prune_keys,
                 prune_values, eos_ngrams, scratch, sp0, sp1, hs, rows):
    """`getSubwords(word)`: [word id if known] + n-gram rows (none for `</s>`, unless
    `eos_ngrams`: the pre-2017 tool gave `</s>` n-grams like any word)."""
    count = 0
    if wid >= 0:
        rows[count] = wid
        count += 1
    if eos_ngrams or not is_eos(q, s, e):
        n = char_ngrams(q, s, e, minn, maxn, scratch, sp0, sp1, hs)
        for k in range(n):
            r = bucket_row(hs[k], bucket, nwords, pruneidx_size, prune_keys, prune_values)
            if r >= 0:
                rows[count] = r
                count += 1
    return count


@njit(cache=True, nogil=True)
def query_buffers(qoffsets, maxn):
    """Scratch for a batch of queries: the bracketed word, n-gram spans and hashes, and two
    row lists (the word being summed and the word ahead, whose rows are prefetched)."""
    maxlen = 0
    for i in range(qoffsets.shape[0] - 1):
        maxlen = max(maxlen, qoffsets[i + 1] - 1 - qoffsets[i])
    cap = ngram_capacity(maxlen, maxn)
    return (np.empty(maxlen + 2, dtype=np.uint8), np.empty(cap, dtype=np.int64),
            np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.uint32),
            np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64))


@njit(cache=True, nogil=True)
def word_bucket_ids(q, qoffsets, minn, maxn, bucket, eos_ngrams):
    """Bucket ids (hash % bucket) of each word's character n-grams, concatenated, and (n+1)
    offsets: word i owns ids[offsets[i]:offsets[i+1]]. `</s>` has none unless `eos_ngrams`.

    The ids before any prune map: the store keeps the rows a word list reaches by them, and
    subword transfer trains a table indexed by them.
    """
    n = qoffsets.shape[0] - 1
    maxlen = 0
    total = 0
    for i in range(n):
        length = qoffsets[i + 1] - 1 - qoffsets[i]
        maxlen = max(maxlen, length)
        total += ngram_capacity(length, maxn)
    cap = ngram_capacity(maxlen, maxn)
    scratch = np.empty(maxlen + 2, dtype=np.uint8)
    sp0 = np.empty(cap, dtype=np.int64)
    sp1 = np.empty(cap, dtype=np.int64)
    hs = np.empty(cap, dtype=np.uint32)
    ids = np.empty(total, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for i in range(n):
        s, e = qoffsets[i], qoffsets[i + 1] - 1
        if bucket > 0 and (eos_ngrams or not is_eos(q, s, e)):
            c = char_ngrams(q, s, e, minn, maxn, scratch, sp0, sp1, hs)
            for j in range(c):
                ids[k] = np.int64(hs[j] % np.uint32(bucket))
                k += 1
        offsets[i + 1] = k
    return ids[:k].copy(), offsets
