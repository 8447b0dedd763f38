"""Graph settings for the full GloVe vocabulary (400,000 words): where the giant cluster starts.

One exact 30-NN search (about 9 minutes on a loaded 2-core box), then Chinese Whispers on
mutual graphs of k = 10..30 neighbours (a few seconds each). On 400k words the rare-word tail
chains together for k >= 20 even in a mutual graph; k = 15 does not.

    python examples/cluster_glove_400k.py
"""

from __future__ import annotations

import time

import numpy as np

from vecsmith.cluster import chinese_whispers, graph_from_neighbors, knn_search, size_summary
from vecsmith.wordvectors import load_packaged_glove

words, X = load_packaged_glove()
start = time.perf_counter()
idx, sims = knn_search(X, 30, progress=True)
print(f"30-NN of {len(words):,} words: {time.perf_counter() - start:.0f} s")
print("| k | threshold | weighting | largest | clusters | of 2+ words | singletons |")
print("|---|---|---|---|---|---|---|")
for k, th, weighting in [(10, 0.0, "top"), (10, 0.0, "log"), (15, 0.0, "top"), (15, 0.0, "log"),
                         (20, 0.0, "log"), (20, 0.6, "top"), (30, 0.0, "log"), (30, 0.7, "log")]:
    graph = graph_from_neighbors(idx[:, :k], sims[:, :k], symmetrize="mutual", threshold=th)
    s = size_summary(chinese_whispers(graph, weighting, seed=0).labels)
    print(f"| {k} | {th} | {weighting} | {s['largest']:,} | {s['n_clusters']:,} | "
          f"{s['clusters_of_size_ge_2']:,} | {s['singletons']:,} |")
index = {w: i for i, w in enumerate(words)}
labels = chinese_whispers(graph_from_neighbors(idx[:, :15], sims[:, :15], symmetrize="mutual",
                                               threshold=0.0), "top", seed=0).labels
for probe in ("winter", "paris", "euro", "guitar", "monday"):
    members = np.flatnonzero(labels == labels[index[probe]])
    print(f"{probe}: {len(members)} words:", " ".join(words[i] for i in members[:12]))
