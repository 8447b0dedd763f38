"""Chinese Whispers: planted partitions, agreement with the `chinese-whispers` package over
seeds, the exact update rule on tiny graphs, options, and reproducibility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from vecsmith.cluster import chinese_whispers, edge_weights, relabel_by_size


def planted(n_clusters: int, size: int, k_in: int, k_out: int, seed: int,
            w_in=(0.5, 1.0), w_out=(0.1, 0.4)):
    """A symmetric graph with dense weighted blocks and a few weak edges between them."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    truth = np.repeat(np.arange(n_clusters), size)
    rows, cols, w = [], [], []
    for v in range(n):
        g = truth[v]
        members = np.setdiff1d(np.arange(g * size, (g + 1) * size), [v])
        for u in rng.choice(members, k_in, replace=False):
            rows.append(v), cols.append(u), w.append(rng.uniform(*w_in))
        for u in rng.choice(n, k_out, replace=False):
            if u != v:
                rows.append(v), cols.append(u), w.append(rng.uniform(*w_out))
    A = sp.coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    return A.maximum(A.T).tocsr(), truth


def _package_labels(A, weighting: str, seed: int) -> np.ndarray:
    nx = pytest.importorskip("networkx")
    cw = pytest.importorskip("chinese_whispers")
    G = nx.from_scipy_sparse_array(A)
    cw.chinese_whispers(G, weighting={"lin": "linear"}.get(weighting, weighting), seed=seed)
    return np.array([G.nodes[i]["label"] for i in range(A.shape[0])])


@pytest.mark.parametrize("weighting", ["top", "lin", "log"])
def test_planted_partition_matches_package(weighting):
    A, truth = planted(30, 25, 8, 2, seed=5)
    ours = [adjusted_rand_score(truth, chinese_whispers(A, weighting, seed=s).labels)
            for s in range(5)]
    theirs = [adjusted_rand_score(truth, _package_labels(A, weighting, s)) for s in range(5)]
    assert np.median(theirs) >= 0.95  # the reference recovers the partition ...
    assert np.median(ours) >= 0.95  # ... and so do we
    assert min(ours) >= min(theirs) - 0.05


def test_distribution_agrees_with_package_on_a_hard_graph():
    # weaker structure: runs end in different partitions; compare the distributions over seeds
    A, truth = planted(20, 20, 4, 3, seed=9, w_in=(0.2, 1.0), w_out=(0.2, 0.9))
    seeds = range(16)
    ours = [chinese_whispers(A, "top", seed=s).labels for s in seeds]
    theirs = [_package_labels(A, "top", s) for s in seeds]
    n_ours = np.array([len(np.unique(x)) for x in ours])
    n_theirs = np.array([len(np.unique(x)) for x in theirs])
    ari_ours = np.array([adjusted_rand_score(truth, x) for x in ours])
    ari_theirs = np.array([adjusted_rand_score(truth, x) for x in theirs])
    # same law, up to sampling noise: means within 2.5 pooled standard errors (or a floor)
    for a, b, floor in ((n_ours, n_theirs, 1.5), (ari_ours, ari_theirs, 0.03)):
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) <= max(2.5 * se, floor), (a, b)
    # and the two implementations' partitions agree with each other as much as runs of one do
    cross = np.mean([adjusted_rand_score(x, y) for x, y in zip(ours, theirs, strict=True)])
    within = np.mean([adjusted_rand_score(x, y) for x, y in itertools.pairwise(theirs)])
    assert cross >= within - 0.1


