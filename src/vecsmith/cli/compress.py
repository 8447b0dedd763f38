"""Verbs for tiny stores and fastText-readable files: compress (→ compressed store) and
export-bin (store → fastText .bin v12). Self-contained: imports only the library and typer."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from vecsmith.cli import app


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(1)


@app.command()
def compress(
    model: Path = typer.Argument(..., exists=True, dir_okay=False,
                                 help="fastText .bin, or a store (e.g. made by transfer)."),
    out: Path = typer.Argument(..., help="The compressed store to write (atomically)."),
    size: str = typer.Option("25MB", help="Bound on the whole file (25MB, 300kB, 1.5GB); "
                                          "'none' to set only the counts below."),
    max_words: int = typer.Option(None, "--max-words", min=1, help="Keep at most N words."),
    max_ngrams: int = typer.Option(None, "--max-ngrams", min=0,
                                   help="Keep at most N n-gram rows."),
    pq_subvectors: int = typer.Option(None, "--pq-subvectors", min=1,
                                      help="Sub-vectors per row (must divide dim; default "
                                           "dim/3)."),
    bits: int = typer.Option(8, "--bits", min=1, max=8, help="Bits per code (256 centroids "
                                                             "at 8)."),
    opq: bool = typer.Option(False, "--opq", help="Learn an OPQ rotation before quantizing."),
    refit: bool = typer.Option(True, "--refit/--no-refit",
                               help="Least-squares refit of the kept n-gram rows."),
    seed: int = typer.Option(0, help="Seed for sampling and k-means."),
    fmt: str = typer.Option("store", "--format",
                            help="store (vecsmith) or ftz (a quantized fastText file the "
                                 "official tool loads; the same pruning and refit, one "
                                 "quantizer, size not enforced)."),
):
    """Shrink a model to a store of a given size that still embeds unknown words.

    Keeps the most frequent words and the n-gram rows dropped words use most, refits those
    rows so dropped words are rebuilt from them, and product-quantizes everything. Opens with
    the same API as any store; `vecsmith info OUT` shows what was kept and the quality.

    Examples:
      vecsmith compress cc.en.300.bin cc.en.25MB.store --size 25MB
      vecsmith compress glove.store tiny.store --size none --max-words 20000 --max-ngrams 50000
    """
    import tempfile

    from vecsmith import store
    from vecsmith.store.compress import CompressError
    from vecsmith.store.compress import compress as run

    if fmt not in ("store", "ftz"):
        raise _fail(f"--format must be store or ftz, got {fmt}")
    start = time.perf_counter()
    target = out if fmt == "store" else Path(tempfile.mkstemp(".store", dir=out.parent)[1])
    try:
        path = run(model, target, size=None if size.lower() == "none" else size,
                   max_words=max_words, max_ngrams=max_ngrams, pq_subvectors=pq_subvectors,
                   bits=bits, opq=opq, refit=refit, seed=seed)
        if fmt == "ftz":
            from vecsmith.fasttext.writer import save_fasttext_ftz

            small = store.open(path)
            dsub = small.dim // small.compression["subvectors"]
            path = save_fasttext_ftz(small, out, dsub=dsub, seed=seed)
    except (CompressError, ValueError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if fmt == "ftz":
            target.unlink(missing_ok=True)
    if fmt == "ftz":
        typer.echo(f"wrote {path}: {os.path.getsize(path) / 1e6:,.2f} MB in "
                   f"{time.perf_counter() - start:.1f} s")
        return

    report = store.open(path).compression
    keys = ("kept_words", "kept_ngrams", "subvectors", "bits", "cosine_token_weighted",
            "cosine_heldout_dropped_words")
    typer.echo(f"wrote {path}: {os.path.getsize(path) / 1e6:,.2f} MB in "
               f"{time.perf_counter() - start:.1f} s; "
               + json.dumps({k: report[k] for k in keys if k in report}))


@app.command("export-bin")
def export_bin(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="A store."),
    out: Path = typer.Argument(..., help="The fastText .bin to write (atomically)."),
    output: bool = typer.Option(True, "--output/--no-output",
                                help="Write the (zero) output matrix gensim needs."),
):
    """Write a store as a fastText .bin (v12) that fastText, gensim and vecsmith load with the
    same word vectors (e.g. GloVe given n-grams by `vecsmith transfer`)."""
    from vecsmith.fasttext.writer import FastTextWriteError, save_fasttext_bin
    from vecsmith.store import StoreFormatError

    try:
        path = save_fasttext_bin(str(source), out, output=output)
    except (FastTextWriteError, StoreFormatError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"wrote {path}: {os.path.getsize(path) / 1e6:,.1f} MB")
