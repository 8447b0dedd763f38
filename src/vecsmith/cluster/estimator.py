"""scikit-learn style estimators: ``ChineseWhispers`` on a cosine kNN graph, and DBSCAN run on
the *same* sparse graph (``metric="precomputed"``), so the two are compared on equal terms and
DBSCAN never computes all pairwise distances."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from vecsmith._deps import require
from vecsmith.cluster.knn import knn_graph
from vecsmith.cluster.whispers import _check_graph, chinese_whispers, relabel_by_size

__all__ = ["ChineseWhispers", "dbscan_on_graph", "similarity_to_distance"]


class ChineseWhispers(ClusterMixin, BaseEstimator):
    """Chinese Whispers on the cosine kNN graph of ``X`` (or on a given graph when
    ``metric="precomputed"``). The number of clusters emerges from the graph.

    ``client`` (a ``dask.distributed.Client``) runs the graph search and the clustering on a
    Dask cluster (``n_partitions`` node blocks, default one per worker).

    Fitted attributes: ``labels_`` (0 = largest cluster), ``confidence_`` (each point's vote
    share for its own cluster, 0 for points without edges), ``graph_`` (the CSR similarity
    graph), ``n_clusters_``, ``n_iter_``, ``converged_``.

    >>> labels = ChineseWhispers(n_neighbors=20, threshold=0.5, seed=0).fit_predict(X)
    """

    def __init__(self, n_neighbors: int = 20, *, symmetrize: str = "union",
                 threshold: float | None = 0.0, weighting: str = "top", iterations: int = 20,
                 vote: float | None = None, keep: float = 0.0,
                 mutation: tuple[str, float] | None = None, metric: str = "cosine",
                 device: str = "auto", precision: str = "float32", seed: int | None = None,
                 client=None, n_partitions: int | None = None):
        self.n_neighbors = n_neighbors
        self.symmetrize = symmetrize
        self.threshold = threshold
        self.weighting = weighting
        self.iterations = iterations
        self.vote = vote
        self.keep = keep
        self.mutation = mutation
        self.metric = metric
        self.device = device
        self.precision = precision
        self.seed = seed
        self.client = client
        self.n_partitions = n_partitions

    def fit(self, X, y=None):
        """Build the graph (unless precomputed) and cluster it."""
        if self.metric == "precomputed":
            graph = _check_graph(X)
        elif self.metric == "cosine":
            graph = knn_graph(X, self.n_neighbors, symmetrize=self.symmetrize,
                              threshold=self.threshold,
                              device="cpu" if self.client is not None else self.device,
                              precision=self.precision, client=self.client)
        else:
            raise ValueError(f"metric must be 'cosine' or 'precomputed', got {self.metric!r}")
        result = chinese_whispers(graph, self.weighting, self.iterations, self.seed,
                                  vote=self.vote, keep=self.keep, mutation=self.mutation,
                                  client=self.client, n_partitions=self.n_partitions)
        self.graph_ = graph
        self.labels_ = result.labels
        self.confidence_ = result.confidence
        self.n_clusters_ = result.n_clusters
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        return self

    def fit_predict(self, X, y=None, **kwargs):
        return self.fit(X).labels_


def similarity_to_distance(graph):
    """Cosine distance ``1 - similarity`` on the same sparsity pattern; explicit zeros are kept
    (exact duplicates stay neighbours at distance 0)."""
    sp = require("scipy.sparse", "sparse graphs")
    g = sp.csr_matrix(graph, dtype=np.float64, copy=True)
    g.data = np.maximum(1.0 - g.data, 0.0)
    return g


def dbscan_on_graph(graph, eps: float, min_samples: int = 5) -> np.ndarray:
    """DBSCAN over a cosine-similarity kNN graph: neighbours are graph edges with cosine
    distance <= ``eps``; ``min_samples`` counts the point itself, as in scikit-learn.
    Returns labels with 0 = largest cluster and -1 for noise."""
    cluster = require("sklearn.cluster", "DBSCAN")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    dist = similarity_to_distance(graph)
    labels = cluster.DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(
        dist).labels_
    return relabel_by_size(labels)
