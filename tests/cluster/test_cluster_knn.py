"""Exact cosine kNN: every backend against a brute-force oracle; self, duplicates, zero rows,
ties, symmetrisation and thresholds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from vecsmith.cluster import graph_from_neighbors, graph_stats, knn_graph, knn_search


def _oracle(X: np.ndarray, k: int):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn.astype(np.float64) @ Xn.T.astype(np.float64)
    np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


def _recall(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((700, 24)).astype(np.float32)


@pytest.mark.parametrize("backend,block", [("numpy", 128), ("numpy", 1000), ("torch", 100),
                                           ("faiss", None)])
def test_backends_match_brute_force(X, backend, block):
    if backend == "faiss":
        pytest.importorskip("faiss")
    idx, sims = knn_search(X, 10, backend=backend, block_size=block, device="cpu")
    want_idx, want_sims = _oracle(X, 10)
    assert idx.shape == (700, 10) and sims.dtype == np.float32
    assert _recall(idx, want_idx) == 1.0  # random data: no ties at the k-th place
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 1e-7)  # best first
    assert not np.any(idx == np.arange(700)[:, None])  # never itself


def test_self_excluded_by_index_not_value():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((50, 8)).astype(np.float32)
    X = np.vstack([base, base[:5], 3.0 * base[:5]])  # exact and scaled duplicates
    idx, sims = knn_search(X, 3, block_size=16)
    for i in range(5):
        # copies at 50+i and 55+i have similarity 1 with i; lower index first on ties
        assert set(idx[i, :2]) == {50 + i, 55 + i}
        assert set(idx[50 + i, :2]) == {i, 55 + i}
        np.testing.assert_allclose(sims[i, :2], 1.0, atol=1e-6)
    graph = knn_graph(X, 3)
    assert graph_stats(graph).duplicate_edges >= 15


def test_zero_rows_are_isolated():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 6)).astype(np.float32)
    X[[3, 17]] = 0
    idx, sims = knn_search(X, 4)
    assert np.all(idx[[3, 17]] == -1) and np.all(np.isneginf(sims[[3, 17]]))
    assert not np.isin(idx, [3, 17]).any()
    graph = knn_graph(X, 4)
    stats = graph_stats(graph)
    assert stats.isolated == 2 and graph[3].nnz == 0


def test_small_inputs_and_bad_input():
    idx, _ = knn_search(np.eye(3, dtype=np.float32), 5)  # k larger than n - 1: padded
    assert idx.shape == (3, 5) and np.all(idx[:, 2:] == -1) and np.all(idx[:, :2] >= 0)
    assert np.all(knn_search(np.ones((1, 3)), 2)[0] == -1)
    with pytest.raises(ValueError, match="k must be"):
        knn_search(np.eye(3), 0)
    with pytest.raises(ValueError, match="NaN"):
        knn_search(np.array([[1.0, np.nan], [1.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="2-D"):
        knn_search(np.zeros(5), 1)
    with pytest.raises(ValueError, match="needs a GPU"):
        knn_search(np.eye(4), 1, backend="torch", device="cpu", precision="float16")


def test_symmetrize_union_mutual_threshold():
    # directed lists: 0->1 (0.9), 1->0 (0.9), 0->2 (0.5), 2->3 (0.7), 3->1 (-0.2)
    idx = np.array([[1, 2], [0, -1], [3, -1], [1, -1]])
    sims = np.array([[0.9, 0.5], [0.9, -np.inf], [0.7, -np.inf], [-0.2, -np.inf]], np.float32)
    union = graph_from_neighbors(idx, sims, symmetrize="union").toarray()
    want = np.zeros((4, 4), np.float32)
    for i, j, w in [(0, 1, 0.9), (0, 2, 0.5), (2, 3, 0.7), (3, 1, -0.2)]:
        want[i, j] = want[j, i] = w
    np.testing.assert_allclose(union, want)  # negative weights survive, exactly
    mutual = graph_from_neighbors(idx, sims, symmetrize="mutual").toarray()
    assert mutual[0, 1] == mutual[1, 0] == pytest.approx(0.9) and np.count_nonzero(mutual) == 2
    directed = graph_from_neighbors(idx, sims, symmetrize="none")
    assert directed.nnz == 5 and directed[3, 1] == pytest.approx(-0.2) and directed[1, 3] == 0
    thr = graph_from_neighbors(idx, sims, symmetrize="union", threshold=0.6)
    assert thr.nnz == 4 and thr[0, 2] == 0
    stats = graph_stats(thr)
    assert stats.symmetric and stats.n_edges == 2 and stats.isolated == 0


def test_union_graph_is_symmetric_and_bounded(X):
    graph = knn_graph(X, 8, threshold=0.0)
    assert sp.isspmatrix_csr(graph)
    assert abs(graph - graph.T).max() == 0
    deg = np.diff(graph.indptr)
    assert deg.min() >= 1 and np.all(graph.data >= 0)
    mutual = knn_graph(X, 8, symmetrize="mutual")
    assert mutual.nnz <= 8 * 700 <= graph.nnz


def test_torch_low_precision_with_rerank_on_cuda(X):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    want_idx, want_sims = _oracle(X, 10)
    for precision in ("float16", "tf32", "bfloat16"):
        idx, sims = knn_search(X, 10, backend="torch", device="cuda", precision=precision)
        assert _recall(idx, want_idx) >= 0.99
        np.testing.assert_allclose(sims[idx == want_idx], want_sims[idx == want_idx], atol=1e-5)


def test_grouped_topk_is_exact():
    torch = pytest.importorskip("torch")
    from vecsmith.cluster.knn import grouped_topk

    g = torch.Generator().manual_seed(0)
    for n in (64 * 32, 64 * 32 + 17, 5000):  # with and without a tail of columns
        sims = torch.randn(40, n, generator=g)
        sims[3, 100:140] = 9.0  # one row's top values crowd into two groups
        want_v, _ = torch.topk(sims, 12, dim=1)
        got_v, got_i = grouped_topk(sims, 12)
        torch.testing.assert_close(got_v, want_v)
        torch.testing.assert_close(sims.gather(1, got_i), want_v)


@pytest.mark.parametrize("X", [np.ones((1, 4)), np.zeros((5, 4)), np.r_[np.zeros((3, 4)),
                                                                         np.ones((1, 4))]])
def test_graph_needs_two_nonzero_rows(X):
    with pytest.raises(ValueError, match="at least 2 non-zero rows"):
        knn_graph(X, 3)


def test_threshold_above_every_similarity_gives_an_empty_graph():
    X = np.random.default_rng(0).normal(size=(20, 5))
    g = knn_graph(X, 3, threshold=1.5)
    assert g.shape == (20, 20) and g.nnz == 0
