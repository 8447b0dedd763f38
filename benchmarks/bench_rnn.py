"""Benchmark vecsmith.rnn on real packaged data (wordfreq, snowballstemmer); no downloads.

1. Word → language identification (wordfreq lists, words found in several languages' lists
   removed, split by word): a time-budgeted headline run, then the grid
   cell × reading direction × embedding dropout at a shorter budget per config.
2. Packing inside the model vs a per-example loop vs padding without packing (training
   throughput, same weights and data), and the LayerNorm-GRU's cost relative to nn.GRU
   (TorchScript scan and eager scan).
3. Stems: English wordfreq words grouped by Snowball (snowballstemmer 3.x), held-out stems;
   recall@10 of same-stem words for the triplet model vs character 3-gram Jaccard vs
   fastText subword vectors (official `fasttext`, supervised on the same stem labels).

    python benchmarks/bench_rnn.py            # full (about 15 min on 2 cores)
    python benchmarks/bench_rnn.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from vecsmith.rnn import (
    CharRNNClassifier,
    CharVocab,
    TrainConfig,
    evaluate,
    pad_ids,
    train_classifier,
)
from vecsmith.rnn.layernorm_gru import LayerNormGRU
from vecsmith.rnn.triplet import (
    StemEmbedder,
    StemTrainConfig,
    group_by_stem,
    train_stem_embedder,
)

console = Console()
LATIN8 = ["en", "de", "fr", "es", "pl", "tr", "fi", "hu"]
MIXED10 = ["en", "de", "fr", "es", "pl", "tr", "ru", "el", "ko", "ar"]


# ------------------------------------------------------------------ data
def lid_data(langs: list[str], per_lang: int, min_len: int, dedupe_top: int, seed: int = 0):
    """(train, test) lists of (word, lang): top `per_lang` alphabetic words per language,
    minus every word found in another language's top-`dedupe_top` list (loanwords, names,
    shared words); 10% of the words held out (split by word)."""
    import wordfreq

    lists = {lang: [w for w in wordfreq.top_n_list(lang, 3 * per_lang)
                    if w.isalpha() and len(w) >= min_len][:per_lang] for lang in langs}
    big = {lang: set(wordfreq.top_n_list(lang, dedupe_top)) for lang in langs}
    count: Counter[str] = Counter()
    for lang, ws in lists.items():
        for w in ws:
            if any(w in big[o] for o in langs if o != lang):
                count[w] += 2
            else:
                count[w] += 1
    data = [(w, lang) for lang, ws in lists.items() for w in ws if count[w] == 1]
    random.Random(seed).shuffle(data)
    n_test = len(data) // 10
    return data[n_test:], data[:n_test], sum(1 for c in count.values() if c > 1)


def split(pairs):
    return [w for w, _ in pairs], [lab for _, lab in pairs]


# ------------------------------------------------------------------ 1. language id
def lid_run(train, test, budget, seed=0, **settings):
    cfg = TrainConfig(epochs=1000, batch_size=256, lr=3e-3, max_seconds=budget, patience=1000,
                      eval_every=200, seed=seed, quiet=True, device="cpu")
    t0 = time.perf_counter()
    result = train_classifier(*split(train), config=cfg, **settings)
    wall = time.perf_counter() - t0
    rep = evaluate(result.model, *split(test))
    return {"train_seconds": round(result.seconds, 1), "wall_seconds": round(wall, 1),
            "examples_seen": result.examples_seen,
            "accuracy": rep.accuracy, "macro_precision": rep.macro_precision,
            "macro_recall": rep.macro_recall, "macro_f1": rep.macro_f1,
            "per_class_precision": dict(zip(rep.labels, map(float, rep.precision), strict=True)),
            "best_step": result.best_step, "settings": settings}


def section_lid(args, out):
    hidden = args.hidden
    for name, langs in (("latin8", LATIN8), ("mixed10", MIXED10)):
        train, test, dropped = lid_data(langs, args.per_lang, args.min_len, args.dedupe_top)
        console.rule(f"[bold]language id {name}: {len(langs)} languages, {len(train)} train / "
                     f"{len(test)} test words ({dropped} shared words removed)")
        res = lid_run(train, test, args.budget, cell="gru", hidden_size=args.headline_hidden,
                      embedding_dim=32, bidirectional=True, dropout=0.1)
        res.update(languages=langs, n_train=len(train), n_test=len(test), shared_removed=dropped)
        out[f"lid_{name}"] = res
        console.print(f"bidirectional GRU H={args.headline_hidden}, dropout 0.1, "
                      f"{args.budget:.0f} s budget: "
                      f"accuracy {res['accuracy']:.4f}, macro P {res['macro_precision']:.4f}, "
                      f"macro F1 {res['macro_f1']:.4f} ({res['examples_seen']} examples seen)")
        console.print({k: round(v, 3) for k, v in res["per_class_precision"].items()})

    train, test, _ = lid_data(LATIN8, args.per_lang, args.min_len, args.dedupe_top)
    grid = []
    cells = ["gru", "lstm", "elman", "layernorm-gru"]
    combos = [(c, r, d) for c in cells for r in (False, True) for d in (0.0, 0.1)]
    if args.quick:
        combos = [(c, False, 0.0) for c in cells] + [("gru", True, 0.0), ("gru", False, 0.1)]
    for cell, rev, drop in combos:
        res = lid_run(train, test, args.grid_budget, cell=cell, hidden_size=hidden,
                      embedding_dim=32, reverse=rev, dropout=drop)
        grid.append({"cell": cell, "reverse": rev, "dropout": drop, **res})
        console.print(f"  {cell:14s} {'RTL' if rev else 'LTR'} dropout {drop:.1f}: "
                      f"acc {res['accuracy']:.4f} macro P {res['macro_precision']:.4f} "
                      f"({res['examples_seen']} examples in {res['train_seconds']} s)")
    out["lid_grid"] = {"languages": LATIN8, "hidden": hidden, "budget_seconds": args.grid_budget, "rows": grid}
    table = Table(title=f"latin8 grid, H={hidden}, {args.grid_budget:.0f} s per config")
    for col in ("cell", "reading", "dropout", "accuracy", "macro P", "macro F1", "examples"):
        table.add_column(col)
    for g in grid:
        table.add_row(g["cell"], "RTL" if g["reverse"] else "LTR", f"{g['dropout']:.1f}",
                      f"{g['accuracy']:.4f}", f"{g['macro_precision']:.4f}",
                      f"{g['macro_f1']:.4f}", str(g["examples_seen"]))
    console.print(table)


# ------------------------------------------------------------------ 2. throughput
class PaddedNoPack(torch.nn.Module):
    """The same weights run on the padded batch (no packing); the state at len-1 is gathered."""

    def __init__(self, model: CharRNNClassifier):
        super().__init__()
        self.m = model

    def forward(self, batch):
        enc = self.m.encoder
        x = enc.embedding_dropout(enc.embedding(batch.ids))
        out, _ = enc.rnn(x)
        last = out[torch.arange(len(batch)), batch.lengths.clamp(min=1) - 1]
        return self.m.head(last)


def time_steps(step_fn, batches, min_seconds):
    step_fn(batches[0])  # warm-up
    n_ex, t0, i = 0, time.perf_counter(), 0
    while True:
        b = batches[i % len(batches)]
        step_fn(b)
        n_ex += len(b[1])
        i += 1
        el = time.perf_counter() - t0
        if el >= min_seconds and i >= 3:
            return n_ex / el, el / i * 1000


def section_throughput(args, out):
    train, _, _ = lid_data(LATIN8, args.per_lang, args.min_len, args.dedupe_top)
    words, labels = split(train)
    console.rule("[bold]packing inside the model: training throughput (same weights, data)")
    torch.manual_seed(0)
    base = CharRNNClassifier.build(words, labels, cell="gru", hidden_size=args.hidden,
                                   embedding_dim=32)
    lab_id = {lab: i for i, lab in enumerate(base.labels)}
    rng = np.random.default_rng(0)
    bs = 256
    batches = []
    for _ in range(20):
        idx = rng.choice(len(words), bs, replace=False)
        ids = base.vocab.encode_batch([words[i] for i in idx])
        batches.append((ids, torch.tensor([lab_id[labels[i]] for i in idx])))
    secs = args.tp_seconds
    results = {}

    def trainer(model, forward):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(b):
            ids, y = b
            loss = F.cross_entropy(forward(ids), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    import copy
    m1 = copy.deepcopy(base)
    results["packed (vecsmith, in forward)"] = time_steps(
        trainer(m1, lambda ids: m1(pad_ids(ids))), batches, secs)
    m2 = copy.deepcopy(base)
    pad = PaddedNoPack(m2)
    results["padded, no packing"] = time_steps(
        trainer(m2, lambda ids: pad(pad_ids(ids))), batches, secs)
    m3 = copy.deepcopy(base)
    results["per-example loop"] = time_steps(
        trainer(m3, lambda ids: torch.cat([m3(pad_ids([s])) for s in ids])), batches[:2],
        secs)
    # equality check of the three forward paths on one batch
    with torch.no_grad():
        base.eval()
        b = pad_ids(batches[0][0])
        diff_pad = float((base(b) - PaddedNoPack(base)(b)).abs().max())
        diff_loop = float((base(b) - torch.cat([base(pad_ids([s])) for s in batches[0][0]]))
                          .abs().max())
    packed_rate = results["packed (vecsmith, in forward)"][0]
    table = Table(title=f"GRU H={args.hidden}, batch {bs}, forward+backward+Adam, "
                        f"{torch.get_num_threads()} thread(s)")
    for col in ("method", "examples/s", "ms/step", "packed ÷ method"):
        table.add_column(col)
    for name, (rate, ms) in results.items():
        table.add_row(name, f"{rate:,.0f}", f"{ms:.1f}", f"{packed_rate / rate:.2f}×")
    console.print(table)
    console.print(f"max |packed − padded-gather| = {diff_pad:.2e}, "
                  f"max |packed − per-example| = {diff_loop:.2e}")
    out["throughput"] = {"batch": bs, "hidden": args.hidden,
                         "rows": {k: {"examples_per_s": r, "ms_per_step": ms}
                                  for k, (r, ms) in results.items()},
                         "max_abs_diff_padded": diff_pad, "max_abs_diff_loop": diff_loop}

    console.rule("[bold]LayerNorm-GRU cost vs nn.GRU (same packed batches)")
    rows = {}
    for name, make in (("nn.GRU", lambda: torch.nn.GRU(32, args.hidden, batch_first=True)),
                       ("LayerNormGRU (TorchScript scan)",
                        lambda: LayerNormGRU(32, args.hidden, script=True)),
                       ("LayerNormGRU (eager scan)",
                        lambda: LayerNormGRU(32, args.hidden, script=False))):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(len(base.vocab), 32, padding_idx=0)
        rnn = make()
        head = torch.nn.Linear(args.hidden, len(base.labels))
        params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)

        def step(b, emb=emb, rnn=rnn, head=head, opt=opt):
            ids, y = b
            batch = pad_ids(ids)
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                emb(batch.ids), batch.lengths.clamp(min=1), batch_first=True,
                enforce_sorted=False)
            _, h = rnn(packed)
            loss = F.cross_entropy(head(h[-1]), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rows[name] = time_steps(step, batches, secs)
    gru_ms = rows["nn.GRU"][1]
    table = Table(title=f"H={args.hidden}, batch {bs}, forward+backward+Adam")
    for col in ("rnn", "ms/step", "÷ nn.GRU"):
        table.add_column(col)
    for name, (_, ms) in rows.items():
        table.add_row(name, f"{ms:.1f}", f"{ms / gru_ms:.2f}×")
    console.print(table)
    out["layernorm_gru_cost"] = {k: {"ms_per_step": ms, "ratio_vs_nn_gru": ms / gru_ms}
                                 for k, (_, ms) in rows.items()}


# ------------------------------------------------------------------ 3. stems
def stem_data(n_words: int, seed: int = 0):
    """English wordfreq words grouped by Snowball stem; 20% of stems held out. Returns the
    training groups, all words (the retrieval pool), their stems, and the query indices:
    held-out words that have another held-out word with the same stem."""
    import wordfreq

    words = [w for w in wordfreq.top_n_list("en", n_words) if w.isalpha() and w.isascii()
             and len(w) >= 3]
    groups = group_by_stem(words, "english")
    stems = sorted(groups)
    random.Random(seed).shuffle(stems)
    n_test = len(stems) // 5
    test_stems = set(stems[:n_test])
    train = {s: groups[s] for s in stems[n_test:]}
    pool = [w for s in stems for w in groups[s]]
    labels = [s for s in stems for _ in groups[s]]
    queries = [i for i, s in enumerate(labels) if s in test_stems and len(groups[s]) > 1]
    return train, pool, labels, queries


def pool_recall(sim_rows, labels, queries, k=10, block=1024):
    """recall@k over the whole pool: for each query, same-stem words among its k nearest
    (itself excluded) divided by min(k, same-stem words); `sim_rows(idx)` gives [len(idx), N]."""
    _, g = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    g = torch.as_tensor(g)
    others = torch.bincount(g)[g] - 1
    total = 0.0
    for start in range(0, len(queries), block):
        q = torch.as_tensor(queries[start:start + block])
        sims = torch.as_tensor(sim_rows(q)).float()
        sims[torch.arange(len(q)), q] = -float("inf")
        top = sims.topk(k, dim=1).indices
        hits = (g[top] == g[q].unsqueeze(1)).sum(1).float()
        total += float((hits / others[q].clamp(max=k).float()).sum())
    return total / len(queries)


def jaccard_rows(words, n=3):
    """A function giving 3-gram Jaccard similarity rows of the pool (sparse, blocked)."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, w in enumerate(words):
        s = f"<{w}>"
        for gram in {s[i:i + n] for i in range(max(len(s) - n + 1, 1))}:
            rows.append(r)
            cols.append(vocab.setdefault(gram, len(vocab)))
    import scipy.sparse as sp

    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                      shape=(len(words), len(vocab)))
    sizes = np.asarray(m.sum(1)).ravel()
    mt = m.T.tocsr()

    def sim(q):
        q = q.numpy()
        inter = (m[q] @ mt).toarray()
        return inter / (sizes[q, None] + sizes[None, :] - inter)
    return sim


