"""One optimizer for a model with sparse and dense gradients (vecsmith.optim).

A fastText-style classifier (word -> language, words from `wordfreq`): hashed character
n-grams go through an EmbeddingBag(sparse=True), whose gradient is sparse, then a dense MLP.
torch.optim.Adam refuses the sparse gradient and SparseAdam the dense ones; the usual recipe
is two optimizers and two schedulers. DenseSparseOptimizer takes model.parameters() and gives
the same numbers (bit for bit) with one of each; SMORMS3 is the nearly tuning-free option.

Run:  .venv/bin/python examples/optim_mixed_model.py [--optimizer adam|smorms3] [--steps 400]
"""

from __future__ import annotations

import argparse
import zlib

import numpy as np
import torch
import wordfreq
from torch import nn

from vecsmith.optim import SMORMS3, DenseSparseOptimizer

LANGS = ["en", "de", "fr", "es"]
BUCKETS = 1 << 16


def ngram_ids(word: str) -> torch.Tensor:
    w = f" {word} "
    grams = [w[i:i + n] for n in range(1, 5) for i in range(len(w) - n + 1)]
    return torch.tensor([zlib.crc32(g.encode()) % BUCKETS for g in grams])


def batch(ids: list[torch.Tensor], rows) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [ids[r] for r in rows]
    offsets = torch.tensor([0] + [len(p) for p in parts[:-1]]).cumsum(0)
    return torch.cat(parts), offsets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--optimizer", choices=["adam", "smorms3"], default="adam")
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()

    lists = {lang: set(wordfreq.top_n_list(lang, 6000)) for lang in LANGS}
    words, labels = [], []
    for k, lang in enumerate(LANGS):
        others = set().union(*(v for key, v in lists.items() if key != lang))
        own = sorted(w for w in lists[lang] - others if w.isalpha())
        words += own
        labels += [k] * len(own)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(words))
    words = [words[i] for i in order]
    y = torch.tensor(labels)[order]
    ids = [ngram_ids(w) for w in words]
    n_val = len(words) // 5

    torch.manual_seed(0)
    bag = nn.EmbeddingBag(BUCKETS, 32, mode="mean", sparse=True)
    mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, len(LANGS)))
    model = nn.ModuleList([bag, mlp])

    if args.optimizer == "adam":
        # Adam on dense gradients + lazy Adam (= SparseAdam) on sparse ones, one object.
        opt = DenseSparseOptimizer(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=args.steps)
    else:
        # SMORMS3 takes sparse gradients itself; it has no momentum to cycle.
        opt = SMORMS3(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=args.steps,
                                                    cycle_momentum=False)

    for step in range(args.steps):
        rows = rng.choice(np.arange(n_val, len(words)), 128, replace=False)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(mlp(bag(*batch(ids, rows))), y[rows])
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step:4d}  train loss {loss.item():.3f}")

    with torch.no_grad():
        logits = mlp(bag(*batch(ids, range(n_val))))
    acc = (logits.argmax(1) == y[:n_val]).float().mean().item()
    print(f"{args.optimizer}: validation accuracy {acc:.3f} on {n_val} held-out words")
    # One state_dict covers every parameter, sparse and dense gradients alike.
    state = opt.state_dict()
    print(f"state_dict: {len(state['state'])} parameter states, "
          f"{len(state['param_groups'])} group(s), lr now {opt.param_groups[0]['lr']:.2e}")


if __name__ == "__main__":
    main()
