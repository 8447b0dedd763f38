"""`vecsmith demo`: a tour of every capability on models and data that packages ship."""

from __future__ import annotations

import importlib
import time

import typer
from rich.table import Table

from vecsmith.cli._app import app
from vecsmith.cli._common import console

# Capability demos after the fastText reader, in README order: (title, module with `demo`).
SECTIONS = [
    ("Compact vector store", "vecsmith.cli.store"),
    ("Subword transfer", "vecsmith.cli.transfer"),
    ("Optimizers for sparse + dense gradients", "vecsmith.cli.optim"),
    ("Character-level RNN and stem embeddings", "vecsmith.cli.rnn"),
    ("Clustering without k", "vecsmith.cli.cluster"),
    ("Online linear models", "vecsmith.cli.linear"),
]


@app.command()
def demo(only: str = typer.Option(None, "--only",
                                  help="Run one section: fasttext, store, transfer, optim, "
                                       "rnn, cluster or linear.")):
    """Run the tour: read real fastText models, then each capability on packaged data."""
    if only in (None, "fasttext"):
        _section("fastText models, read exactly", fasttext_demo)
    for title, module_name in SECTIONS:
        if only not in (None, module_name.rsplit(".", 1)[-1]):
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # capability not built yet
            raise
        if hasattr(module, "demo"):
            _section(title, lambda m=module: m.demo(console))


def _section(title: str, run) -> None:
    console.rule(f"[bold cyan]{title}")
    start = time.perf_counter()
    run()
    console.print(f"[dim]({time.perf_counter() - start:.1f} s)[/]\n")


def fasttext_demo(console=console) -> None:
    """Open two real models, show arguments, vectors (OOV too), subwords, neighbours, labels."""
    from vecsmith.datasets import gensim_test_file, lid176_path
    from vecsmith.fasttext import load_model

    path = gensim_test_file("lee_fasttext_new.bin")
    start = time.perf_counter()
    m = load_model(path)
    console.print(f"Opened [bold]{path.name}[/] in {1000 * (time.perf_counter() - start):.0f} ms "
                  f"(memory-mapped): {m}")
    a = m.args
    console.print(f"  arguments: model={a.model_name} loss={a.loss_name} dim={a.dim} "
                  f"minn={a.minn} maxn={a.maxn} bucket={a.bucket} epoch={a.epoch}")
    table = Table(title="word vectors (first 5 of 10 dims)")
    table.add_column("word")
    table.add_column("in vocabulary")
    table.add_column("vector")
    for w in ["government", "governmentality", "australiaa"]:
        v = m.get_word_vector(w)
        table.add_row(w, "yes" if w in m else "no (from n-grams)",
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
