"""`vecsmith transfer`: give word vectors without n-grams an n-gram table (subword transfer)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app, usage_error
from vecsmith.cli._common import (
    DEFAULT_THREADS,
    check_device,
    check_input,
    check_output,
    device_option,
    info,
    parents_option,
    quiet_option,
    threads_option,
)
from vecsmith.cli.fasttext import SOURCE_HELP
from vecsmith.cli.store import output_path


@app.command()
def transfer(
    vectors: str = typer.Argument(..., metavar="SOURCE", help=SOURCE_HELP),
    out_arg: Path = typer.Argument(None, metavar="OUT", show_default=False,
                                   help="The store to write (same as -o)."),
    out: Path = typer.Option(None, "--output", "-o", show_default=False,
                             help="The store to write (replaced atomically)."),
    minn: int = typer.Option(3, min=1, max=32, help="Shortest character n-gram."),
    maxn: int = typer.Option(6, min=1, max=32, help="Longest character n-gram."),
    bucket: int = typer.Option(None, min=1, max=2**31 - 1, show_default=False,
                               help="Hash buckets (n-gram table rows). Default: sized to the "
                                    "vocabulary, 10 a word, between 10,000 and 1,000,000 "
                                    "(vecsmith.transfer.auto_bucket)."),
    epochs: int = typer.Option(None, min=1, max=10_000, show_default=False,
                               help="Most training passes (early stopping ends sooner). "
                                    "Default: sized to the vocabulary, about 400,000 word "
                                    "updates, between 8 and 30 (vecsmith.transfer.auto_epochs)."),
    dtype: str = typer.Option("float16", help="Store dtype: float16 (half the size) or "
                                              "float32."),
    max_words: int = typer.Option(None, "--max-words", "-n", min=1,
                                  help="Use only the N first (most frequent) words."),
    words: Path = typer.Option(None, "--words", exists=True, dir_okay=False,
                               help="Word list for a .npy matrix (one word per line)."),
    init: str = typer.Option("lstsq", help="Start: lstsq (the least-squares table, then the "
                                           "loss refines it), random or mean."),
    lstsq_iter: int = typer.Option(60, "--lstsq-iter", min=1, max=100_000,
                                   help="CGLS iterations of the least-squares fit (the start "
                                        "is its best held-out iterate, the blend its last)."),
    lstsq_blend: float = typer.Option(0.25, "--lstsq-blend", min=0.0, max=1.0,
                                      help="Weight of the plain least-squares table mixed "
                                           "into the trained one (0: the trained table "
                                           "alone; more keeps more true neighbours of "
                                           "unseen words, less keeps more cosine)."),
    loss: str = typer.Option("cosine+norm", help="cosine+norm, cosine or mse."),
    contrast: float = typer.Option(0.0, min=0.0,
                                   help="Weight of an InfoNCE term (0: off): each word's "
                                        "prediction must pick its own vector out of the "
                                        "batch's and 1024 sampled words' vectors."),
    temperature: float = typer.Option(0.05, min=1e-6, help="InfoNCE temperature."),
    weighting: str = typer.Option("log-rank", help="log-rank (frequent words count more; "
                                                   "input must be most frequent first) or "
                                                   "uniform."),
    ngram_dropout: float = typer.Option(0.2, "--ngram-dropout", min=0.0, max=0.95,
                                        help="Fraction of n-grams dropped per training step."),
    lr: float = typer.Option(0.05, min=1e-12,
                             help="SMORMS3 step cap (Adam: learning rate)."),
    optimizer: str = typer.Option("smorms3", help="smorms3 or adam."),
    holdout: float = typer.Option(0.02, min=0.0, max=0.5,
                                  help="Fraction of words kept out for early stopping."),
    device: str = device_option(),
    threads: int = threads_option(),
    seed: int = typer.Option(0, help="Seed for the initial table, split, order and dropout."),
    parents: bool = parents_option(),
    quiet: bool = quiet_option(),
):
    """Learn n-gram vectors for word vectors that have none, so unseen words get vectors.

    An n-gram table is fitted by least squares (CGLS, stopped where held-out words fit
    best), then trained from there (torch, sparse EmbeddingBag, SMORMS3) so that the
    fastText-style mean of a word's character n-gram rows points where its vector points;
    a quarter of the plain least-squares table is then blended in (--lstsq-blend).
    The output store keeps every vocabulary vector as it was and answers any other word
    (misspellings, rare forms, new words) with the mean of its n-gram rows, exactly as a
    fastText model would. Open it with vecsmith.store.open or any vecsmith verb.

    Examples:
      vecsmith transfer glove-6b-50d -o glove.store
      vecsmith transfer glove.6B.300d.txt glove300.store --bucket 2000000 --dtype float32
      vecsmith transfer vectors.npy my.store --words vocab.txt --max-words 100000
      vecsmith transfer glove-6b-50d glove.store --contrast 0.1   # + InfoNCE term
      vecsmith nn glove.store unbelieveable
    """
    from vecsmith import transfer as tr
    from vecsmith._deps import resolve_device
    from vecsmith.sources import SourceError, read_matrix, resolve

    if dtype not in ("float16", "float32"):
        raise usage_error(f"--dtype must be float16 or float32, got {dtype}")
    if minn > maxn:
        raise usage_error(f"--minn ({minn}) must not exceed --maxn ({maxn})")
    for name, value, allowed in (("--init", init, tr.INITS), ("--loss", loss, tr.LOSSES),
                                 ("--weighting", weighting, ("log-rank", "uniform")),
                                 ("--optimizer", optimizer, ("smorms3", "adam"))):
        if value not in allowed:
            raise usage_error(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    check_device(device)
    out = output_path(out_arg, out, "transfer")
    try:
        path, fmt = resolve(vectors)
    except SourceError as exc:
        raise usage_error(str(exc)) from None
    if words is not None:
        check_input(words, "--words")
    check_output(out, inputs=[path, words], parents=parents)
    if fmt == "fasttext":
        raise usage_error(f"{vectors} is a fastText model: it has n-grams already; use "
                          "'vecsmith convert' to make a store from it")
    start = time.perf_counter()
    info(f"reading {vectors} ({fmt})", quiet)
    names, matrix, fmt = read_matrix(vectors, max_words, words)
    sized = tr.TransferConfig(bucket=bucket, epochs=epochs).sized_for(len(names))
    bucket, epochs = sized.bucket, sized.epochs  # the library's rule, shown before the work
    threads = DEFAULT_THREADS if threads is None else threads
    info(f"{len(names):,} words x {matrix.shape[1]}: fitting {bucket:,} n-gram rows "
         f"({minn}-{maxn} chars) on {resolve_device(device)}, {threads} thread(s); at most "
         f"{epochs} epochs, "
         "early stopping usually ends sooner", quiet)
    table = tr.fit(names, matrix, minn=minn, maxn=maxn, bucket=bucket, epochs=epochs,
                   init=init, lstsq_iter=lstsq_iter, lstsq_blend=lstsq_blend,
                   contrast=contrast, temperature=temperature, loss=loss,
                   weighting=weighting, ngram_dropout=ngram_dropout, lr=lr,
                   optimizer=optimizer, holdout=holdout, device=device, threads=threads,
                   seed=seed, quiet=quiet)
    table.to_store(names, matrix, out, dtype=dtype, source=vectors, source_format=fmt,
                   quiet=quiet)
    start_note = (f"least-squares start ({len(table.lstsq_history)} CGLS iterations), "
                  if init == "lstsq" and holdout > 0 else "")
    stopped = (f"{start_note}best epoch {table.best_epoch} of {len(table.history)}, held-out "
               f"mean cosine {table.heldout_cosine:.3f}" if holdout > 0
               else f"{len(table.history)} epochs")
    info(f"wrote {out}: {len(names):,} words x {matrix.shape[1]} + {bucket:,} n-gram "
         f"rows ({dtype}, {os.path.getsize(out) / 1e6:,.1f} MB); {stopped}; trained "
         f"on {table.device} in {table.seconds:.1f} s, total "
         f"{time.perf_counter() - start:.1f} s", quiet)