def fasttext_vectors(train_groups, words, dim, epoch, seed_dir):
    import fasttext

    path = Path(seed_dir) / "stems.txt"
    with open(path, "w", encoding="utf-8") as fh:
        for s, ws in train_groups.items():
            if len(ws) < 2:
                continue
            for w in ws:
                fh.write(f"__label__{s} {w}\n")
    ft = fasttext.train_supervised(str(path), dim=dim, minn=3, maxn=6, epoch=epoch, lr=0.5,
                                   loss="hs", minCount=1, thread=max(1, torch.get_num_threads()),
                                   verbose=0, seed=0)
    vec = np.stack([ft.get_word_vector(w) for w in words])
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
    return torch.from_numpy(vec)


def section_stems(args, out):
    train, pool, labels, queries = stem_data(args.stem_words)
    n_train = sum(map(len, train.values()))
    console.rule(f"[bold]stems: train {n_train} words / {len(train)} stems; pool {len(pool)} "
                 f"words; {len(queries)} held-out query words")
    res = {"train_words": n_train, "pool_words": len(pool), "queries": len(queries)}
    t0 = time.perf_counter()
    res["jaccard_3gram"] = pool_recall(jaccard_rows(pool), labels, queries)
    console.print(f"char 3-gram Jaccard recall@10: {res['jaccard_3gram']:.4f} "
                  f"({time.perf_counter() - t0:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        vec = fasttext_vectors(train, pool, 64, args.ft_epoch, tmp)
        res["fasttext_supervised_subwords"] = pool_recall(lambda q: vec[q] @ vec.T, labels,
                                                          queries)
        res["fasttext_seconds"] = round(time.perf_counter() - t0, 1)
    console.print(f"fastText subword vectors (supervised on stems, minn 3 maxn 6, dim 64, "
                  f"{args.ft_epoch} epochs): recall@10 {res['fasttext_supervised_subwords']:.4f}"
                  f" ({res['fasttext_seconds']} s)")
    torch.manual_seed(0)
    untrained = StemEmbedder(CharVocab.build(pool), dim=64, hidden_size=args.hidden,
                             embedding_dim=32, reverse=True).eval()
    vec = torch.from_numpy(untrained.embed(pool))
    res["untrained encoder (control)"] = pool_recall(lambda q: vec[q] @ vec.T, labels, queries)
    console.print(f"untrained right-to-left encoder (control): recall@10 "
                  f"{res['untrained encoder (control)']:.4f}")
    runs = [("triplet GRU right-to-left", True)]
    if not args.quick:
        runs.append(("triplet GRU left-to-right", False))
    for name, rev in runs:
        cfg = StemTrainConfig(steps=100000, p=64, k=4, margin=0.3, mining="semi-hard",
                              max_seconds=args.stem_budget, eval_every=200, patience=1000,
                              quiet=True, device="cpu")
        r = train_stem_embedder(train, cfg, hidden_size=args.hidden, embedding_dim=32, dim=64,
                                reverse=rev, dropout=0.1)
        vec = torch.from_numpy(r.model.embed(pool))
        rec = pool_recall(lambda q, vec=vec: vec[q] @ vec.T, labels, queries)
        res[name] = rec
        res[name + " steps"] = r.history[-1]["step"]
        console.print(f"{name} ({r.history[-1]['step']} steps, {r.seconds:.0f} s): "
                      f"recall@10 {rec:.4f}")
        if rev:
            idx = r.model.index(pool)
            for q in ("organizations", "running", "happily", "unbelievably"):
                hits = idx.most_similar(q, k=5)
                console.print(f"  {q}: " + ", ".join(f"{w} {s:.2f}" for w, s in hits))
    out["stems"] = res


def plot(results: dict, path: Path) -> None:
    """Bar chart of the language-id grid (macro precision per config) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["lid_grid"]["rows"]
    names = [f"{r['cell'].replace('layernorm-gru', 'LN-GRU')}\n"
             f"{'RTL' if r['reverse'] else 'LTR'} d={r['dropout']:.1f}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.6), 3.2), dpi=100)
    colors = {"gru": "#4477aa", "lstm": "#66ccee", "elman": "#ccbb44", "layernorm-gru": "#ee6677"}
    ax.bar(range(len(rows)), [r["macro_precision"] for r in rows],
           color=[colors[r["cell"]] for r in rows])
    ax.set_xticks(range(len(rows)), names, fontsize=6)
    lo = min(r["macro_precision"] for r in rows)
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_ylabel("macro precision")
    ax.set_title(f"word → language ({len(results['lid_grid']['languages'])} languages), "
                 f"{results['lid_grid']['budget_seconds']:.0f} s CPU per config", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    console.print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="finish in under a minute")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest for these small models on a busy box)")
    ap.add_argument("--sections", default="lid,throughput,stems")
    ap.add_argument("--json", default="benchmarks/out/rnn.json")
    ap.add_argument("--plot-only", action="store_true",
                    help="only redraw benchmarks/out/rnn_grid.png from --json")
    args = ap.parse_args()
    if args.plot_only:
        plot(json.loads(Path(args.json).read_text()), Path("benchmarks/out/rnn_grid.png"))
        return
    q = args.quick
    args.per_lang = 4000 if q else 10000
    args.min_len = 3
    args.hidden = 128 if q else 256
    args.headline_hidden = 128 if q else 192
    args.dedupe_top = 50000 if q else 200000
    args.budget = 5.0 if q else 120.0
    args.grid_budget = 1.5 if q else 22.0
    args.tp_seconds = 0.5 if q else 5.0
    args.stem_words = 8000 if q else 50000
    args.stem_budget = 4.0 if q else 120.0
    args.ft_epoch = 5 if q else 25
    torch.set_num_threads(args.threads)
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
           "torch": torch.__version__, "threads": args.threads, "quick": q,
           "command": " ".join([Path(sys.executable).name, *sys.argv])}
    t0 = time.perf_counter()
    sections = args.sections.split(",")
    if "lid" in sections:
        section_lid(args, out)
    if "throughput" in sections:
        section_throughput(args, out)
    if "stems" in sections:
        section_stems(args, out)
    out["total_seconds"] = round(time.perf_counter() - t0, 1)
    console.print(f"total {out['total_seconds']} s")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    if "lid_grid" in out:
        plot(out, Path(args.json).with_name("rnn_grid.png"))


if __name__ == "__main__":
    main()
