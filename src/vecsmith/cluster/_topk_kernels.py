"""Compiled top-k scans over similarity tiles (numba); imported lazily by ``knn``."""

from __future__ import annotations

import numba


@numba.njit(inline="always")
def _push(bs, bi, row, k, v, j):
    """Insert (v, j) into row's list, kept sorted by similarity, best first."""
    p = k - 1
    while p > 0 and bs[row, p - 1] < v:
        bs[row, p] = bs[row, p - 1]
        bi[row, p] = bi[row, p - 1]
        p -= 1
    bs[row, p] = v
    bi[row, p] = j


@numba.njit(parallel=True, cache=True, nogil=True)
def scan_rows(tile, row0, col0, bs, bi, base=0):  # pragma: no cover - compiled
    """Offer tile[r, c] to row row0+r as neighbour col0+c (self skipped by index). The lists
    of row ``row`` live at ``bs[row - base]``, so a task can hold only its own rows'."""
    m, w = tile.shape
    k = bs.shape[1]
    for r in numba.prange(m):
        row = row0 + r
        minv = bs[row - base, k - 1]
        for c in range(w):
            v = tile[r, c]
            if v > minv and col0 + c != row:
                _push(bs, bi, row - base, k, v, col0 + c)
                minv = bs[row - base, k - 1]


@numba.njit(parallel=True, cache=True, nogil=True)
def scan_cols(tile, row0, col0, bs, bi, base=0):  # pragma: no cover - compiled
    """Offer tile[r, c] to row col0+c as neighbour row0+r: the transposed tile, read 16
    columns at a time so memory access stays contiguous."""
    m, w = tile.shape
    k = bs.shape[1]
    n_chunks = (w + 15) // 16
    for ch in numba.prange(n_chunks):
        c0 = ch * 16
        c1 = min(c0 + 16, w)
        for r in range(m):
            for c in range(c0, c1):
                v = tile[r, c]
                node = col0 + c
                if v > bs[node - base, k - 1] and row0 + r != node:
                    _push(bs, bi, node - base, k, v, row0 + r)
