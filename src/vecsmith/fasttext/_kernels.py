"""Byte scans of the dictionary block for `format.py`: numpy/Python for small dictionaries,
numba for large ones, so that opening a small model imports no compiler.

Both paths return the same arrays; the compiled ones are the originals, kept for dictionaries
of millions of entries where a Python loop would take seconds.
"""

from __future__ import annotations

import numpy as np

SMALL = 200_000  # entries (or bytes) below which the interpreted path is fast enough


def _jit():
    from vecsmith._deps import require

    require("numba", "reading large fastText dictionaries")
    from vecsmith.fasttext import _scan_jit

    return _scan_jit


def scan_entries(buf, start, size):
    """Find the NUL that ends each dictionary entry; status >= 0 names a truncated entry."""
    if size > SMALL:
        return _jit().scan_entries(buf, start, size)
    ends = np.empty(size, dtype=np.int64)
    n = buf.shape[0]
    raw = getattr(buf, "_mmap", None)
    find = raw.find if raw is not None and buf.offset == 0 and len(raw) == n else None
    pos = start
    for i in range(size):
        if find is not None:
            j = find(b"\0", pos)
            j = n if j < 0 else j
        else:
            j = _find_nul(buf, pos, n)
        if j + 9 >= n:  # NUL, then int64 count and int8 type must fit
            return ends, i
        ends[i] = j
        pos = j + 10
    return ends, -1


def _find_nul(buf, pos, n):
    """Position of the first NUL at or after pos (n when none), in growing windows."""
    w = 64
    while True:
        nz = np.flatnonzero(buf[pos : pos + w] == 0)
        if len(nz):
            return pos + int(nz[0])
        if pos + w >= n:
            return n
        w *= 4


def gather_bytes(buf, starts, lengths, total):
    """Copy each entry's bytes followed by a NUL separator into one blob."""
    if len(starts) > SMALL:
        return _jit().gather_bytes(buf, starts, lengths, total)
    out = np.empty(total + len(starts), dtype=np.uint8)
    k = 0
    for s, n in zip(starts.tolist(), lengths.tolist()):
        out[k : k + n] = buf[s : s + n]
        out[k + n] = 0
        k += n + 1
    return out


def gather_i64(buf, positions):
    """Read little-endian int64 values at arbitrary (unaligned) byte positions."""
    idx = np.asarray(positions, dtype=np.int64)[:, None] + np.arange(8)
    return np.array(buf[idx], dtype=np.uint8).view("<i8").reshape(-1).astype(np.int64)
