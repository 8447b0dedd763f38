"""Nearest neighbours and analogies: the ranking rules, written once.

The fastText reader, the store and the stem index each score rows their own way (a matrix
product, an int8 first pass, a GPU, faiss); what counts as an answer is decided here:

- rows whose score is not finite (a vector holding inf or NaN) are never neighbours;
- the query words are excluded (by id);
- at most k rows, best first; rows with exactly equal scores come in the order the official
  fastText returns them. Its `getNN` keeps a bounded heap (`std::push_heap`/`pop_heap` with
  "greater score", then `sort_heap`), so equal scores come out in heap order, not by id;
  `heap_order` replays those steps (libstdc++'s algorithms) over the rows in id order. When
  no two candidate scores are equal the answer is simply by descending score, and that fast
  path is what nearly every query takes.

An analogy query is fastText's: a - b + c, each vector scaled by 1 / (its float32 norm + 1e-8).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["analogy_query", "float_norm", "has_ties", "heap_order", "rank"]

_BLOCK = 4096


def float_norm(v: np.ndarray) -> np.float32:
    """L2 norm in float32, as fastText's `Vector::norm`."""
    v = np.asarray(v, dtype=np.float32)
    return np.float32(np.sqrt(np.dot(v, v)))


def analogy_query(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """`getAnalogies`' query from the vectors of a, b, c: a - b + c, each unit-scaled."""
    a, b, c = vectors
    query = np.zeros(len(a), dtype=np.float32)
    for v, sign in ((a, 1.0), (b, -1.0), (c, 1.0)):
        query += np.asarray(v, dtype=np.float32) * np.float32(
            sign / (float(float_norm(v)) + 1e-8))
    return query


def _less(a: tuple, b: tuple) -> bool:
    """fastText's `comparePairs` (l.first > r.first): the heap's "less than"."""
    return a[0] > b[0]


def _push_heap(heap: list, hole: int, top: int, value: tuple) -> None:
    parent = (hole - 1) // 2
    while hole > top and _less(heap[parent], value):
        heap[hole] = heap[parent]
        hole = parent
        parent = (hole - 1) // 2
    heap[hole] = value


def _adjust_heap(heap: list, hole: int, length: int, value: tuple) -> None:
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if _less(heap[child], heap[child - 1]):
            child -= 1
        heap[hole] = heap[child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        heap[hole] = heap[child - 1]
        hole = child - 1
    _push_heap(heap, hole, top, value)


def _pop_heap(heap: list, last: int) -> None:
    """std::pop_heap over heap[:last + 1]: the front moves to heap[last]."""
    if last < 1:
        return
    value = heap[last]
    heap[last] = heap[0]
    _adjust_heap(heap, 0, last, value)


def heap_order(scores: np.ndarray, k: int, ids: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """fastText's `getNN` heap over rows in id order (finite scores only): ids and scores of
    the k it keeps, in the order its `sort_heap` leaves them. `ids` names the rows of
    `scores` (default 0..n-1, ascending)."""
    heap: list[tuple] = []
    n = len(scores)
    for start in range(0, n, _BLOCK):
        block = scores[start : start + _BLOCK]
        if len(heap) < k:
            cand = np.flatnonzero(np.isfinite(block))
        else:
            cand = np.flatnonzero(np.isfinite(block) & (block >= heap[0][0]))
        for j in cand.tolist():
            s = float(block[j])
            if len(heap) == k and s < heap[0][0]:
                continue
            heap.append((s, start + j))
            _push_heap(heap, len(heap) - 1, 0, heap[-1])
            if len(heap) > k:
                _pop_heap(heap, len(heap) - 1)
                heap.pop()
    for last in range(len(heap) - 1, 0, -1):  # std::sort_heap
        _pop_heap(heap, last)
    rows = np.array([i for _, i in heap], dtype=np.int64)
    out_ids = rows if ids is None else np.asarray(ids)[rows]
    return out_ids, np.asarray(scores)[rows]


def has_ties(scores: np.ndarray, k: int) -> bool:
    """Whether two of the k best finite scores, or the k-th and one below the cut, are equal:
    only then does the order of rows (fastText's heap) decide the answer."""
    s = np.asarray(scores, dtype=np.float32)
    s = s[np.isfinite(s)]
    k = min(int(k), len(s))
    if k <= 0:
        return False
    kth = np.partition(-s, k - 1)[k - 1]
    vals = s[s >= -kth]
    return len(np.unique(vals)) != len(vals)


def rank(scores: np.ndarray, k: int, ban: Iterable[int] = (),
         ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ids and scores of the k best rows, best first, by the rules above. `scores` is one
    float32 score per row (rows `ids`, ascending, when given; else 0..n-1); `ban` lists ids
    that may not be answers (the query words). Fewer than k come back when fewer rows
    qualify."""
    s = np.array(scores, dtype=np.float32)  # a copy: banned rows are overwritten
    if ids is not None:
        ids = np.asarray(ids, dtype=np.int64)
    ban = [int(i) for i in ban if int(i) >= 0]
    if ban:
        pos = np.asarray(ban) if ids is None else np.flatnonzero(np.isin(ids, ban))
        pos = pos[pos < len(s)]
        s[pos] = -np.inf
    finite = np.isfinite(s)
    k = min(int(k), int(finite.sum()))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    s[~finite] = -np.inf
    top = np.argpartition(-s, k - 1)[:k]
    kth = s[top].min()
    sel = np.flatnonzero(s >= kth)  # the k best and every row tied with the k-th
    vals = s[sel]
    if len(np.unique(vals)) == len(vals):  # no ties: descending score is fastText's order
        order = sel[np.argsort(-vals, kind="stable")][:k]
        return (order if ids is None else ids[order]), s[order]
    s[~finite] = np.nan  # heap_order skips non-finite rows, as they are never answers
    return heap_order(s, k, ids)
