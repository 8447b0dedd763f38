"""Exact checks that a planted bug in Chinese Whispers fails (see benchmarks/mutants.py)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from vecsmith.cluster import chinese_whispers


def test_vote_share_exactly_at_the_threshold_keeps_the_class():
    """`vote`: a node changes class only when the winner holds MORE than that share. On a
    4-cycle every winner holds exactly 1/2 of its node's weight: vote=0.5 keeps every node."""
    C = np.zeros((4, 4))
    for i in range(4):
        C[i, (i + 1) % 4] = C[(i + 1) % 4, i] = 1.0
    for seed in range(5):
        res = chinese_whispers(sp.csr_matrix(C), vote=0.5, seed=seed)
        assert res.n_clusters == 4 and res.n_iter == 1, seed
    # just under the share, the same graph merges
    assert chinese_whispers(sp.csr_matrix(C), vote=0.49, seed=0).n_clusters < 4


def test_a_tie_is_broken_at_random_when_only_one_node_votes():
    """Node 0 listens to nodes 1 and 2 with equal weight; they listen to nobody, so the
    visiting order cannot decide: only the tie-break can, and both answers must occur."""
    A = sp.csr_matrix(np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=float))
    outcomes = {tuple(chinese_whispers(A, "top", iterations=1, seed=s).labels)
                for s in range(40)}
    assert len(outcomes) == 2, outcomes


def test_lazy_skipping_equals_full_recomputation_on_a_graph_full_of_ties():
    """Unit weights make ties everywhere: a tied node must be recomputed (and draw again) on
    every visit, so skipping unchanged neighbourhoods gives the same labels as recomputing
    all. Random float weights (the other test's graphs) never tie."""
    from vecsmith.cluster._cw_kernel import cw_run
    from vecsmith.cluster.whispers import pass_seeds

    rng = np.random.default_rng(4)
    A = sp.random(200, 200, density=0.03, random_state=2, format="csr")
    A = ((A + A.T) > 0).astype(float).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    T = A.T.tocsr()
    args = (A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data.astype(np.float64),
            T.indptr.astype(np.int64), T.indices.astype(np.int64))
    for seed in rng.integers(0, 1000, 5):
        lazy, full = np.arange(200), np.arange(200)
        _, c1 = cw_run(*args, lazy, pass_seeds(int(seed), 0, 0, 20), 0.0, 0.0, 0, 0.0, True)
        _, c2 = cw_run(*args, full, pass_seeds(int(seed), 0, 0, 20), 0.0, 0.0, 0, 0.0, False)
        np.testing.assert_array_equal(lazy, full)
        np.testing.assert_array_equal(c1, c2)
