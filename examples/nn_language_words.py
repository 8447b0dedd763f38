"""A pretrained subword store inside a PyTorch model (vecsmith.nn), fine-tuned and saved back.

Task: which language is a word? (`wordfreq` lists, 6 languages.) The test words never occur in
training, so a plain nn.Embedding has nothing to offer them; SubwordEmbedding embeds them from
the character n-grams of fastText's lid.176.ftz, exactly as the store would. One
DenseSparseOptimizer trains the sparse embedding rows and the dense head together; the tuned
tables are then written as a store that `vecsmith.store.open` serves like any other.

Run:  .venv/bin/python examples/nn_language_words.py [--freeze] [--epochs 8]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vecsmith import datasets, store
from vecsmith.nn import SubwordEmbedding
from vecsmith.optim import DenseSparseOptimizer

LANGS = ["en", "de", "fr", "es", "it", "nl"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--freeze", action="store_true", help="keep the pretrained rows fixed")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(0)

    words, labels = datasets.language_words(LANGS, 1500, seed=0)
    y = torch.tensor([LANGS.index(lang) for lang in labels])
    n_train = int(0.7 * len(words))  # the rest: words the model never sees in training

    with tempfile.TemporaryDirectory() as tmp:
        emb = SubwordEmbedding.from_fasttext(datasets.lid176_path(), cache=Path(tmp) / "lid.store",
                                             freeze=args.freeze)
        emb.set_vocabulary(words)  # hash once; batches are then plain indices
        model = nn.Sequential(emb, nn.Linear(emb.dim, 64), nn.ReLU(), nn.Linear(64, len(LANGS)))
        opt = DenseSparseOptimizer(model.parameters(), lr=1e-2)  # sparse rows + dense head

        for epoch in range(args.epochs):
            for batch in torch.randperm(n_train).split(256):
                loss = F.cross_entropy(model(batch), y[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                test = torch.arange(n_train, len(words))
                acc = (model(test).argmax(1) == y[test]).float().mean().item()
            print(f"epoch {epoch + 1}: loss {loss.item():.3f}, accuracy on unseen words {acc:.3f}")

        oov = store.open(Path(tmp) / "lid.store").word_ids(words[n_train:]) < 0
        print(f"{oov.mean():.0%} of the test words are outside the store's vocabulary too "
              "(embedded from n-grams)")
        if not args.freeze:
            out = emb.save_store(Path(tmp) / "tuned.store")
            tuned = store.open(out)
            same = np.array_equal(tuned.get_many(["unsichtbar"]),
                                  emb(["unsichtbar"]).detach().numpy())
            print(f"saved {out.name}: {tuned}; reopened vectors equal the layer's: {same}")


if __name__ == "__main__":
    main()
