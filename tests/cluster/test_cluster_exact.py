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
