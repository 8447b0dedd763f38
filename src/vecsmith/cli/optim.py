"""Showcase for vecsmith.optim (library only: there are no optimizer verbs).

`vecsmith demo` calls :func:`demo`, which trains a small model with sparse and dense gradients
on real words from `wordfreq` with one optimizer object.
"""

from __future__ import annotations

import time
import zlib

from vecsmith.cli._common import console as _console

LANGS = ("en", "de", "fr", "es")


def _data(per_lang: int = 2500):
    import torch

    from vecsmith.datasets import language_words

    words, langs = language_words(LANGS, per_lang)
    labels = torch.as_tensor([LANGS.index(lang) for lang in langs])
    ids = []
    for w in words:
        padded = f" {w} "
        grams = [padded[i:i + n] for n in range(1, 5) for i in range(len(padded) - n + 1)]
        ids.append(torch.as_tensor([zlib.crc32(g.encode()) % (1 << 16) for g in grams]))
    return words, ids, labels


def _batch(ids, rows):
    import torch

    parts = [ids[r] for r in rows]
    offsets = torch.as_tensor([0] + [len(p) for p in parts[:-1]]).cumsum(0)
    return torch.cat(parts), offsets


def demo(console=_console) -> None:
    """Word -> language with an EmbeddingBag(sparse=True) + MLP, trained by one optimizer."""
    import numpy as np
    import torch
    from rich.table import Table
    from torch import nn

    from vecsmith.optim import SMORMS3, DenseSparseOptimizer

    torch.set_num_threads(1)
    words, ids, labels = _data()
    n_val = len(words) // 5
    val = _batch(ids, range(n_val))

    def make():
        torch.manual_seed(0)
        return nn.ModuleDict({
            "bag": nn.EmbeddingBag(1 << 16, 32, mode="mean", sparse=True),
            "mlp": nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, len(LANGS))),
        })

    def forward(m, x):
        return m["mlp"](m["bag"](*x))

    def train(m, opts, steps=300):
        rng = np.random.default_rng(1)
        t0 = time.perf_counter()
        for _ in range(steps):
            rows = rng.choice(np.arange(n_val, len(words)), 128, replace=False)
            for o in opts:
                o.zero_grad()
            nn.functional.cross_entropy(forward(m, _batch(ids, rows)), labels[rows]).backward()
            for o in opts:
                o.step()
        dt = time.perf_counter() - t0
        with torch.no_grad():
            logits = forward(m, val)
            loss = float(nn.functional.cross_entropy(logits, labels[:n_val]))
            acc = float((logits.argmax(1) == labels[:n_val]).float().mean())
        return m, loss, acc, dt

    console.print("[bold]vecsmith.optim[/]: one optimizer for sparse + dense gradients")
    console.print(f"  word -> language ({', '.join(LANGS)}; {len(words) - n_val} training words "
                  "from wordfreq), hashed character 1-4-grams -> EmbeddingBag(sparse=True) -> MLP")
    table = Table(show_header=True)
    for col in ("optimizer", "val loss", "val accuracy", "train s"):
        table.add_column(col)
    m1 = make()
    one = DenseSparseOptimizer(m1.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(one, max_lr=1e-2, total_steps=300)
    _, loss1, acc1, dt1 = train(m1, [_Stepper(one, sched)])
    m2 = make()
    pair = [torch.optim.Adam(m2["mlp"].parameters(), lr=3e-3),
            torch.optim.SparseAdam(m2["bag"].parameters(), lr=3e-3)]
    scheds = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1e-2, total_steps=300) for o in pair]
    _, loss2, acc2, dt2 = train(m2, [_Stepper(o, s) for o, s in zip(pair, scheds, strict=True)])
    m3 = make()
    _, loss3, acc3, dt3 = train(m3, [SMORMS3(m3.parameters(), lr=3e-3)])
    diff = max(float((a - b).detach().abs().max()) for a, b in
               zip(m1.parameters(), m2.parameters(), strict=True))
    table.add_row("DenseSparseOptimizer + OneCycleLR", f"{loss1:.3f}",
                  f"{acc1:.3f}", f"{dt1:.2f}")
    table.add_row("torch Adam + SparseAdam, 2 OneCycleLR",
                  f"{loss2:.3f}", f"{acc2:.3f}", f"{dt2:.2f}")
    table.add_row("SMORMS3 lr 3e-3, no schedule", f"{loss3:.3f}",
                  f"{acc3:.3f}", f"{dt3:.2f}")
    console.print(table)
    same = "bit-identical" if diff == 0 else "NOT identical"
    console.print(f"  one optimizer vs the pair after 300 steps: max |Δparam| = {diff:g} ({same})")


class _Stepper:
    """Step an optimizer, then its scheduler (what a training loop does)."""

    def __init__(self, opt, sched) -> None:
        self.opt, self.sched = opt, sched

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self) -> None:
        self.opt.step()
        self.sched.step()
