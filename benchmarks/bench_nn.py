"""vecsmith.nn: a pretrained subword store inside a PyTorch model, on a task where OOV matters.

1. accuracy: word -> language (10 languages, `wordfreq` lists via `vecsmith.datasets`), test
   words never seen in training. The same small MLP head on top of:
     - random: nn.Embedding over train + test words (test rows stay random: never trained);
     - unk: nn.Embedding over the train words + one UNK row (word dropout 5% to UNK), every
       test word is UNK;
     - vecsmith frozen: SubwordEmbedding over a store of fastText's lid.176.ftz (quantized,
       pruned: 7,235 words, 42,765 n-gram rows, dim 16), not trained;
     - vecsmith fine-tuned (all rows / n-gram rows only), with one DenseSparseOptimizer;
     - vecsmith scratch: the same word and n-gram rows and hashing, randomly initialised and
       trained (subwords without pretraining: what the pretrained rows add).
   All embeddings have dim 16. Reported: test accuracy (mean and spread over seeds), the share
   of test words outside the store's vocabulary (embedded from n-grams), and accuracy on
   those. Caveat: lid.176's n-grams were trained for language identification, so they suit
   this task better than a general-purpose embedding would.

2. speed: forward + backward words/s (trainable tables, sparse gradients) of SubwordEmbedding
   from strings (hashing every batch) and from a cached vocabulary (indices), against the
   anchor nn.EmbeddingBag(mode="mean", sparse=True) over precomputed row ids of the same
   words on the same rows; and frozen forward words/s against store.get_many. On the lid.176
   store and a synthetic float32 store (50,000 words, 500,000 n-gram rows, dim 100), batches
   of 4,096 words, half of them outside the vocabulary. One torch thread (the box is shared);
   each figure is the best of interleaved repeats.

Run:  .venv/bin/python benchmarks/bench_nn.py [accuracy|speed|all] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vecsmith import datasets, store
from vecsmith.nn import SubwordEmbedding
from vecsmith.optim import DenseSparseOptimizer

OUT = Path(__file__).resolve().parent / "out"
LANGS = ["en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl", "tr"]
DIM = 16


def lid_store(folder: Path) -> Path:
    path = folder / "lid176.f32.store"
    if not path.exists():
        store.convert_fasttext(datasets.lid176_path(), path, dtype="float32", quiet=True,
                               search_index=False)
    return path


# --------------------------------------------------------------------------------------------
# 1. accuracy
# --------------------------------------------------------------------------------------------

class Classifier(nn.Module):
    """Embedding of a word (from its index in the task's word list) -> MLP -> language."""

    def __init__(self, embed, n_classes: int):
        super().__init__()
        self.embed = embed
        self.head = nn.Sequential(nn.Linear(DIM, 64), nn.ReLU(), nn.Linear(64, n_classes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


def make_embedding(kind: str, path: Path, words: list[str], n_train: int):
    """Returns (module, map from task word index to the module's input index)."""
    if kind == "random":
        return nn.Embedding(len(words), DIM, sparse=True), np.arange(len(words))
    if kind == "unk":  # row n_train is UNK: every test word maps there
        index = np.minimum(np.arange(len(words)), n_train)
        return nn.Embedding(n_train + 1, DIM, sparse=True), index
    variant = kind.split(" ", 1)[1]
    opts = {"frozen": {}, "tuned": {"freeze": False}, "scratch": {"freeze": False},
            "tuned-ngrams": {"freeze": False, "train": "ngrams"}}[variant]
    emb = SubwordEmbedding.from_store(path, **opts)
    if variant == "scratch":  # the same rows and hashing, random start: is pretraining worth it?
        with torch.no_grad():
            for p in emb.parameters():
                p.normal_(0.0, 0.1)
    emb.set_vocabulary(words)
    return emb, np.arange(len(words))


def train_eval(kind: str, path: Path, words, y, n_train: int, epochs: int, seed: int,
               unk_rate: float = 0.05) -> np.ndarray:
    torch.manual_seed(seed)
    emb, index = make_embedding(kind, path, words, n_train)
    model = Classifier(emb, int(y.max()) + 1)
    opt = DenseSparseOptimizer(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    target = torch.from_numpy(y)
    for _ in range(epochs):
        for batch in np.array_split(rng.permutation(n_train), max(1, n_train // 256)):
            x = index[batch]
            if kind == "unk":
                x = np.where(rng.random(len(x)) < unk_rate, n_train, x)
            loss = F.cross_entropy(model(torch.from_numpy(x)), target[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        test = np.arange(n_train, len(words))
        return (model(torch.from_numpy(index[test])).argmax(1).numpy() == y[test])


def accuracy(quick: bool, folder: Path) -> dict:
    per_lang, epochs, seeds = (600, 6, [0]) if quick else (3000, 15, [0, 1, 2])
    words, labels = datasets.language_words(LANGS, per_lang, seed=0)
    y = np.array([LANGS.index(lang) for lang in labels], dtype=np.int64)
    n_train = int(0.7 * len(words))
    path = lid_store(folder)
    in_store = store.open(path).word_ids(words[n_train:]) >= 0
    kinds = ["random", "unk", "vecsmith scratch", "vecsmith frozen", "vecsmith tuned",
             "vecsmith tuned-ngrams"]
    result = {"words": len(words), "train": n_train, "test": len(words) - n_train,
              "test_oov_share_of_store": float(1 - in_store.mean()), "epochs": epochs,
              "seeds": seeds, "models": {}}
    print(f"{len(words)} words, {len(LANGS)} languages; train {n_train}, test "
          f"{len(words) - n_train} (all unseen in training); test words outside the store's "
          f"vocabulary: {1 - in_store.mean():.1%}")
    print("| model | test accuracy | on store-OOV test words | on store-vocabulary test words "
          "| train s |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        accs, oov_accs, voc_accs, secs = [], [], [], []
        for seed in seeds:
            start = time.perf_counter()
            correct = train_eval(kind, path, words, y, n_train, epochs, seed)
            secs.append(time.perf_counter() - start)
            accs.append(correct.mean())
            oov_accs.append(correct[~in_store].mean())
            voc_accs.append(correct[in_store].mean())
        row = {"accuracy": float(np.mean(accs)), "accuracy_sd": float(np.std(accs)),
               "oov_accuracy": float(np.mean(oov_accs)), "vocab_accuracy": float(np.mean(voc_accs)),
               "seconds": float(np.mean(secs))}
        result["models"][kind] = row
        print(f"| {kind} | {row['accuracy']:.3f} ± {row['accuracy_sd']:.3f} | "
              f"{row['oov_accuracy']:.3f} | {row['vocab_accuracy']:.3f} | {row['seconds']:.1f} |",
              flush=True)
    return result


# --------------------------------------------------------------------------------------------
# 2. speed
# --------------------------------------------------------------------------------------------

def synthetic_store(folder: Path, quick: bool) -> tuple[Path, list[str]]:
    nwords, bucket, dim = (20_000, 100_000, 100) if quick else (50_000, 500_000, 100)
    path = folder / f"synthetic-{nwords}-{bucket}.store"
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 12)))
                    for _ in range(int(nwords * 1.1))})[:nwords]
    if not path.exists():
        gen = np.random.default_rng(0)
        store.convert_vectors(words, gen.standard_normal((nwords, dim), dtype=np.float32), path,
                              dtype="float32", search_index=False, quiet=True,
                              ngrams=(gen.standard_normal((bucket, dim), dtype=np.float32),
                                      {"minn": 3, "maxn": 6, "bucket": bucket}))
    return path, words


def query_words(vocab: list[str], n: int, seed: int = 1) -> list[str]:
    """n words, half from the vocabulary, half new strings of the same alphabet."""
    rng = random.Random(seed)
    letters = "".join(sorted(set("".join(vocab[:2000]))))
    new = ["".join(rng.choice(letters) for _ in range(rng.randint(4, 12))) + "q"
           for _ in range(n - n // 2)]
    out = rng.sample(vocab, n // 2) + new
    rng.shuffle(out)
    return out


def best_of(fns: dict, runs: int) -> dict:
    """Interleaved repeats, best time of each (noise on a shared box only adds time)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def speed_one(name: str, path: Path, vocab: list[str], batch: int, runs: int) -> dict:
    words = query_words(vocab, batch)
    v = store.open(path)
    emb = SubwordEmbedding.from_store(path, freeze=False)
    frozen = SubwordEmbedding.from_store(path)
    cached = SubwordEmbedding.from_store(path, freeze=False)
    cached.set_vocabulary(words)
    ids = torch.arange(len(words))
    # the anchor: one EmbeddingBag over [word rows; n-gram rows], row ids precomputed
    rows = emb.rows(words)
    nwords = len(v)
    per_word = [[int(w)] if w >= 0 else
                (nwords + rows.ngram_rows[rows.ngram_offsets[i]:rows.ngram_offsets[i + 1]]).tolist()
                for i, w in enumerate(rows.word_ids)]
    flat = torch.tensor([r for rs in per_word for r in rs], dtype=torch.int64)
    starts = torch.tensor(np.cumsum([0] + [len(rs) for rs in per_word[:-1]]), dtype=torch.int64)
    bag = nn.EmbeddingBag(nwords + emb.index.nrows, v.dim, mode="mean", sparse=True)
    with torch.no_grad():
        bag.weight.copy_(torch.cat([emb.words_table, emb.ngrams_table]))
    weight = torch.randn(len(words), v.dim)

    def train_step(module, f):
        def run():
            for p in module.parameters():  # sparse grads accumulate by concatenation: reset
                p.grad = None
            (f() * weight).sum().backward()
        return run

    fns = {
        "EmbeddingBag, precomputed ids": train_step(bag, lambda: bag(flat, starts)),
        "SubwordEmbedding, cached vocabulary": train_step(cached, lambda: cached(ids)),
        "SubwordEmbedding, strings": train_step(emb, lambda: emb(words)),
    }
    frozen_fns = {
        "EmbeddingBag frozen, precomputed ids": lambda: F.embedding_bag(
            flat, bag.weight.detach(), starts, mode="mean"),
        "SubwordEmbedding frozen, strings": lambda: frozen(words),
        "store.get_many": lambda: v.get_many(words),
    }
    for f in [*fns.values(), *frozen_fns.values()]:
        f()  # warm up (numba compile, allocator)
    with torch.no_grad():
        frozen_best = best_of(frozen_fns, runs)
    best = best_of(fns, runs)
    assert torch.allclose(bag(flat, starts), emb(words), atol=1e-5)
    res = {"store": name, "dim": v.dim, "batch": batch,
           "train_words_per_s": {k: batch / t for k, t in best.items()},
           "frozen_words_per_s": {k: batch / t for k, t in frozen_best.items()}}
    base = res["train_words_per_s"]["EmbeddingBag, precomputed ids"]
    fbase = res["frozen_words_per_s"]["EmbeddingBag frozen, precomputed ids"]
    print(f"\n{name} (dim {v.dim}), batch {batch}, half of it outside the vocabulary")
    print("| forward + backward | words/s | vs EmbeddingBag |\n|---|---|---|")
    for k, wps in res["train_words_per_s"].items():
        print(f"| {k} | {wps:,.0f} | {wps / base:.2f}x |")
    print("| forward only (frozen) | words/s | vs EmbeddingBag |\n|---|---|---|")
    for k, wps in res["frozen_words_per_s"].items():
        print(f"| {k} | {wps:,.0f} | {wps / fbase:.2f}x |")
    return res


def speed(quick: bool, folder: Path) -> list:
    runs = 5 if quick else 20
    words, _ = datasets.language_words(LANGS, 2000, seed=0)
    lid = lid_store(folder)
    synth, vocab = synthetic_store(folder, quick)
    return [speed_one("lid.176 store", lid, store.open(lid).words + words, 4096, runs),
            speed_one("synthetic store", synth, vocab, 4096, runs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["accuracy", "speed", "all"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    OUT.mkdir(exist_ok=True)
    result = {"quick": args.quick, "threads": args.threads, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.what in ("accuracy", "all"):
            result["accuracy"] = accuracy(args.quick, folder)
        if args.what in ("speed", "all"):
            result["speed"] = speed(args.quick, folder)
    (OUT / "nn.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
