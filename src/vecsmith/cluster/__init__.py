"""Clustering without choosing k: exact cosine kNN graphs, Chinese Whispers on them, DBSCAN on
the same graph for comparison, and quality metrics.

>>> from vecsmith.cluster import knn_graph, chinese_whispers
>>> graph = knn_graph(vectors, k=20, symmetrize="mutual", threshold=0.6)
>>> result = chinese_whispers(graph, weighting="top", seed=0)
>>> result.labels, result.confidence

With ``client=`` (a ``dask.distributed.Client``; ``client_for("local:2")`` makes one) both run
on a Dask cluster: see ``dask_knn``, ``dask_whispers`` and docs/scale_out.md.
"""

from vecsmith.cluster._dask import client_for
from vecsmith.cluster.evaluate import cluster_scores, contingency, size_summary
from vecsmith.cluster.knn import (
    GraphStats,
    graph_from_neighbors,
    graph_stats,
    knn_graph,
    knn_search,
    symmetrize,
)
from vecsmith.cluster.whispers import (
    WhispersResult,
    chinese_whispers,
    edge_weights,
    relabel_by_size,
)


def __getattr__(name: str):  # the estimators need scikit-learn; import them on first use
    if name in ("ChineseWhispers", "dbscan_on_graph", "similarity_to_distance"):
        from vecsmith.cluster import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'vecsmith.cluster' has no attribute {name!r}")


__all__ = [
    "ChineseWhispers",
    "GraphStats",
    "WhispersResult",
    "chinese_whispers",
    "client_for",
    "cluster_scores",
    "contingency",
    "dbscan_on_graph",
    "edge_weights",
    "graph_from_neighbors",
    "graph_stats",
    "knn_graph",
    "knn_search",
    "relabel_by_size",
    "similarity_to_distance",
    "size_summary",
    "symmetrize",
]