def test_seeded_runs_are_reproducible_and_seeds_differ():
    A, _ = planted(20, 20, 4, 3, seed=9, w_in=(0.2, 1.0), w_out=(0.2, 0.9))
    a = chinese_whispers(A, seed=3)
    b = chinese_whispers(A, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert any(not np.array_equal(a.labels, chinese_whispers(A, seed=s).labels)
               for s in range(4, 10))


def test_update_rule_on_a_tiny_graph():
    # node 0 sees class {1,2} with weight 0.5 + 0.5 = 1.0 and node 3 with 0.9: sum wins, not max
    A = sp.lil_matrix((6, 6))
    for i, j, w in [(0, 1, 0.5), (0, 2, 0.5), (0, 3, 0.9), (1, 2, 5.0), (3, 4, 5.0), (4, 5, 5.0),
                    (3, 5, 5.0)]:
        A[i, j] = A[j, i] = w
    A = A.tocsr()
    for s in range(20):
        res = chinese_whispers(A, "top", seed=s)
        lab = res.labels
        assert lab[1] == lab[2] and lab[3] == lab[4] == lab[5]
        assert lab[0] == lab[1] and lab[0] != lab[3]
        assert res.converged and res.changes[-1] == 0
        assert res.confidence[0] == pytest.approx(1.0 / 1.9, rel=1e-6)


def test_ties_are_broken_at_random():
    # directed: only node 0 has out-edges (to 1, 2, 3, equal weights); the others never vote,
    # so the tie-break alone decides node 0's label. "First tied label wins" would always give
    # node 1's label; a uniform draw gives each about a third of the time.
    A = sp.csr_matrix((np.ones(3), ([0, 0, 0], [1, 2, 3])), shape=(4, 4))
    picks = []
    for s in range(300):
        lab = chinese_whispers(A, "top", iterations=1, seed=s).labels
        picks.append(int(np.flatnonzero(lab[1:] == lab[0])[0]))
    counts = np.bincount(picks, minlength=3)
    assert counts.sum() == 300
    assert np.all((counts > 60) & (counts < 140)), counts


def test_isolated_nodes_stay_singletons_and_labels_are_sorted_by_size():
    A, _ = planted(3, 10, 6, 0, seed=1)
    A = sp.block_diag([A, sp.csr_matrix((4, 4))]).tocsr()
    res = chinese_whispers(A, seed=0)
    assert len(set(res.labels[-4:])) == 4
    assert np.all(res.confidence[-4:] == 0)
    counts = np.bincount(res.labels)
    assert np.all(np.diff(counts) <= 0)
    assert res.n_clusters == 7


def _csr(data, indices, indptr, n):
    A = sp.csr_matrix((1, 1))
    A.data, A.indices, A.indptr = (np.asarray(data, float), np.asarray(indices, np.int32),
                                   np.asarray(indptr, np.int32))
    A._shape = (n, n)
    return A


@pytest.mark.parametrize(("graph", "match"), [
    (lambda: _csr([1.0, 1.0], [1, 7], [0, 1, 2, 2], 3), r"index 7 at row 1 is out of range"),
    (lambda: _csr([1.0, 1.0], [1, -1], [0, 1, 2, 2], 3), r"index -1 at row 1 is out of range"),
    (lambda: _csr([1.0, 1.0], [1, 0], [0, 1, 2], 3), r"indptr has 3 entries, expected"),
    (lambda: _csr([1.0, 1.0], [1, 0], [0, 2, 1, 2], 3), r"never decrease"),
    (lambda: _csr([1.0, 1.0], [1, 0], [0, 1, 2, 5], 3), r"indptr ends at 5"),
    (lambda: sp.csr_matrix(np.ones((2, 3))), r"square"),
    (lambda: sp.csr_matrix(np.array([[0, np.nan], [1.0, 0]])), r"finite: edge \(0, 1\)"),
    (lambda: sp.csr_matrix(np.array([[0, np.inf], [1.0, 0]])), r"finite"),
])
def test_malformed_graphs_are_refused_before_compiled_code(graph, match):
    with pytest.raises(ValueError, match=match):
        chinese_whispers(graph(), seed=0)


def test_weightings():
    A = sp.csr_matrix(np.array([[0, 2, 0], [2, 0, 3], [0, 3, 0]], dtype=float))
    np.testing.assert_allclose(edge_weights(A, "top"), [2, 2, 3, 3])
    # lin: weight / neighbour degree (degrees 1, 2, 1)
    np.testing.assert_allclose(edge_weights(A, "lin"), [2 / 2, 2 / 1, 3 / 1, 3 / 2])
    np.testing.assert_allclose(edge_weights(A, "log"),
                               [2 / np.log2(3), 2 / np.log2(2), 3 / np.log2(2), 3 / np.log2(3)])
    with pytest.raises(ValueError, match="weighting"):
        edge_weights(A, "max")


def test_vote_threshold_keeps_weak_majorities():
    # every node's winner holds 1/2 of its weight on a 4-cycle: vote=0.6 keeps all singletons
    C = np.zeros((4, 4))
    for i in range(4):
        C[i, (i + 1) % 4] = C[(i + 1) % 4, i] = 1.0
    res = chinese_whispers(sp.csr_matrix(C), vote=0.6, seed=0)
    assert res.n_clusters == 4 and res.n_iter == 1
    assert chinese_whispers(sp.csr_matrix(C), seed=0).n_clusters < 4


def test_mutation_and_keep():
    A, truth = planted(10, 20, 8, 1, seed=2)
    res = chinese_whispers(A, seed=0, mutation=("constant", 0.05), iterations=30)
    assert adjusted_rand_score(truth, res.labels) >= 0.9  # the last pass repairs mutations
    heavy = chinese_whispers(A, seed=0, mutation=("constant", 1.0), iterations=2)
    assert heavy.changes[0] > 0
    kept = chinese_whispers(A, seed=0, keep=0.5, iterations=50)
    assert adjusted_rand_score(truth, kept.labels) >= 0.9
    dec = chinese_whispers(A, seed=0, mutation=("dec", 2.0), iterations=30)
    assert adjusted_rand_score(truth, dec.labels) >= 0.9
    with pytest.raises(ValueError, match="mutation"):
        chinese_whispers(A, mutation=("sometimes", 1))


def test_torch_variant_recovers_planted_partition():
    pytest.importorskip("torch")
    A, truth = planted(30, 25, 8, 2, seed=5)
    res = chinese_whispers(A, "top", iterations=60, seed=0, device="torch-cpu")
    assert adjusted_rand_score(truth, res.labels) >= 0.95
    again = chinese_whispers(A, "top", iterations=60, seed=0, device="torch-cpu")
    np.testing.assert_array_equal(res.labels, again.labels)


def test_torch_variant_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    A, truth = planted(30, 25, 8, 2, seed=5)
    res = chinese_whispers(A, "top", iterations=60, seed=0, device="cuda")
    assert adjusted_rand_score(truth, res.labels) >= 0.95


def test_bad_graphs():
    with pytest.raises(TypeError):
        chinese_whispers(np.eye(3))
    with pytest.raises(ValueError, match="negative"):
        chinese_whispers(sp.csr_matrix(np.array([[0, -1.0], [-1.0, 0]])))
    with pytest.raises(ValueError, match="square"):
        chinese_whispers(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(ValueError, match="iterations"):
        chinese_whispers(sp.csr_matrix(np.ones((2, 2))), iterations=0)
    # self-loops are not votes: two nodes joined by one edge end in one cluster
    res = chinese_whispers(sp.csr_matrix(np.array([[9.0, 1.0], [1.0, 9.0]])), seed=0)
    assert res.n_clusters == 1


def test_relabel_by_size():
    np.testing.assert_array_equal(relabel_by_size(np.array([7, 3, 3, -1, 7, 3])),
                                  [1, 0, 0, -1, 1, 0])


@pytest.mark.parametrize("options", [("top", 0.0, 0.0, 0, 0.0), ("log", 0.0, 0.0, 0, 0.0),
                                     ("lin", 0.4, 0.0, 0, 0.0), ("top", 0.0, 0.3, 0, 0.0),
                                     ("top", 0.0, 0.0, 1, 0.05), ("top", 0.0, 0.0, 2, 1.5)])
def test_skipping_unchanged_neighbourhoods_changes_nothing(options):
    from vecsmith.cluster._cw_kernel import cw_run

    weighting, vote, keep, mut_kind, mut_value = options
    sym, _ = planted(20, 20, 4, 3, seed=9, w_in=(0.2, 1.0), w_out=(0.2, 0.9))
    rng = np.random.default_rng(0)
    directed = sp.random(300, 300, density=0.02, random_state=1, format="csr")
    directed.data = rng.uniform(0.1, 1.0, directed.nnz)
    directed.setdiag(0)
    directed.eliminate_zeros()
    for A in (sym, directed):
        A = sp.csr_matrix(A)
        T = A.T.tocsr()
        w = edge_weights(A, weighting)
        args = (A.indptr.astype(np.int64), A.indices.astype(np.int64), w,
                T.indptr.astype(np.int64), T.indices.astype(np.int64))
        for seed in range(3):
            lazy, full = np.arange(A.shape[0]), np.arange(A.shape[0])
            seeds = np.arange(20, dtype=np.int64) + 100 * seed
            _, c1 = cw_run(*args, lazy, seeds, vote, keep, mut_kind, mut_value, True)
            _, c2 = cw_run(*args, full, seeds, vote, keep, mut_kind, mut_value, False)
            np.testing.assert_array_equal(lazy, full)
            np.testing.assert_array_equal(c1, c2)


def test_directed_degrees_count_both_directions():
    # 0 -> 1 only: node 1 has no out-edges but one neighbour, so lin/log weights stay finite
    A = sp.csr_matrix(np.array([[0, 2.0, 0], [0, 0, 0], [0, 3.0, 0]]))
    np.testing.assert_allclose(edge_weights(A, "lin"), [2.0 / 2, 3.0 / 2])
    np.testing.assert_allclose(edge_weights(A, "log"), [2.0 / np.log2(3), 3.0 / np.log2(3)])
