"""Cluster the 20,000 most frequent GloVe words with Chinese Whispers and print a few clusters.

    python examples/cluster_words.py
"""

from __future__ import annotations

import numpy as np

from vecsmith.cluster import chinese_whispers, graph_stats, knn_graph, size_summary
from vecsmith.wordvectors import load_packaged_glove

words, X = load_packaged_glove(max_words=20_000)
graph = knn_graph(X, k=30, symmetrize="mutual", threshold=0.0, progress=True)
print(graph_stats(graph))
result = chinese_whispers(graph, weighting="log", seed=0)
print(size_summary(result.labels))
index = {w: i for i, w in enumerate(words)}
for probe in ("winter", "paris", "guitar", "chemistry"):
    members = np.flatnonzero(result.labels == result.labels[index[probe]])
    print(f"{probe:>10}: {len(members):4d} words:", " ".join(words[i] for i in members[:15]))
