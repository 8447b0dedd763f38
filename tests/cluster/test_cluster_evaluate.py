"""Metrics against hand-computed values and scikit-learn; estimator contract; DBSCAN on the
same graph."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from vecsmith.cluster import (
    ChineseWhispers,
    cluster_scores,
    dbscan_on_graph,
    knn_graph,
    size_summary,
)


def test_scores_by_hand():
    gold = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([5, 5, 6, 6, 6, 7])
    s = cluster_scores(gold, pred)
    # purity: clusters {0,0}->2, {0,1,1}->2, {2}->1 => 5/6; inverse: classes 2 + 2 + 1 => 5/6
    assert s["purity"] == pytest.approx(5 / 6) and s["inverse_purity"] == pytest.approx(5 / 6)
    # pairs together in both: (0,1) + (3,4) = 2; predicted pairs 1 + 3 = 4; gold pairs 3 + 1 = 4
    assert s["pairwise_precision"] == pytest.approx(0.5)
    assert s["pairwise_recall"] == pytest.approx(0.5)
    # BCubed precision per point: 1,1,1/3,2/3,2/3,1 ; recall: 2/3,2/3,1/3,1,1,1
    assert s["bcubed_precision"] == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3 + 1) / 6)
    assert s["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1 + 1) / 6)
    assert s["ari"] == pytest.approx(adjusted_rand_score(gold, pred))
    assert s["n_clusters"] == 3 and s["singletons"] == 1 and s["n_gold_classes"] == 3


def test_perfect_and_singletons():
    gold = np.array([0, 0, 1, 1, 2])
    s = cluster_scores(gold, gold + 10)
    assert all(s[m] == pytest.approx(1.0) for m in ("ari", "nmi", "v_measure", "purity",
                                                   "inverse_purity", "pairwise_f", "bcubed_f"))
    single = cluster_scores(gold, np.arange(5))
    assert single["purity"] == 1.0 and single["inverse_purity"] == pytest.approx(0.6)
    assert single["pairwise_recall"] == 0.0


def test_noise_policies():
    gold = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, -1, -1])
    as_single = cluster_scores(gold, pred, noise="singletons")
    assert as_single["n_clusters"] == 3 and as_single["coverage"] == 1.0
    excluded = cluster_scores(gold, pred, noise="exclude")
    assert excluded["coverage"] == 0.5 and excluded["ari"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        cluster_scores(gold, pred[:3])
    with pytest.raises(ValueError, match="noise"):
        cluster_scores(gold, pred, noise="drop")


def test_size_summary():
    s = size_summary(np.array([0, 0, 0, 1, 1, 2, -1]))
    assert s["n_clusters"] == 3 and s["largest"] == 3 and s["singletons"] == 1
    assert s["noise"] == 1 and s["top_sizes"] == [3, 2, 1]
    assert s["largest_share"] == pytest.approx(3 / 7)


def _blobs(n_per=40, n_centers=8, d=16, spread=0.15, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_centers, d))
    X = np.repeat(centers, n_per, axis=0) + spread * rng.standard_normal((n_centers * n_per, d))
    return X.astype(np.float32), np.repeat(np.arange(n_centers), n_per)


def test_estimator_contract_and_quality():
    X, truth = _blobs()
    est = ChineseWhispers(n_neighbors=10, seed=0)
    labels = est.fit_predict(X)
    assert adjusted_rand_score(truth, labels) >= 0.95
    assert est.n_clusters_ == len(np.unique(labels)) and est.labels_ is labels
    assert est.confidence_.shape == (len(X),) and est.graph_.shape == (len(X), len(X))
    assert clone(est).get_params()["n_neighbors"] == 10
    again = ChineseWhispers(metric="precomputed", seed=0).fit_predict(est.graph_)
    np.testing.assert_array_equal(again, labels)
    with pytest.raises(ValueError, match="metric"):
        ChineseWhispers(metric="euclidean").fit(X)


def test_dbscan_on_same_graph_matches_dense_dbscan():
    from sklearn.cluster import DBSCAN

    X, truth = _blobs(n_per=30, n_centers=5)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    graph = knn_graph(X, len(X) - 1)  # all pairs: must equal dense cosine DBSCAN
    for eps, ms in ((0.02, 3), (0.05, 5), (0.3, 1)):
        ours = dbscan_on_graph(graph, eps, ms)
        dense = DBSCAN(eps=eps, min_samples=ms, metric="cosine").fit_predict(Xn)
        assert adjusted_rand_score(dense, ours) == pytest.approx(1.0)
        assert np.array_equal(ours < 0, dense < 0)
    sparse_labels = dbscan_on_graph(knn_graph(X, 10), 0.05, 5)
    assert adjusted_rand_score(truth, sparse_labels) >= 0.9


def test_dbscan_keeps_duplicates_at_distance_zero():
    A = sp.csr_matrix(np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 0]], dtype=np.float32))
    labels = dbscan_on_graph(A, 0.01, 2)
    assert labels[0] == labels[1] >= 0 and labels[2] == -1
    with pytest.raises(ValueError, match="eps"):
        dbscan_on_graph(A, 0.0)
