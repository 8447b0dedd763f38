"""Verbs for compact stores: convert (any vector source -> store) and export (-> .vec)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app, usage_error
from vecsmith.cli._common import (
    check_input,
    check_output,
    info,
    parents_option,
    quiet_option,
)
from vecsmith.cli.fasttext import SOURCE_HELP, open_source

DTYPES = ("float16", "float32")


def output_path(positional: Path | None, option: Path | None, verb: str) -> Path:
    """The output given either way (`verb SRC OUT` or `verb SRC -o OUT`), not both."""
    if positional is not None and option is not None and positional != option:
        raise usage_error(f"{verb}: give the output once (OUT or -o), not {positional} and "
                          f"{option}")
    out = positional if positional is not None else option
    if out is None:
        raise usage_error(f"{verb}: missing the output (-o/--output FILE)")
    return out


@app.command()
def convert(
    source: str = typer.Argument(..., metavar="SOURCE", help=SOURCE_HELP),
    out_arg: Path = typer.Argument(None, metavar="OUT", show_default=False,
                                   help="The store to write (same as -o)."),
    out: Path = typer.Option(None, "--output", "-o", show_default=False,
                             help="The store to write (replaced atomically)."),
    dtype: str = typer.Option("float16", help="float16 (half the size) or float32 (exact)."),
    max_words: int = typer.Option(None, "--max-words", "-n", min=1,
                                  help="Keep only the N most frequent words."),
    ngrams_for: Path = typer.Option(None, "--ngrams-for",
                                    help="Keep only the n-gram rows these words (one per "
                                         "line) reach; they keep their exact vectors."),
    no_ngrams: bool = typer.Option(False, "--no-ngrams", help="Vocabulary only."),
    search_index: bool = typer.Option(True, "--search-index/--no-search-index",
                                      help="Keep int8 codes of the word rows (+1 byte per "
                                           "value) that make exact CPU neighbour search "
                                           "several times faster."),
    words: Path = typer.Option(None, "--words",
                               help="Word list for a .npy matrix (one word per line)."),
    parents: bool = parents_option(),
    quiet: bool = quiet_option(),
):
    """Convert a model or vector file into one compact store that opens in milliseconds.

    From fastText, the store holds the word vectors precomputed as `get_word_vector` gives
    them plus the n-gram table, so unknown words still get their exact fastText vectors.

    Examples:
      vecsmith convert cc.en.300.bin -o cc.en.300.store
      vecsmith convert cc.en.300.bin small.store --max-words 200000 --ngrams-for mywords.txt
      vecsmith convert glove.6B.50d.txt -o glove.store --dtype float32
    """
    from vecsmith.sources import SourceError, resolve
    from vecsmith.store import convert_fasttext, convert_vectors
    from vecsmith.wordvectors import read_word_list, read_word_vectors

    if dtype not in DTYPES:
        raise usage_error(f"--dtype must be float16 or float32, got {dtype}")
    out = output_path(out_arg, out, "convert")
    for extra, what in ((ngrams_for, "--ngrams-for"), (words, "--words")):
        if extra is not None:
            check_input(extra, what)
    try:
        path, fmt = resolve(source)
    except SourceError as exc:
        raise usage_error(str(exc)) from None
    check_output(out, inputs=[path, ngrams_for, words], parents=parents)
    if fmt == "store":
        raise usage_error(f"{source} is already a store")
    if ngrams_for and fmt != "fasttext":
        raise usage_error("--ngrams-for needs a source with n-grams (a fastText model)")
    start = time.perf_counter()
    if fmt == "fasttext":
        model = open_source(source)
        wanted = read_word_list(ngrams_for) if ngrams_for else None
        convert_fasttext(model, out, dtype=dtype, max_words=max_words, ngrams_for=wanted,
                         no_ngrams=no_ngrams, quiet=quiet, search_index=search_index)
    else:
        info(f"reading {source} ({fmt})", quiet)
        if fmt == "glove-6b-50d":
            from vecsmith.sources import read_matrix

            names, matrix, _ = read_matrix(source, max_words)
        else:
            names, matrix = read_word_vectors(path, max_words, words=words)
        convert_vectors(names, matrix, out, dtype=dtype, source=str(path or source),
                        source_format=fmt, quiet=quiet, search_index=search_index)
    after = os.path.getsize(out)
    if quiet:
        return
    if path is not None:
        before = os.path.getsize(path)
        ratio = f" ({100 * after / before:.0f}% of {path.name}, {before / 1e6:,.1f} MB)"
    else:
        ratio = ""
    info(f"wrote {out}: {after / 1e6:,.1f} MB{ratio} in {time.perf_counter() - start:.1f} s")


@app.command()
def export(store: str = typer.Argument(..., metavar="SOURCE", help=SOURCE_HELP),
           out_arg: Path = typer.Argument(None, metavar="OUT", show_default=False,
                                          help="The .vec file to write (same as -o)."),
           out: Path = typer.Option(None, "--output", "-o", show_default=False,
                                    help="The .vec text file to write (replaced atomically)."),
           fmt: str = typer.Option("vec", "--format",
                                   help="vec: word2vec text; bin: a fastText .bin (v12) of a "
                                        "store, n-grams included, that the official fastText, "
                                        "gensim and vecsmith load with the same vectors."),
           parents: bool = parents_option(),
           quiet: bool = quiet_option()):
    """Write the vocabulary vectors of a store (or any source) as a `.vec` text file
    (`count dim` header, %.5g), or a store as a fastText `.bin`.

    Examples:

      vecsmith export cc.en.300.store -o cc.en.300.vec

      vecsmith export glove-transfer.store -o glove.bin --format bin
    """
    from vecsmith.sources import SourceError, read_matrix, resolve
    from vecsmith.wordvectors import save_word2vec_text

    if fmt not in ("vec", "bin"):
        raise usage_error(f"--format must be vec or bin, got {fmt!r}")
    out = output_path(out_arg, out, "export")
    try:
        path, _fmt = resolve(store)
    except SourceError as exc:
        raise usage_error(str(exc)) from None
    check_output(out, inputs=[path], parents=parents)
    if fmt == "bin":
        if _fmt != "store":
            raise usage_error(f"--format bin writes a store as fastText .bin; {store} is "
                              f"{_fmt}: convert it first")
        from vecsmith.fasttext.writer import save_fasttext_bin

        save_fasttext_bin(str(path), out)
        info(f"wrote {out}: {os.path.getsize(out) / 1e6:,.1f} MB", quiet)
        return
    if _fmt == "store":  # the memory-mapped matrix, converted block by block while writing
        v = open_source(store)
        words, matrix = v.words, v.vectors
    else:
        words, matrix, _ = read_matrix(store)
    save_word2vec_text(out, words, matrix)
    info(f"wrote {out}: {len(words)} words x {matrix.shape[1]}", quiet)
