"""Train stem-aware word vectors (triplet loss, P×K batches) and query neighbours.

    python examples/rnn_stems.py
"""

from __future__ import annotations

import torch
import wordfreq

from vecsmith.rnn import StemEmbedder, StemTrainConfig

torch.set_num_threads(1)
words = [w for w in wordfreq.top_n_list("en", 20000) if w.isalpha() and len(w) >= 3]
result = StemEmbedder.fit(
    words,  # grouped by their Snowball stem
    config=StemTrainConfig(steps=2000, p=64, k=4, margin=0.3, mining="semi-hard",
                           max_seconds=40),
    dim=64, hidden_size=128,  # reads right to left with dropout 0.1 after the embedding
)
print(f"held-out recall@10 during training: {result.best_recall:.3f}")
index = result.model.index(words)
for query in ["organizations", "unhappily", "recomputing"]:  # unseen words work too
    print(query, [(w, round(s, 3)) for w, s in index.most_similar(query, k=5)])
