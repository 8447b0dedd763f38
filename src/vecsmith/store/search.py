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
                k: int, ban: list[int], best: np.ndarray | None = None,
                reaching: Callable[[float], np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Ids and exact scores of the k best rows, best first (ties: `vecsmith.neighbours`).

    `approx` (modified: banned rows get -inf) is within `slack` of the exact score
    `exact(ids)` of every row; only rows that can reach the k-th best are scored exactly.
    A compiled caller passes what it found while scanning: `best`, ids of at least
    min(n, `pool_size(k, ban)`) rows of highest `approx` (banned rows may be among them), and
    `reaching(t)`, the ids (ascending) of finite rows with approx ≥ t − slack; numpy finds
    both otherwise.
    """
    n = len(approx)
    if ban:
        approx[ban] = -np.inf
    if best is None:
        pool = min(n, k + 64)
        best = np.argpartition(approx, n - pool)[n - pool :]
    cand = np.sort(best[np.isfinite(approx[best])])
    scores = exact(cand)
    if len(cand) >= k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        if reaching is None:
            reach = (approx >= kth - slack) & np.isfinite(approx)  # banned rows stay out,
            more = np.flatnonzero(reach)                           # even when kth is -inf
        else:
            more = reaching(kth)
        more = more[~np.isin(more, cand, assume_unique=True)]
    else:
        more = np.flatnonzero(np.isfinite(approx) & ~np.isin(np.arange(n), cand))
    if len(more):
        cand = np.concatenate([cand, more])
        scores = np.concatenate([scores, exact(more)])
    if has_ties(scores, k):
        # Equal scores: fastText's order depends on every row its heap ever held, so score
        # every row that could have entered it (`heap_rows`), not all n (seconds on 2M rows).
        cand = heap_rows(approx, slack, k)
        scores = exact(cand)
    order = np.argsort(cand, kind="stable")  # rank wants candidates in id order
    return rank(scores[order], k, ids=cand[order])


def pool_size(k: int, ban: list[int]) -> int:
    """How many rows of highest first-pass score seed `exact_top_k` (banned rows included)."""
    return k + 64 + len(ban)


def heap_rows(approx: np.ndarray, slack: np.ndarray, k: int) -> np.ndarray:
    """Ids (ascending) of every row fastText's `getNN` heap could push, given first-pass
    scores within `slack` of the exact ones; rows with -inf `approx` are never pushed.

    The heap, fed rows in id order, pushes row i when fewer than k rows came before it or
    its score is ≥ the k-th best score of rows 0..i-1 (`vecsmith.neighbours.heap_order`).
    That k-th best only grows with i and is ≥ the k-th best lower bound (approx − slack), so
    over blocks [b, 2b) the k-th best lower bound of rows < b is a threshold no pushed row
    falls below. Replaying the heap over this superset gives the order of the full replay
    (rows it adds are below the heap's minimum there too), and it holds about k·log(n/k)
    rows in a few blocks, not n.
    """
    n = len(approx)
    with np.errstate(invalid="ignore"):
        lo = approx.astype(np.float64) - slack
        hi = approx.astype(np.float64) + slack
    finite = np.isfinite(approx)
    lo[~finite] = -np.inf
    top = np.full(k, -np.inf)  # the k best lower bounds so far (-inf: fewer than k rows)
    out = []
    start, stop = 0, min(n, 2 * k)
    while start < n:
        threshold = top.min()
        out.append(start + np.flatnonzero(finite[start:stop] & (hi[start:stop] >= threshold)))
        both = np.concatenate([top, lo[start:stop]])
        top = np.partition(both, len(both) - k)[len(both) - k :]
        start, stop = stop, min(n, 2 * stop)
    return np.concatenate(out) if out else np.zeros(0, np.int64)
