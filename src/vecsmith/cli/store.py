"""Verbs for compact stores: convert (fastText or plain vectors → store) and export (→ .vec)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app
from vecsmith.cli._common import console, fail, print_rows
from vecsmith.cli.fasttext import format_vector


@app.command()
def convert(
    source: Path = typer.Argument(..., exists=True, dir_okay=False,
                                  help="fastText .bin/.ftz, .vec/GloVe text, word2vec binary "
                                       "or .npy (+ --words)."),
    out: Path = typer.Argument(..., help="The store to write (replaced atomically)."),
    dtype: str = typer.Option("float16", help="float16 (half the size) or float32 (exact)."),
    max_words: int = typer.Option(None, "--max-words", min=1,
                                  help="Keep only the N most frequent words."),
    ngrams_for: Path = typer.Option(None, "--ngrams-for", exists=True, dir_okay=False,
                                    help="Keep only the n-gram rows these words (one per "
                                         "line) reach; they keep their exact vectors."),
    no_ngrams: bool = typer.Option(False, "--no-ngrams", help="Vocabulary only."),
    search_index: bool = typer.Option(True, "--search-index/--no-search-index",
                                      help="Keep int8 codes of the word rows (+1 byte per "
                                           "value) that make exact CPU neighbour search "
                                           "several times faster."),
    words: Path = typer.Option(None, "--words", exists=True, dir_okay=False,
                               help="Word list for a .npy matrix (one word per line)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Convert a model or vector file into one compact store that opens in milliseconds.

    From fastText, the store holds the word vectors precomputed as `get_word_vector` gives
    them plus the n-gram table, so unknown words still get their exact fastText vectors.

    Examples:
      vecsmith convert cc.en.300.bin cc.en.300.store
      vecsmith convert cc.en.300.bin small.store --max-words 200000 --ngrams-for mywords.txt
      vecsmith convert glove.6B.50d.txt glove.store --dtype float32
    """
    from vecsmith.store import convert_fasttext, convert_vectors
    from vecsmith.wordvectors import detect_format, read_word_list, read_word_vectors

    if dtype not in ("float16", "float32"):
        raise fail(f"--dtype must be float16 or float32, got {dtype}")
    start = time.perf_counter()
    fmt = detect_format(source)
    if fmt == "fasttext" or (fmt == "unknown" and source.suffix in (".bin", ".ftz")):
        from vecsmith.fasttext import FastTextFormatError, load_model

        try:
            model = load_model(source)
        except FastTextFormatError as exc:
            raise fail(str(exc)) from None
        wanted = read_word_list(ngrams_for) if ngrams_for else None
        convert_fasttext(model, out, dtype=dtype, max_words=max_words, ngrams_for=wanted,
                         no_ngrams=no_ngrams, quiet=quiet, search_index=search_index)
    elif fmt == "store":
        raise fail(f"{source} is already a store")
    else:
        if ngrams_for:
            raise fail("--ngrams-for needs a source with n-grams (a fastText model)")
        names, matrix = read_word_vectors(source, max_words, words=words)
        convert_vectors(names, matrix, out, dtype=dtype, source=str(source),
                        source_format=fmt, quiet=quiet, search_index=search_index)
    before, after = os.path.getsize(source), os.path.getsize(out)
    console.print(f"wrote {out}: {after / 1e6:,.1f} MB ({100 * after / before:.0f}% of "
                  f"{source.name}, {before / 1e6:,.1f} MB) in {time.perf_counter() - start:.1f} s")


@app.command()
def export(store: Path = typer.Argument(..., exists=True, dir_okay=False, help="A store."),
           out: Path = typer.Argument(..., help="The .vec text file to write.")):
    """Write a store's vocabulary vectors as a `.vec` text file (`count dim` header, %.5g).

    Example: vecsmith export cc.en.300.store cc.en.300.vec
    """
    from vecsmith._atomic import atomic_open
    from vecsmith.store import StoreFormatError
    from vecsmith.store import open as open_store

    try:
        v = open_store(store)
    except StoreFormatError as exc:
        raise fail(str(exc)) from None
    with atomic_open(out, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(f"{len(v)} {v.dim}\n")
        words = v.words
        for s in range(0, len(v), 65536):
            block = v.vectors[s : s + 65536].astype("float32")
            fh.writelines(f"{w} {format_vector(row)}\n" for w, row in zip(words[s:], block))
    console.print(f"wrote {out}: {len(v)} words x {v.dim}")


def demo(console=console) -> None:
    """Convert a shipped model to a float16 store, compare sizes, open it and query it."""
    import tempfile

    from vecsmith import store
    from vecsmith.datasets import gensim_test_file
    from vecsmith.fasttext import load_model

    src = gensim_test_file("lee_fasttext_new.bin")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lee.store"
        t = time.perf_counter()
        store.convert_fasttext(src, out, quiet=True)
        convert_s = time.perf_counter() - t
        t = time.perf_counter()
        v = store.open(out)
        open_ms = 1000 * (time.perf_counter() - t)
        console.print(f"{src.name}: {os.path.getsize(src) / 1e3:,.0f} kB -> float16 store "
                      f"{os.path.getsize(out) / 1e3:,.0f} kB "
                      f"({100 * os.path.getsize(out) / os.path.getsize(src):.0f}%), converted in "
                      f"{convert_s:.2f} s, opened in {open_ms:.1f} ms")
        m = load_model(src)
        rows = []
        for w in ["government", "governmentality", "australiaa"]:
            a, b = v[w], m.get_word_vector(w)
            cos = float(a @ b / ((a @ a) ** 0.5 * (b @ b) ** 0.5))
            rows.append((w, "yes" if w in v else "no (n-grams)", f"{cos:.6f}"))
        print_rows(["word", "in vocabulary", "cosine to the .bin's vector"], rows,
                   title="store vs model", tsv=False)
        console.print("  nearest to 'governmentality' (OOV): " + ", ".join(
            f"{w} ({s:.3f})" for w, s in v.most_similar("governmentality", k=5)))
