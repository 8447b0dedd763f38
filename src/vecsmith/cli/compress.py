"""`vecsmith compress`: a model or store shrunk to a given size (a compressed store, or a
quantized fastText `.ftz`). The work is `vecsmith.store.compress`; this verb checks and prints."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app, usage_error
from vecsmith.cli._common import (
    check_input,
    check_output,
    emit_json,
    fail,
    info,
    json_option,
    parents_option,
    quiet_option,
)
from vecsmith.cli.store import output_path

_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def _check_size(size: str) -> str | None:
    """'none', or a size such as 25MB / 300kB / 1.5GB (a usage error otherwise)."""
    if size.lower() == "none":
        return None
    text = size.strip().lower()
    unit = next((u for u in ("kb", "mb", "gb", "b") if text.endswith(u)), None)
    try:
        value = float(text[: -len(unit)] if unit else text)
    except ValueError:
        value = -1.0
    if unit is None or not value > 0:
        raise usage_error(f"--size must look like 25MB, 300kB or 1.5GB (or none), got {size!r}")
    return size


@app.command()
def compress(
    model: str = typer.Argument(..., metavar="MODEL",
                                help="fastText .bin, or a store (e.g. made by transfer)."),
    out_arg: Path = typer.Argument(None, metavar="OUT", show_default=False,
                                   help="The compressed store (or .ftz) to write (same as -o)."),
    out: Path = typer.Option(None, "--output", "-o", show_default=False,
                             help="The compressed store (or .ftz) to write (atomically)."),
    size: str = typer.Option("25MB", "--size", help="Bound on the whole file (25MB, 300kB, "
                                                    "1.5GB); 'none' to set only the counts."),
    max_words: int = typer.Option(None, "--max-words", min=1, help="Keep at most N words."),
    max_ngrams: int = typer.Option(None, "--max-ngrams", min=0,
                                   help="Keep at most N n-gram rows."),
    pq_subvectors: int = typer.Option(None, "--pq-subvectors", min=1,
                                      help="Sub-vectors per row (must divide dim; default "
                                           "dim/3)."),
    bits: int = typer.Option(8, "--bits", min=1, max=8, help="Bits per code (256 centroids "
                                                             "at 8)."),
    opq: bool = typer.Option(False, "--opq", help="Learn an OPQ rotation before quantizing."),
    stages: int = typer.Option(3, "--stages", min=0, max=8,
                               help="Most residual PQ stages for the most used rows (0: "
                                    "one code a row)."),
    dense_tier: bool = typer.Option(True, "--dense-tier/--no-dense-tier",
                                    help="Large budgets: the most used rows as int16 with a "
                                         "float32 scale a row (beats float16)."),
    untrained: bool = typer.Option(True, "--untrained/--drop-untrained",
                                   help="Mark the n-gram rows training never moved (one bit a "
                                        "bucket) and regenerate them from fastText's seed "
                                        "when read, instead of dropping them (stores only: "
                                        "a .ftz cannot hold the marks)."),
    refit: bool | None = typer.Option(None, "--refit/--no-refit", show_default=False,
                                      help="Least-squares refit of the kept n-gram rows "
                                           "(default: on; off for a store made by `vecsmith "
                                           "transfer`, whose rows are a fit already)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and k-means."),
    fmt: str = typer.Option("store", "--format",
                            help="store (vecsmith) or ftz (a quantized fastText file the "
                                 "official tool loads; the same pruning and refit, one "
                                 "quantizer, size not enforced)."),
    parents: bool = parents_option(),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Shrink a model to a store of a given size that still embeds unknown words.

    Keeps the most frequent words and the n-gram rows dropped words use most, refits those
    rows so dropped words are rebuilt from them, and product-quantizes everything. Opens with
    the same API as any store; `vecsmith info OUT` shows what was kept and the quality.

    Examples:

      vecsmith compress cc.en.300.bin cc.en.25MB.store --size 25MB

      vecsmith compress glove.store -o tiny.store --size none --max-words 20000 --max-ngrams 50000

      vecsmith compress model.bin model.ftz --format ftz --size none --max-words 50000
    """
    if fmt not in ("store", "ftz"):
        raise usage_error(f"--format must be store or ftz, got {fmt!r}")
    size = _check_size(size)
    out = output_path(out_arg, out, "compress")
    src = check_input(model, "model")
    check_output(out, inputs=[src], parents=parents)
    from vecsmith import store
    from vecsmith.store.compress import CompressError
    from vecsmith.store.compress import compress as run

    info(f"compressing {src} to {size or 'the given counts'} ({fmt})", quiet)
    start = time.perf_counter()
    target = out if fmt == "store" else out.with_name(f".{out.name}.{os.getpid()}.store")
    try:
        path = run(str(src), target, size=size, max_words=max_words, max_ngrams=max_ngrams,
                   pq_subvectors=pq_subvectors, bits=bits, opq=opq, refit=refit, seed=seed,
                   max_stages=stages, dense_tier=dense_tier,
                   untrained=untrained and fmt == "store")  # a .ftz cannot mark them
        report = store.open(path).compression
        if fmt == "ftz":
            from vecsmith.fasttext.writer import save_fasttext_ftz

            small = store.open(path)
            path = save_fasttext_ftz(small, out, dsub=small.dim // report["subvectors"],
                                     seed=seed)
    except (CompressError, ValueError) as exc:
        raise fail(str(exc)) from None
    finally:
        if fmt == "ftz":
            target.unlink(missing_ok=True)
    doc = {"output": str(path), "bytes": os.path.getsize(path), "format": fmt,
           "seconds": round(time.perf_counter() - start, 2), **report}
    if as_json:
        emit_json(doc)
        return
    keys = ("kept_words", "kept_ngrams", "untrained_ngrams", "subvectors", "bits",
            "cosine_token_weighted", "cosine_heldout_dropped_words")
    summary = ", ".join(f"{k} {report[k]}" for k in keys if k in report)
    info(f"wrote {path}: {doc['bytes'] / 1e6:,.2f} MB in {doc['seconds']:.1f} s; {summary}",
         False)
