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
