"""The first answer without the command-line framework.

`vecsmith --help` and `vecsmith vectors MODEL WORD ...` are answered here, before typer, rich
and pydantic are imported: typer alone costs ~0.06 s of CPU to import, its parameter checks
import pydantic (~0.05 s) and its help imports rich (~0.1 s), more than the official fastText
binding spends on the whole answer (benchmarks/RESULTS.md, "First answer from the command
line"). Anything else (options other than -q, words from stdin, `--debug`) and any failure
before output goes to the full command line, which then prints the same answer or the same
one-line error: nothing is written here until the whole answer is computed.
"""

from __future__ import annotations

import sys

# The verbs in `vecsmith --help` order, with their one-line summaries. tests/cli/test_fast.py
# checks them against the typer app; a new verb adds its row here.
VERBS: tuple[tuple[str, str], ...] = (
    ("info", "Show a model's (or a store's) arguments, dictionary, matrices and file facts."),
    ("vectors", "Print word vectors (OOV words included) exactly as `fasttext "
                "print-word-vectors`."),
    ("ngrams", "Print each word's subwords with their input vectors, like `fasttext "
               "print-ngrams`, but for many words in one call."),
    ("nn", "Nearest neighbours by cosine, as `fasttext nn` (OOV queries work where n-grams "
           "exist)."),
    ("analogies", "Answer analogies A - B + C, as `fasttext analogies`."),
    ("predict", "Predict labels for each line, as `fasttext predict-prob` prints them."),
    ("convert", "Convert a model or vector file into one compact store that opens in "
                "milliseconds."),
    ("export", "Write the vocabulary vectors of a store (or any source) as a `.vec` text file "
               "(`count dim` header, %.5g), or a store as a fastText `.bin`."),
    ("cluster", "Cluster words by meaning without choosing the number of clusters."),
    ("transfer", "Learn n-gram vectors for word vectors that have none, so unseen words get "
                 "vectors."),
    ("compress", "Shrink a model to a store of a given size that still embeds unknown "
                 "words."),
    ("serve", "Serve models over HTTP: /v1/embeddings (OpenAI), /vectors, /similar, /analogy, "
              "/predict, a page to try them at /, the API at /docs."),
    ("demo", "Run the tour: read real fastText models, then each capability on packaged data."),
    ("linear", "Online linear models (linear SVM / logistic) over sparse VW-style features."),
    ("rnn", "Character-level RNN text classifiers: train on label<TAB>text, predict, "
            "evaluate."),
    ("stems", "Stem-aware word embeddings (triplet loss): train on words, query neighbours."),
)

SUMMARY = ("Word-embedding tools: read fastText models exactly, serve vectors from a compact "
           "store, cluster without k, train char-RNNs and online linear models.")
EPILOG = ("Run 'vecsmith VERB --help' for each verb's options and examples. Exit codes: 0 done, "
          "1 bad data, 2 bad usage (found before any work starts).")
UNKNOWN = "unknown"  # what `vectors` prints instead of numbers for a word with no vector


def help_text(width: int = 100) -> str:
    """The top-level help, plain text (what `vecsmith --help` prints)."""
    import textwrap

    def para(text: str, indent: str = "  ") -> str:
        return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent)

    name_w = max(len(n) for n, _ in VERBS) + 2
    lines = ["Usage: vecsmith [OPTIONS] VERB [ARGS]...", "", para(SUMMARY), "", para(EPILOG), "",
             "Options:",
             "  --debug    Show the Python traceback of a failure.",
             "  --help     Show this message and exit.", "", "Verbs:"]
    for name, summary in VERBS:
        lines.append(textwrap.fill(summary, width, initial_indent=f"  {name:<{name_w}}",
                                   subsequent_indent=" " * (name_w + 2)))
    return "\n".join(lines) + "\n"


def format_vector(values) -> str:
    """Numbers as fastText's `operator<<(Vector)` prints them: %.5g, each followed by a space."""
    return "".join(f"{float(x):.5g} " for x in values)


def embeds_unknown(m) -> bool:
    """Whether every word gets a vector: the source has n-grams (`describe()["subwords"]`)."""
    return m.describe()["subwords"] is not None


def vectors_or_none(m, words: list[str], all_known: bool) -> list:
    """Each word's vector, None where the source has none (unknown word, no n-grams)."""
    if all_known:
        return list(m.get_word_vectors(words))
    known = [w in m for w in words]
    rows = iter(m.get_word_vectors([w for w, ok in zip(words, known, strict=True) if ok]))
    return [next(rows) if ok else None for ok in known]


def unknown_note(unknown: list[str], total: int, model: str) -> str:
    return (f"{len(unknown)} of {total} words have no vector (not in the vocabulary, and "
            f"{model} has no n-grams): {' '.join(unknown[:10])}")


def _vectors(argv: list[str]) -> int | None:
    quiet, args = False, []
    for a in argv:
        if a in ("-q", "--quiet"):
            quiet = True
        elif a.startswith("-"):
            return None  # --json, --help, a word typer would read as an option: the full way
        else:
            args.append(a)
    if len(args) < 2:
        return None  # words from stdin (it can be read once only) or a usage error
    model, words = args[0], args[1:]
    try:
        from vecsmith.sources import open_vectors

        m = open_vectors(model)
        rows = vectors_or_none(m, words, embeds_unknown(m))
        text = "".join(f"{w} {UNKNOWN}\n" if v is None else f"{w} {format_vector(v)}\n"
                       for w, v in zip(words, rows, strict=True))
    except Exception:
        return None  # the full command line says what was wrong, in its words
    sys.stdout.write(text)
    sys.stdout.flush()
    unknown = [w for w, v in zip(words, rows, strict=True) if v is None]
    if unknown and not quiet:
        sys.stderr.write(unknown_note(unknown, len(words), model) + "\n")
    return 0


def run(argv: list[str]) -> int | None:
    """The exit code when the fast path answered `argv`, None when the full command line
    must (nothing has been printed then)."""
    if argv in ([], ["--help"]):
        sys.stdout.write(help_text())
        return 0
    if argv and argv[0] == "vectors":
        return _vectors(argv[1:])
    return None


def main(argv: list[str] | None = None) -> int | None:
    """`run`, with a closed stdout or Ctrl-C as one line on stderr like the full CLI."""
    from vecsmith.cli._errors import describe, say_error

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        say_error("interrupted; outputs were left as they were")
        return 130
    except OSError as exc:  # stdout closed (`| head`): what the full CLI says too
        say_error(describe(exc))
        return 1
