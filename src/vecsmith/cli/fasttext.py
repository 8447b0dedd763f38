"""Verbs over fastText models: info, vectors, ngrams, nn, analogies, predict."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from vecsmith.cli import app
from vecsmith.cli._common import fail, print_rows, read_words

ModelArg = typer.Argument(..., help="A fastText .bin/.ftz model or a vecsmith store.",
                          exists=True, dir_okay=False, readable=True)


def open_model(path: Path):
    """Open a fastText model or a store (sniffed from the first bytes); format errors become a
    clean CLI error. Both answer the same query methods."""
    from vecsmith.fasttext import FastTextFormatError, load_model
    from vecsmith.store import StoreFormatError, is_store
    from vecsmith.store import open as open_store

    try:
        return open_store(path) if is_store(path) else load_model(path)
    except (FastTextFormatError, StoreFormatError) as exc:
        raise fail(str(exc)) from None


def format_vector(values) -> str:
    """Numbers as fastText's `operator<<(Vector)` prints them: %.5g, each followed by a space."""
    return "".join(f"{float(x):.5g} " for x in values)


@app.command()
def info(model: Path = ModelArg,
         as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """Show a model's (or a store's) arguments, dictionary, matrices and file facts.

    Example: vecsmith info lid.176.ftz
    """
    m = open_model(model)
    if not hasattr(m, "_file"):  # a store
        facts = {"file": str(model), "file_size": os.path.getsize(model), **m.metadata,
                 **{f"tensor.{k}": f"{v.dtype} {list(v.shape)}"
                    for k, v in m._store.tensors.items()}}
        if as_json:
            sys.stdout.write(json.dumps(facts, indent=2) + "\n")
        else:
            print_rows(["field", "value"], facts.items(), title=os.path.basename(model))
        return
    f = m._file
    facts = {
        "file": str(model),
        "file_size": f.file_size,
        "format_version": f.version or "pre-2017 (no magic)",
        **{f"args.{k}": v for k, v in m.args.as_dict().items()},
        "words": m.nwords,
        "labels": m.nlabels,
        "tokens": m.ntokens,
        "pruned": m.pruneidx_size >= 0,
        "pruneidx_size": m.pruneidx_size,
        "quantized_input": f.quant_input,
        "quantized_output": f.qout,
        "input_matrix": "x".join(map(str, f.input.shape)),
        "output_matrix": "x".join(map(str, f.output.shape)),
    }
    if as_json:
        sys.stdout.write(json.dumps(facts, indent=2, default=str) + "\n")
        return
    print_rows(["field", "value"], facts.items(), title=os.path.basename(model))


@app.command()
def vectors(model: Path = ModelArg,
            words: list[str] = typer.Argument(None, help="Words; read from stdin if none.")):
    """Print word vectors (OOV words included) exactly as `fasttext print-word-vectors`.

    One line per word: the word, then each value (%.5g) followed by a space.

    Examples:
      vecsmith vectors cc.en.300.bin king queen unseenword
      cat words.txt | vecsmith vectors cc.en.300.bin > vectors.txt
    """
    m = open_model(model)
    words = read_words(words)
    out = sys.stdout
    step = 65536
    for s in range(0, len(words), step):
        chunk = words[s : s + step]
        for w, v in zip(chunk, m.get_word_vectors(chunk)):
            out.write(f"{w} {format_vector(v)}\n")


@app.command()
def ngrams(model: Path = ModelArg,
           words: list[str] = typer.Argument(None, help="Words; read from stdin if none."),
           distinct: bool = typer.Option(False, "--distinct",
                                         help="Print each distinct n-gram of the whole word "
                                              "list once (bulk export of n-gram vectors).")):
    """Print each word's subwords with their input vectors, like `fasttext print-ngrams`,
    but for many words in one call.

    Lines are `substring v1 ... vn ` (the in-vocabulary word itself comes first, with its
    own input row). Pruned n-grams of .ftz models are left out.

    Examples:
      vecsmith ngrams model.bin where whereabouts
      vecsmith ngrams model.bin --distinct < vocabulary.txt > ngram-vectors.txt
    """
    m = open_model(model)
    out = sys.stdout
    for s, v in m.get_ngram_vectors(read_words(words), distinct=distinct):
        out.write(f"{s} {format_vector(v)}\n")


@app.command()
def nn(model: Path = ModelArg,
       words: list[str] = typer.Argument(None, help="Query words; read from stdin if none."),
       k: int = typer.Option(10, "-k", help="Number of neighbours.", min=1)):
    """Nearest neighbours by cosine, as `fasttext nn` (OOV queries work too).

    Example: vecsmith nn cc.en.300.bin king -k 5
    """
    m = open_model(model)
    rows = []
    for w in read_words(words):
        try:
            rows.extend((w, n, score) for score, n in m.get_nearest_neighbors(w, k))
        except ValueError as exc:  # a word whose vector holds inf or NaN
            raise fail(f"{w}: {exc}") from None
    print_rows(["query", "neighbour", "cosine"], rows, title=f"{k} nearest neighbours")


@app.command()
def analogies(model: Path = ModelArg,
              words: list[str] = typer.Argument(
                  None, help="A B C (A - B + C); or triplets one per line on stdin."),
              k: int = typer.Option(10, "-k", help="Number of answers.", min=1)):
    """Answer analogies A - B + C, as `fasttext analogies`.

    Example: vecsmith analogies cc.en.300.bin berlin germany france
    """
    m = open_model(model)
    flat = read_words(words)
    if len(flat) % 3:
        raise fail(f"analogies take words in threes (A B C); got {len(flat)} words")
    rows = []
    for i in range(0, len(flat), 3):
        a, b, c = flat[i : i + 3]
        try:
            rows.extend((f"{a} - {b} + {c}", w, s) for s, w in m.get_analogies(a, b, c, k))
        except ValueError as exc:
            raise fail(f"{a} - {b} + {c}: {exc}") from None
    print_rows(["query", "answer", "cosine"], rows, title="analogies")


@app.command()
def predict(model: Path = ModelArg,
            text: Path = typer.Argument(Path("-"), help="File of lines, or - for stdin."),
            k: int = typer.Option(1, "-k", help="Labels per line (-1: all).", min=-1),
            threshold: float = typer.Option(0.0, "--threshold", "-t",
                                            help="Drop labels below this probability."),
            probabilities: bool = typer.Option(True, "--prob/--no-prob",
                                               help="Print probabilities after labels.")):
    """Predict labels for each line, as `fasttext predict-prob` prints them.

    Each output line: `label prob label prob ...` (empty when nothing passes the threshold).

    Examples:
      echo "bonjour tout le monde" | vecsmith predict lid.176.ftz -k 2
      vecsmith predict model.bin test.txt --no-prob
    """
    m = open_model(model)
    if m.args.model != 3:
        raise fail(f"predict needs a supervised model; {model} is {m.args.model_name}")
    stream = sys.stdin if str(text) == "-" else open(text, encoding="utf-8",
                                                    errors="surrogateescape")
    out = sys.stdout
    with stream:
        for line in stream:
            labels, probs = m.predict(line.rstrip("\n"), k=k, threshold=threshold)
            parts = []
            for lab, p in zip(labels, probs):
                parts.append(f"{lab} {float(p):.6g}" if probabilities else lab)
            out.write(" ".join(parts) + "\n")
