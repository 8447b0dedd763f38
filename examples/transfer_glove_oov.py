"""Give GloVe subword vectors, then embed misspelt and made-up words and find their neighbours.

    python examples/transfer_glove_oov.py            # the 50,000 most frequent words, ~30 s
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vecsmith import store, transfer
from vecsmith.wordvectors import load_packaged_glove

words, vectors = load_packaged_glove(max_words=50_000)
table = transfer.fit(words, vectors, bucket=300_000, threads=1)   # minn=3, maxn=6
print(f"best epoch {table.best_epoch}, held-out mean cosine {table.heldout_cosine:.3f}, "
      f"{table.seconds:.0f} s")

with tempfile.TemporaryDirectory() as tmp:
    path = table.to_store(words, vectors, Path(tmp) / "glove50k.store")
    v = store.open(path)
    for word in ("governmentt", "unbelieveable", "acommodation", "biotechnologist", "greenwashing"):
        print(f"{word:>16} in GloVe: {word in v!s:5}  neighbours:",
              ", ".join(w for w, _ in v.most_similar(word, k=6)))
