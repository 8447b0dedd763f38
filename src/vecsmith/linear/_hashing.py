"""numba hashing kernels: murmur3_x86_32 (VW's feature hash) and a 64-bit key mixer."""

from __future__ import annotations

try:
    import numba as nb
except ImportError as exc:  # numba is in the 'linear' extra
    from ._lazy import missing

    raise missing(exc, "vecsmith.linear's compiled kernels") from exc
import numpy as np


@nb.njit(cache=True, inline="always")
def _rotl(x, r):
    return ((x << np.uint32(r)) | (x >> np.uint32(32 - r))) & np.uint32(0xFFFFFFFF)


@nb.njit(cache=True, inline="always")
def _mix_block(h, k):
    """One murmur3 block or tail step: scramble k, fold it into h."""
    k = np.uint32(k * np.uint32(0xCC9E2D51))
    k = _rotl(k, 15)
    k = np.uint32(k * np.uint32(0x1B873593))
    return np.uint32(h ^ k)


@nb.njit(cache=True)
def murmur3_32(buf, start, end, seed):
    """murmur3_x86_32 of ``buf[start:end]`` (uint8) with `seed`; returns a uint32."""
    h = np.uint32(seed)
    n = end - start
    nblocks = n // 4
    for i in range(nblocks):
        p = start + 4 * i
        k = (np.uint32(buf[p]) | (np.uint32(buf[p + 1]) << np.uint32(8))
             | (np.uint32(buf[p + 2]) << np.uint32(16)) | (np.uint32(buf[p + 3]) << np.uint32(24)))
        h = _mix_block(h, k)
        h = _rotl(h, 13)
        h = np.uint32(h * np.uint32(5) + np.uint32(0xE6546B64))
    tail = start + 4 * nblocks
    k = np.uint32(0)
    rem = n & 3
    if rem == 3:
        k = np.uint32(k ^ (np.uint32(buf[tail + 2]) << np.uint32(16)))
    if rem >= 2:
        k = np.uint32(k ^ (np.uint32(buf[tail + 1]) << np.uint32(8)))
    if rem >= 1:
        k = np.uint32(k ^ np.uint32(buf[tail]))
        h = _mix_block(h, k)
    h = np.uint32(h ^ np.uint32(n))
    h = np.uint32(h ^ (h >> np.uint32(16)))
    h = np.uint32(h * np.uint32(0x85EBCA6B))
    h = np.uint32(h ^ (h >> np.uint32(13)))
    h = np.uint32(h * np.uint32(0xC2B2AE35))
    h = np.uint32(h ^ (h >> np.uint32(16)))
    return h


@nb.njit(cache=True, inline="always")
def mix64(a, b):
    """Combine two uint64 keys into one (for cross features in lookup mode)."""
    x = (a * np.uint64(0x9E3779B97F4A7C15)) ^ b
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return x
