"""Equal scores near the k-th best (store/search.py): fastText's heap order decides them.

The order depends on every row the heap ever held, not on all n rows: the search scores the
rows that could have entered the heap (`heap_rows`). The old fallback scored every row, which
took seconds on 2M words for ~1% of k=100 queries (float32 cosines that happen to be equal).
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from vecsmith import store
from vecsmith.neighbours import has_ties, rank
from vecsmith.store.search import exact_top_k


def _tied_case(seed: int, n: int):
    # scores on a coarse grid: many exact ties everywhere, the k-th included; approx within
    # slack (random per row) of the exact score, as the int8 pass guarantees
    rng = np.random.default_rng(seed)
    exact = (np.round(rng.standard_normal(n) * 40) / 1000).astype(np.float32)
    slack = rng.uniform(0.001, 0.01, n).astype(np.float32)
    approx = (exact + slack * rng.uniform(-0.99, 0.99, n)).astype(np.float32)
    return exact, approx, slack


@pytest.mark.parametrize("seed,k,nban", [(0, 100, 0), (1, 10, 3), (2, 5, 0), (3, 37, 5)])
def test_ties_take_the_heap_order_without_scoring_every_row(seed, k, nban):
    n = 60_000
    exact, approx, slack = _tied_case(seed, n)
    ban = np.random.default_rng(seed).choice(n, nban, replace=False).tolist()
    full = exact.copy()
    full[ban] = -np.inf
    want_ids, want_scores = rank(full, k)  # brute force over every row, fastText's heap order
    assert has_ties(full, k)
    scored = []

    def score(ids):
        assert np.all(np.diff(ids) > 0)
        scored.append(len(ids))
        return exact[ids]

    ids, scores = exact_top_k(approx.copy(), slack, score, k, ban)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)
    assert sum(scored) < n // 4  # the old fallback scored all n rows


def test_heap_rows_hold_every_row_the_heap_pushes():
    # replay fastText's push rule over all rows: each pushed row must be in heap_rows
    exact, approx, slack = _tied_case(4, 20_000)
    approx[[5, 700, 19_999]] = -np.inf  # banned rows are never pushed
    exact[[5, 700, 19_999]] = -np.inf
    k = 50
    from vecsmith.store.search import heap_rows

    rows = set(heap_rows(approx, slack, k).tolist())
    heap: list[float] = []
    for i, s in enumerate(exact.tolist()):
        if not np.isfinite(s):
            assert i not in rows
            continue
        if len(heap) < k or s >= heap[0]:
            assert i in rows, i
            heapq.heappush(heap, s)
            if len(heap) > k:
                heapq.heappop(heap)
    assert len(rows) < 20_000 // 4


@pytest.mark.parametrize("compiled", [False, True])
def test_store_search_with_duplicate_rows_matches_brute_force(tmp_path, monkeypatch, compiled):
    # exact duplicates give equal cosines at the top; the answer must be the brute-force one.
    # The duplicated rows have two nonzero values, so their dot products round the same in
    # any summation order (a batched product can otherwise move a dense row by an ulp).
    rng = np.random.default_rng(11)
    base = np.zeros((30, 48), dtype=np.float32)
    for b in base:
        b[rng.choice(8, 2, replace=False)] = rng.standard_normal(2)
    mat = rng.standard_normal((20_000, 48)).astype(np.float32)
    where = rng.choice(len(mat), 600, replace=False)
    mat[where] = base[rng.integers(0, 30, 600)]
    words = [f"w{i}" for i in range(len(mat))]
    path = tmp_path / "dup.store"
    store.convert_vectors(words, mat, path, dtype="float32")
    v = store.open(path)
    # the numpy pass, or the compiled scan that picks candidates chunk by chunk (20k rows:
    # several chunks, as on 2M words)
    monkeypatch.setattr("vecsmith.store.vectors.is_compiled", lambda: compiled)
    for qi in where[:6]:
        q = v[words[qi]]
        q = q / float(np.sqrt(np.dot(q, q)))  # as the search scales its query
        exact = v.cosines(q, 0, len(v))
        for k in (1, 10, 25):
            ids, scores = rank(exact, k, [int(qi)])
            exact_k = exact.copy()
            exact_k[qi] = -np.inf
            assert has_ties(exact_k, k)
            got = v.most_similar(words[qi], k, device="cpu")
            assert [w for w, _ in got] == [words[i] for i in ids]
            np.testing.assert_array_equal([s for _, s in got], scores)


def test_compiled_candidates_equal_numpy():
    """`best_rows` keeps `pool` rows no lower than any it drops (never -inf or NaN rows), and
    `rows_reaching` is numpy's mask: on scores full of ties, -inf and NaN."""
    from vecsmith.store import _kernels

    rng = np.random.default_rng(7)
    approx = (np.round(rng.standard_normal(50_000) * 30) / 100).astype(np.float32)
    approx[rng.choice(50_000, 500, replace=False)] = -np.inf
    approx[rng.choice(50_000, 50, replace=False)] = np.nan
    slack = rng.uniform(0, 0.02, 50_000).astype(np.float32)
    tied = np.array([3, 5, 1, 1, 1, 5, 3, 3, 0], dtype=np.float32)  # ties at every cut
    for pool in range(1, 10):
        ids = np.empty(pool, dtype=np.int64)
        got = np.sort(tied[ids[: _kernels.best_rows(tied, 0, len(tied), pool, ids)]])
        np.testing.assert_array_equal(got, np.sort(tied)[::-1][:pool][::-1])
    for lo, hi, pool in [(0, 50_000, 74), (123, 9_000, 1), (0, 60, 200), (7, 7, 5),
                         (0, 50_000, 3_000)]:
        ids = np.empty(pool, dtype=np.int64)
        got = ids[: _kernels.best_rows(approx, lo, hi, pool, ids)]
        part = approx[lo:hi]
        finite = int(np.isfinite(part).sum())
        assert len(got) == min(pool, finite) and len(set(got.tolist())) == len(got)
        assert np.all((got >= lo) & (got < hi)) and np.all(np.isfinite(approx[got]))
        if len(got):
            dropped = np.setdiff1d(np.arange(lo, hi), got)
            dropped = dropped[np.isfinite(approx[dropped])]
            assert len(dropped) == 0 or approx[dropped].max() <= approx[got].min()
    for t in (0.5, -np.inf, 0.0):
        want = np.flatnonzero((approx >= np.float32(t) - slack) & np.isfinite(approx))
        np.testing.assert_array_equal(_kernels.rows_reaching(approx, slack, np.float32(t)),
                                      want)
