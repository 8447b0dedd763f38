"""Exact cosine neighbours at int8 bandwidth: a first pass with a proven error bound.

A store keeps each word row u (scaled to unit length) a second time as int8 codes c with one
scale s per row (u ≈ s·c) and a slack e ≥ ‖u − s·c‖ plus float rounding. For a unit query q,
Cauchy–Schwarz gives |q·u − s·(q·c)| ≤ e. The first pass reads one byte per value — half of
float16, a quarter of float32 — and every row that could still be among the k best
(approximate score + slack ≥ the k-th best exact cosine found so far) is then scored
exactly from the stored vectors. The answer is therefore the brute-force answer, not an
approximation; the bound only decides how few rows need the exact score.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vecsmith.neighbours import has_ties, rank

_BLOCK = 1 << 16

SEARCH_TENSORS = ("search_codes", "search_scales", "search_slack")


def rounding_slack(dim: int) -> float:
    """Bound on float32 rounding in a dim-term dot product of unit vectors, for the int8
    pass and the exact pass together (each ≤ dim·2⁻²⁴ by the standard bound)."""
    return 2.5 * dim * 2.0**-24


def search_codes(rows: np.ndarray, norms: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(int8 codes, float32 scales, float32 slack) for stored rows and their norms.

    A row holding inf or NaN (its norm is not finite) gets codes and scale 0: its first-pass
    score is 0, its exact score -inf (`Vectors` scores such rows so), so the bound holds and it
    is never a neighbour."""
    u = rows.astype(np.float32)
    bad = ~np.isfinite(norms)
    inv_norm = np.zeros(len(u), dtype=np.float32)
    np.divide(1.0, norms, out=inv_norm, where=(norms > 0) & ~bad)
    with np.errstate(invalid="ignore"):
        u *= inv_norm[:, None]
    u[bad] = 0.0
    scales = (np.abs(u).max(axis=1, initial=0.0) / 127).astype(np.float32)
    inv_scale = np.zeros_like(scales)
    np.divide(1.0, scales, out=inv_scale, where=scales > 0)
    codes = np.clip(np.rint(u * inv_scale[:, None]), -127, 127).astype(np.int8)
    resid = u - scales[:, None] * codes.astype(np.float32)
    slack = np.sqrt(np.einsum("ij,ij->i", resid, resid, dtype=np.float64)) * (1 + 1e-6)
    return codes, scales, (slack + rounding_slack(u.shape[1])).astype(np.float32)


def exact_top_k(approx: np.ndarray, slack: np.ndarray, exact: Callable[[np.ndarray], np.ndarray],
                k: int, ban: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and exact scores of the k best rows, best first (ties: `vecsmith.neighbours`).

    `approx` (modified: banned rows get -inf) is within `slack` of the exact score
    `exact(ids)` of every row; only rows that can reach the k-th best are scored exactly.
    """
    n = len(approx)
    if ban:
        approx[ban] = -np.inf
    pool = min(n, k + 64)
    cand = np.argpartition(approx, n - pool)[n - pool :]
    cand = np.sort(cand[np.isfinite(approx[cand])])
    scores = exact(cand)
    if len(cand) >= k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        reach = (approx >= kth - slack) & np.isfinite(approx)  # banned rows stay out, even
        reach[cand] = False                                     # when kth is -inf
        more = np.flatnonzero(reach)
    else:
        more = np.flatnonzero(np.isfinite(approx) & ~np.isin(np.arange(n), cand))
    if len(more):
        cand = np.concatenate([cand, more])
        scores = np.concatenate([scores, exact(more)])
    if has_ties(scores, k):
        # Equal scores: fastText's order depends on every row its heap saw, so score them all
        # (rare: it takes exact duplicates of a cosine near the top).
        full = np.concatenate([exact(np.arange(s, min(n, s + _BLOCK)))
                               for s in range(0, n, _BLOCK)]) if n else np.zeros(0, np.float32)
        full[~np.isfinite(approx)] = -np.inf  # banned rows (and rows never neighbours)
        return rank(full, k)
    order = np.argsort(cand, kind="stable")  # rank wants candidates in id order
    return rank(scores[order], k, ids=cand[order])
