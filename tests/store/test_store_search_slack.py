"""The int8 first pass's error bound decides which rows get an exact score (store/search.py).

Without ties near the top, the search never falls back to scoring every row, so a bound that
ignored the slack (or shrank it) would miss true neighbours. benchmarks/mutants.py plants
those bugs; this test must fail for them.
"""

from __future__ import annotations

import numpy as np

from vecsmith import store
from vecsmith.neighbours import has_ties, rank


def test_slack_recovers_neighbours_the_int8_pass_misranks_without_ties(tmp_path):
    # 3,000 near-duplicates of the query: their exact cosines differ by ~1e-6 (distinct in
    # float32, so no all-rows fallback for ties), their int8 scores by ~1e-3 (random order).
    rng = np.random.default_rng(7)
    base = rng.standard_normal(64).astype(np.float32)
    near = base + 1e-2 * rng.standard_normal((3000, 64)).astype(np.float32)
    far = rng.standard_normal((5000, 64)).astype(np.float32)
    mat = np.concatenate([far, near])
    words = [f"w{i}" for i in range(len(mat))]
    path = tmp_path / "near.store"
    store.convert_vectors(words, mat, path, dtype="float32")
    v = store.open(path)
    q = base / np.linalg.norm(base)
    exact = v.cosines(q, 0, len(v))
    assert not has_ties(exact, 11)  # the answer rests on the bound, not on the fallback
    ids, scores = rank(exact, 10)
    codes, scales, slack = v._search_index
    approx = scales * (codes.astype(np.float32) @ q)
    assert np.all(np.abs(approx - exact) <= slack)  # the bound holds row by row
    # most of the true ten are outside the first pass's top 74 (its exact-scored pool)
    assert len(set(np.argsort(-approx)[:74]) & set(ids.tolist())) < 5
    got = v.most_similar(base, 10, device="cpu")
    assert [w for w, _ in got] == [words[i] for i in ids]
    np.testing.assert_allclose([s for _, s in got], scores, atol=1e-7)


def test_int8_kernel_scores_every_row_of_any_range():
    # four rows at a time plus a tail: every row in lo..hi scored, none outside, each within
    # the rounding the slack allows (checked against float64)
    from vecsmith.store._kernels import int8_scores_into
    from vecsmith.store.search import rounding_slack

    rng = np.random.default_rng(3)
    for n, dim, lo, hi in [(1003, 300, 1, 1002), (9, 7, 0, 9), (6, 5, 2, 5), (4, 3, 0, 4)]:
        codes = rng.integers(-127, 128, (n, dim), dtype=np.int8)
        scales = (1 / np.linalg.norm(codes, axis=1)).astype(np.float32)  # unit rows s·c
        q = rng.standard_normal(dim).astype(np.float32)
        q /= np.linalg.norm(q)
        out = np.full(n, np.nan, dtype=np.float32)
        int8_scores_into(out, codes, scales, q, lo, hi)
        want = scales.astype(np.float64) * (codes.astype(np.float64) @ q.astype(np.float64))
        assert np.isnan(out[:lo]).all() and np.isnan(out[hi:]).all()
        assert np.all(np.abs(out[lo:hi] - want[lo:hi]) <= rounding_slack(dim))
