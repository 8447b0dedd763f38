"""Query verbs over any vector source: info, vectors, ngrams, nn, analogies, predict."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from vecsmith.cli._app import app, usage_error
from vecsmith.cli._common import (
    check_input,
    emit_json,
    fail,
    json_option,
    open_text,
    print_rows,
    quiet_option,
    read_words,
)
from vecsmith.cli._common import (
    info as status,
)
from vecsmith.cli._fast import UNKNOWN, embeds_unknown, format_vector, unknown_note
from vecsmith.cli._fast import vectors_or_none as _vectors_or_none

SOURCE_HELP = ("A fastText .bin/.ftz, a vecsmith store, .vec/GloVe text, word2vec binary, "
               ".npy, or packaged data: lid176, glove-6b-50d, lee.")


def source_argument(help: str = SOURCE_HELP):
    return typer.Argument(..., metavar="MODEL", help=help, show_default=False)


def open_source(source: str, **kw):
    """`vecsmith.sources.open_vectors`, with its errors as one-line CLI errors."""
    from vecsmith.sources import SourceError, open_vectors

    try:
        return open_vectors(source, **kw)
    except SourceError as exc:
        raise usage_error(str(exc)) from None


@app.command()
def info(model: str = source_argument(), as_json: bool = json_option()):
    """Show a model's (or a store's) arguments, dictionary, matrices and file facts.

    Example: vecsmith info lid176 --json
    """
    m = open_source(model)
    d = m.describe()
    if d["kind"] == "store":
        facts = {"file": str(model), **m.metadata,
                 **{k: d[k] for k in ("words", "dim", "dtype", "ngram_rows")}}
        if os.path.isfile(str(d["path"])):  # not for plain vectors loaded into a temporary
            from vecsmith.store.format import read_store

            facts.update({f"tensor.{k}": f"{v.dtype} {list(v.shape)}"
                          for k, v in read_store(d["path"]).tensors.items()})
            facts["file_size"] = os.path.getsize(d["path"])
    else:
        f = m.model_file
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
        emit_json(facts)
        return
    print_rows(["field", "value"], facts.items(), title=os.path.basename(str(model)))


@app.command()
def vectors(model: str = source_argument(),
            words: list[str] = typer.Argument(None, help="Words; read from stdin if none."),
            as_json: bool = json_option(), quiet: bool = quiet_option()):
    """Print word vectors (OOV words included) exactly as `fasttext print-word-vectors`.

    One line per word: the word, then each value (%.5g) followed by a space. A word with no
    vector (not in a store's vocabulary, and the store has no n-grams) prints as
    `word unknown`, and stderr counts them.

    Examples:
      vecsmith vectors cc.en.300.bin king queen unseenword
      cat words.txt | vecsmith vectors cc.en.300.bin > vectors.txt
    """
    m = open_source(model)
    words = read_words(words)
    out = sys.stdout
    unknown = []
    docs = []
    all_known = embeds_unknown(m)
    step = 65536
    for s in range(0, len(words), step):
        chunk = words[s : s + step]
        for w, v in zip(chunk, _vectors_or_none(m, chunk, all_known), strict=True):
            if v is None:
                unknown.append(w)
            if as_json:
                docs.append({"word": w, "vector": None if v is None else
                             [float(x) for x in v]})
            else:
                out.write(f"{w} {UNKNOWN}\n" if v is None else f"{w} {format_vector(v)}\n")
    if as_json:
        emit_json(docs)
    if unknown:
        status(unknown_note(unknown, len(words), model), quiet)


@app.command()
def ngrams(model: str = source_argument(),
           words: list[str] = typer.Argument(None, help="Words; read from stdin if none."),
           distinct: bool = typer.Option(False, "--distinct",
                                         help="Print each distinct n-gram of the whole word "
                                              "list once (bulk export of n-gram vectors)."),
           as_json: bool = json_option()):
    """Print each word's subwords with their input vectors, like `fasttext print-ngrams`,
    but for many words in one call.

    Lines are `substring v1 ... vn ` (the in-vocabulary word itself comes first, with its
    own input row). Pruned n-grams of .ftz models are left out.

    Examples:
      vecsmith ngrams model.bin where whereabouts
      vecsmith ngrams model.bin --distinct < vocabulary.txt > ngram-vectors.txt
    """
    m = open_source(model)
    words = read_words(words)
    pairs = m.get_ngram_vectors(words, distinct=distinct)
    if as_json:
        emit_json([{"ngram": s, "vector": [float(x) for x in v]} for s, v in pairs])
        return
    out = sys.stdout
    for s, v in pairs:
        out.write(f"{s} {format_vector(v)}\n")


def _no_vector(m, word: str, all_known: bool) -> str | None:
    """Why `word` has no usable query vector, or None when it has one."""
    import numpy as np

    if not all_known and word not in m:
        return "not in the vocabulary (no n-grams to build it from)"
    v = m[word]  # VectorSource.__getitem__
    if not np.any(v):
        return "no vector (none of its n-grams is known)"
    if not np.all(np.isfinite(v)):  # the model is broken, not the query: a data error
        raise fail(f"{word}: its vector in the model holds inf or NaN: it has no neighbours")
    return None


@app.command()
def nn(model: str = source_argument(),
       words: list[str] = typer.Argument(None, help="Query words; read from stdin if none."),
       k: int = typer.Option(10, "-k", help="How many neighbours.", min=1, max=100_000),
       as_json: bool = json_option()):
    """Nearest neighbours by cosine, as `fasttext nn` (OOV queries work where n-grams exist).

    A query with no vector gets one row saying why, not a crash.

    Example: vecsmith nn cc.en.300.bin king -k 5
    """
    m = open_source(model)
    words = read_words(words)
    rows = []
    all_known = embeds_unknown(m)
    for w in words:
        why = _no_vector(m, w, all_known)
        if why is not None:
            rows.append((w, None, None, why))
            continue
        rows.extend((w, n, float(score), None) for n, score in m.most_similar(w, k))
    _print_answers(rows, ["query", "neighbour", "cosine"], f"{k} nearest neighbours", as_json)


def _print_answers(rows, header, title, as_json):
    if as_json:
        emit_json([{header[0]: q, header[1]: a, header[2]: s, **({"error": e} if e else {})}
                   for q, a, s, e in rows])
        return
    print_rows(header, [(q, a if e is None else f"({e})", s) for q, a, s, e in rows],
               title=title)


@app.command()
def analogies(model: str = source_argument(),
              words: list[str] = typer.Argument(
                  None, help="A B C (A - B + C); or triplets one per line on stdin."),
              k: int = typer.Option(10, "-k", help="How many answers.", min=1, max=100_000),
              as_json: bool = json_option()):
    """Answer analogies A - B + C, as `fasttext analogies`.

    Example: vecsmith analogies cc.en.300.bin berlin germany france
    """
    m = open_source(model)
    flat = read_words(words)
    if len(flat) % 3:
        raise usage_error(f"analogies take words in threes (A B C); got {len(flat)} words")
    rows = []
    all_known = embeds_unknown(m)
    for i in range(0, len(flat), 3):
        a, b, c = flat[i : i + 3]
        query = f"{a} - {b} + {c}"
        why = next((f"{w}: {r}" for w in (a, b, c) if (r := _no_vector(m, w, all_known))), None)
        if why is not None:
            rows.append((query, None, None, why))
            continue
        rows.extend((query, w, float(s), None) for w, s in m.analogy(a, b, c, k))
    _print_answers(rows, ["query", "answer", "cosine"], "analogies", as_json)


PREDICT_CHUNK = 4096  # lines per predict call: one compiled call each, bounded memory


def _per_text(result, n: int) -> list[tuple]:
    """(labels, probs) per text from `FastTextModel.predict(list)`, whether it returns a pair
    (labels per text, probs per text) or a list of (labels, probs) pairs."""
    import numpy as np

    second = result[1] if len(result) == 2 else None
    if second is not None and len(second) == n and all(
            isinstance(p, np.ndarray) and p.dtype.kind == "f" for p in second):
        return list(zip(result[0], second, strict=True))
    return [tuple(r) for r in result]


@app.command()
def predict(model: str = source_argument("A supervised fastText model (.bin/.ftz) or lid176."),
            text: Path = typer.Argument(Path("-"), help="File of lines, or - for stdin."),
            k: int = typer.Option(1, "-k", help="How many labels per line (-1: all).",
                                  min=-1, max=1_000_000),
            threshold: float = typer.Option(0.0, "--threshold", "-t", min=0.0, max=1.0,
                                            help="Drop labels below this probability."),
            probabilities: bool = typer.Option(True, "--prob/--no-prob",
                                               help="Print probabilities after labels."),
            as_json: bool = json_option()):
    """Predict labels for each line, as `fasttext predict-prob` prints them.

    Each output line: `label prob label prob ...` (empty when nothing passes the threshold).
    Lines are read in chunks of 4,096, so a long stdin streams.

    Examples:
      echo "bonjour tout le monde" | vecsmith predict lid176 -k 2
      vecsmith predict model.bin test.txt --no-prob
    """
    if k == 0:
        raise usage_error("-k must be >= 1 (or -1 for all labels), got 0")
    from vecsmith.sources import SourceError, resolve

    check_input(text, "text", stdin_ok=True)
    try:
        _path, fmt = resolve(model)
    except SourceError as exc:
        raise usage_error(str(exc)) from None
    if fmt != "fasttext":
        kind = "a vector store" if fmt == "store" else f"plain vectors ({fmt})"
        raise fail(f"predict needs a supervised fastText model; {model} holds {kind}")
    m = open_source(model)
    if m.describe()["model"] != "supervised":
        raise fail(f"predict needs a supervised model; {model} is {m.describe()['model']}")
    out = sys.stdout
    seen = 0
    docs = []
    chunk: list[str] = []

    def flush():
        for labels, probs in _per_text(m.predict(chunk, k=k, threshold=threshold), len(chunk)):
            if as_json:
                docs.append([{"label": lab, "probability": float(p)}
                             for lab, p in zip(labels, probs, strict=True)])
                continue
            parts = [f"{lab} {float(p):.6g}" if probabilities else lab
                     for lab, p in zip(labels, probs, strict=True)]
            out.write(" ".join(parts) + "\n")
        chunk.clear()

    for line in open_text(text, "text"):
        chunk.append(line)
        seen += 1
        if len(chunk) == PREDICT_CHUNK:
            flush()
    if chunk:
        flush()
    if seen == 0:
        raise fail(f"no lines to predict: {'stdin' if str(text) == '-' else text} is empty")
    if as_json:
        emit_json(docs)
