"""numba versions of the dictionary scans in `_kernels.py`, for dictionaries of millions of
entries."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def scan_entries(buf, start, size):
    """Find the NUL that ends each dictionary entry; status >= 0 names a truncated entry."""
    ends = np.empty(size, dtype=np.int64)
    pos = start
    n = buf.shape[0]
    for i in range(size):
        j = pos
        while j < n and buf[j] != 0:
            j += 1
        if j + 9 >= n:  # NUL, then int64 count and int8 type must fit
            return ends, i
        ends[i] = j
        pos = j + 10
    return ends, -1


@njit(cache=True, nogil=True)
def gather_bytes(buf, starts, lengths, total):
    """Copy each entry's bytes followed by a NUL separator into one blob."""
    out = np.empty(total + starts.shape[0], dtype=np.uint8)
    k = 0
    for i in range(starts.shape[0]):
        s = starts[i]
        for j in range(lengths[i]):
            out[k] = buf[s + j]
            k += 1
        out[k] = 0
        k += 1
    return out


@njit(cache=True, nogil=True)
def gather_i64(buf, positions):
    """Read little-endian int64 values at arbitrary (unaligned) byte positions."""
    out = np.empty(positions.shape[0], dtype=np.int64)
    for i in range(positions.shape[0]):
        p = positions[i]
        v = np.uint64(0)
        for b in range(8):
            v |= np.uint64(buf[p + b]) << np.uint64(8 * b)
        out[i] = np.int64(v)
    return out
