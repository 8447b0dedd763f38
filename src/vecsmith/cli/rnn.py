"""`vecsmith rnn ...` (character-RNN classifier) and `vecsmith stems ...` (stem embeddings)."""

from __future__ import annotations

from pathlib import Path

import typer

from vecsmith.cli._app import app, sub_app, usage_error
from vecsmith.cli._common import (
    check_device,
    check_input,
    check_output,
    device_option,
    emit_json,
    err_console,
    fail,
    info,
    json_option,
    parents_option,
    print_rows,
    quiet_option,
    read_words,
    set_threads,
    threads_option,
)

rnn_app = sub_app("Character-level RNN text classifiers: train on label<TAB>text, predict, "
                  "evaluate.")
stems_app = sub_app("Stem-aware word embeddings (triplet loss): train on words, query "
                    "neighbours.")
app.add_typer(rnn_app, name="rnn")
app.add_typer(stems_app, name="stems")

CELL_HELP = "RNN cell: gru, lstm, elman or layernorm-gru."


def _choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise usage_error(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _load(kind: str, path: Path, device: str):
    from vecsmith.rnn import CharRNNClassifier, StemEmbedder

    check_input(path, "model", folder=True)
    cls = CharRNNClassifier if kind == "classifier" else StemEmbedder
    return cls.load(path, device=device)


def _lines(path: Path | None) -> list[str]:
    """Texts, one per line, from a file or stdin (an empty input is an error)."""
    from vecsmith.cli._common import open_text

    src = Path("-") if path is None else check_input(path, "input", stdin_ok=True)
    lines = list(open_text(src, "input"))
    if not lines:
        raise fail(f"no lines in {'stdin' if str(src) == '-' else src}: nothing to do")
    return lines


def _print_report(report, title: str) -> None:
    print_rows(["metric", "value"],
               [["examples", report.n], ["accuracy", report.accuracy],
                ["macro precision", report.macro_precision],
                ["macro recall", report.macro_recall], ["macro F1", report.macro_f1]],
               title=title)
    print_rows(["label", "precision", "recall", "f1", "support"],
               [[lab, p, r, f, int(s)] for lab, p, r, f, s in
                zip(report.labels, report.precision, report.recall, report.f1, report.support,
                    strict=True)], title="per class")
    print_rows(["gold \\ predicted", *report.labels],
               [[lab, *map(int, row)] for lab, row in zip(report.labels, report.confusion,
                                                         strict=True)],
               title="confusion matrix")


@rnn_app.command("train")
def rnn_train(
    data: Path = typer.Argument(..., help="label<TAB>text lines ('-' for stdin)."),
    out: Path = typer.Option(None, "--output", "-o", "--out", show_default=False,
                             help="Model folder to write."),
    cell: str = typer.Option("gru", help=CELL_HELP),
    hidden_size: int = typer.Option(128, "--hidden", min=1, max=65_536,
                                    help="Hidden units per direction."),
    embedding_dim: int = typer.Option(32, "--embedding-dim", min=1, max=65_536,
                                      help="Character embedding size."),
    layers: int = typer.Option(1, min=1, max=64, help="Stacked RNN layers."),
    bidirectional: bool = typer.Option(False, help="Read both directions."),
    reverse: bool = typer.Option(False, help="Read each text right to left."),
    pooling: str = typer.Option("last", help="Text vector: last (final states), mean or max "
                                             "over the steps."),
    dropout: float = typer.Option(0.1, min=0.0, max=0.99,
                                  help="Dropout after the character embedding."),
    epochs: int = typer.Option(20, min=1, max=100_000, help="Maximum passes over the data "
                                                           "(early stopping ends sooner)."),
    batch_size: int = typer.Option(128, min=1, max=1_000_000, help="Examples per step."),
    lr: float = typer.Option(3e-3, min=1e-12, help="Learning rate."),
    optimizer: str = typer.Option("adam", help="adam or smorms3."),
    val_fraction: float = typer.Option(0.1, min=0.0, max=0.9,
                                       help="Held-out share for early stopping."),
    patience: int = typer.Option(3, min=1, help="Evaluations without improvement before "
                                                "stopping."),
    eval_every: int = typer.Option(None, min=1, help="Validate every N steps (default: each "
                                                     "epoch)."),
    max_seconds: float = typer.Option(None, min=1e-3, help="Stop training after this many "
                                                           "seconds."),
    seed: int = typer.Option(0, help="Seed for initialisation, split and shuffling."),
    device: str = device_option(),
    threads: int = threads_option(),
    parents: bool = parents_option(),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Train a character-RNN classifier on label<TAB>text lines and save it to a folder.

    Examples:

      vecsmith rnn train langs.tsv -o langid --cell gru --reverse --max-seconds 120

      vecsmith rnn train intents.tsv -o intents --cell layernorm-gru --bidirectional
    """
    from vecsmith.linear.readers import read_tsv
    from vecsmith.rnn import CELLS, TrainConfig, train_classifier
    from vecsmith.rnn.models import POOLING

    if out is None:
        raise usage_error("rnn train: missing the output (-o/--output FOLDER)")
    _choice("--cell", cell, CELLS)
    _choice("--pooling", pooling, POOLING)
    _choice("--optimizer", optimizer, ("adam", "smorms3"))
    check_device(device)
    check_input(data, "data", stdin_ok=True)
    check_output(out, inputs=[data], parents=parents, folder=True)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                      val_fraction=val_fraction, patience=patience, eval_every=eval_every,
                      max_seconds=max_seconds, seed=seed, device=device, quiet=quiet)
    texts, labels = read_tsv(data)
    if len(set(labels)) < 2:
        raise fail(f"{data}: need at least two distinct labels, found {sorted(set(labels))}")
    n = set_threads(threads)
    budget = f", at most {max_seconds:g} s" if max_seconds else ""
    info(f"training on {len(texts):,} texts, {len(set(labels))} labels: {cell} "
         f"{hidden_size} hidden, {n} thread(s), at most {epochs} epochs{budget} "
         "(early stopping usually ends sooner)", quiet)
    result = train_classifier(texts, labels, config=cfg, cell=cell,
                              hidden_size=hidden_size, embedding_dim=embedding_dim,
                              num_layers=layers, bidirectional=bidirectional,
                              reverse=reverse, dropout=dropout, pooling=pooling)
    result.model.save(out)
    info(f"trained {result.examples_seen} examples in {result.seconds:.1f} s "
         f"(best at step {result.best_step}"
         f"{', stopped early' if result.stopped_early else ''}); saved {out}", quiet)
    if result.val_report is not None:
        if as_json:
            emit_json(result.val_report.to_dict())
        else:
            _print_report(result.val_report, "validation")


@rnn_app.command("predict")
def rnn_predict(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
    input_file: Path = typer.Argument(None, metavar="FILE",
                                      help="Texts, one per line (default: stdin)."),
    top_k: int = typer.Option(1, "-k", "--top-k", min=1, max=1_000_000,
                              help="How many labels per text."),
    batch_size: int = typer.Option(1024, min=1, max=1_000_000, help="Texts per forward pass."),
    device: str = device_option(),
    threads: int = threads_option(),
    as_json: bool = json_option(),
) -> None:
    """Print the most probable label and its probability for each input line.

    Output is text, label, probability (TSV when piped; one row per label with -k).

    Examples:

      echo -e "bonjour\\nhello" | vecsmith rnn predict langid

      vecsmith rnn predict langid words.txt -k 3 > predictions.tsv
    """
    import numpy as np

    check_device(device)
    model = _load("classifier", model_path, device)
    texts = _lines(input_file)
    set_threads(threads)
    proba = model.predict_proba(texts, batch_size=batch_size)
    k = min(top_k, len(model.labels))
    rows = []
    for text, p in zip(texts, proba, strict=True):
        for j in np.argsort(-p, kind="stable")[:k]:
            rows.append([text, model.labels[j], float(p[j])])
    print_rows(["text", "label", "probability"], rows, as_json=as_json)


@rnn_app.command("eval")
def rnn_eval(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
    data: Path = typer.Argument(..., help="label<TAB>text lines ('-' for stdin)."),
    as_json: bool = json_option(),
    device: str = device_option(),
    threads: int = threads_option(),
) -> None:
    """Score a model on labelled data: accuracy, per-class and macro P/R/F1, confusion matrix.

    Example:

      vecsmith rnn eval langid test.tsv

      vecsmith rnn eval langid test.tsv --json | jq .macro_precision
    """
    from vecsmith.linear.readers import read_tsv
    from vecsmith.rnn import evaluate

    check_device(device)
    check_input(data, "data", stdin_ok=True)
    model = _load("classifier", model_path, device)
    texts, labels = read_tsv(data)
    set_threads(threads)
    report = evaluate(model, texts, labels)
    if as_json:
        emit_json(report.to_dict())
        return
    _print_report(report, f"{model_path}")


def _words_from(path: Path | None, wordfreq_lang: str | None, top: int
                ) -> tuple[list[str], list[str] | None]:
    """Words (and stems, when the file has word<TAB>stem lines) from a file or wordfreq."""
    from vecsmith.linear.readers import read_lines

    if path is not None:
        words, stems = [], []
        for _n, line in read_lines(path):
            if not line.strip():
                continue
            if "\t" in line:
                w, s = line.split("\t", 1)
                words.append(w.strip())
                stems.append(s.strip())
            else:
                words.extend(line.split())
        if stems and len(stems) != len(words):
            raise fail(f"{path}: mix of word<TAB>stem lines and plain words")
        if not words:
            raise fail(f"{path}: no words in it")
        return words, (stems or None)
    if wordfreq_lang:
        import wordfreq

        words = [w for w in wordfreq.top_n_list(wordfreq_lang, top) if w.isalpha()]
        if not words:
            raise fail(f"wordfreq has no alphabetic words for {wordfreq_lang!r}")
        return words, None
    raise usage_error("give a word file or --wordfreq LANG")


def _check_words_source(path: Path | None, wordfreq_lang: str | None, what: str) -> None:
    if path is not None and wordfreq_lang:
        raise usage_error(f"give {what} as a file or --wordfreq, not both")
    if path is not None:
        check_input(path, what)
    elif wordfreq_lang:
        import wordfreq

        langs = sorted(wordfreq.available_languages())
        if wordfreq_lang not in langs:
            raise usage_error(f"--wordfreq {wordfreq_lang!r}: not a wordfreq language "
                              f"({', '.join(langs[:12])}, ...)")
    else:
        raise usage_error(f"give {what} as a file or --wordfreq LANG")


@stems_app.command("train")
def stems_train(
    words_file: Path = typer.Argument(None, metavar="WORDS",
                                      help="Words (whitespace-separated) or word<TAB>stem lines."),
    out: Path = typer.Option(None, "--output", "-o", "--out", show_default=False,
                             help="Model folder to write."),
    wordfreq_lang: str = typer.Option(None, "--wordfreq", help="Use wordfreq's list for LANG."),
    top: int = typer.Option(30000, min=2, max=10_000_000, help="How many wordfreq words."),
    language: str = typer.Option("english", help="Snowball stemmer language for the groups."),
    steps: int = typer.Option(3000, min=1, max=100_000_000, help="Most training steps (P×K "
                                                                 "batches)."),
    p: int = typer.Option(32, "--stems-per-batch", "--p", min=2, max=100_000,
                          help="Stems per batch (P)."),
    k: int = typer.Option(4, "--words-per-stem", "--k", min=2, max=1000,
                          help="Words per stem per batch (K)."),
    margin: float = typer.Option(0.3, min=1e-6, max=2.0,
                                 help="Triplet margin in cosine distance."),
    mining: str = typer.Option("semi-hard", help="semi-hard or batch-hard negatives."),
    prefix_negatives: float = typer.Option(0.5, min=0.0, max=1.0,
                                           help="Share of stems paired with a stem sharing "
                                                "their prefix."),
    left_to_right: bool = typer.Option(False, "--left-to-right",
                                       help="Read left to right (default: right to left)."),
    cell: str = typer.Option("gru", help=CELL_HELP),
    hidden_size: int = typer.Option(128, "--hidden", min=1, max=65_536,
                                    help="Hidden units per direction."),
    dim: int = typer.Option(64, min=1, max=65_536, help="Output vector size."),
    dropout: float = typer.Option(0.1, min=0.0, max=0.99,
                                  help="Dropout after the character embedding."),
    lr: float = typer.Option(3e-3, min=1e-12, help="Learning rate."),
    max_seconds: float = typer.Option(None, min=1e-3, help="Stop after this many seconds."),
    seed: int = typer.Option(0, help="Seed."),
    device: str = device_option(),
    threads: int = threads_option(),
    parents: bool = parents_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Train word → unit-vector embeddings where words with the same stem are close.

    Words are grouped by their Snowball stem (or by the stems you give as word<TAB>stem).

    Examples:

      vecsmith stems train --wordfreq en --top 30000 -o stems-en --max-seconds 300

      vecsmith stems train words.txt -o stems --mining batch-hard --margin 0.2
    """
    from vecsmith.rnn import CELLS, StemEmbedder, StemTrainConfig

    if out is None:
        raise usage_error("stems train: missing the output (-o/--output FOLDER)")
    _choice("--mining", mining, ("semi-hard", "batch-hard"))
    _choice("--cell", cell, CELLS)
    import snowballstemmer

    _choice("--language", language, snowballstemmer.algorithms())
    check_device(device)
    _check_words_source(words_file, wordfreq_lang, "WORDS")
    check_output(out, inputs=[words_file], parents=parents, folder=True)
    words, stems = _words_from(words_file, wordfreq_lang, top)
    n = set_threads(threads)
    info(f"training stem embeddings on {len(set(words)):,} words, {n} thread(s), at most "
         f"{steps} steps (early stopping usually ends sooner)", quiet)
    cfg = StemTrainConfig(steps=steps, p=p, k=k, margin=margin, mining=mining,
                          prefix_negatives=prefix_negatives, lr=lr, max_seconds=max_seconds,
                          seed=seed, device=device, quiet=quiet)
    result = StemEmbedder.fit(words, stems, config=cfg, language=language, dim=dim,
                              cell=cell, hidden_size=hidden_size, dropout=dropout,
                              reverse=not left_to_right)
    result.model.save(out)
    rec = "" if result.best_recall is None else f", held-out recall@10 {result.best_recall:.3f}"
    steps_done = result.history[-1]["step"] if result.history else 0
    if not quiet:
        err_console.print(f"trained {steps_done} steps in {result.seconds:.1f} s{rec}; "
                          f"saved {out}")


@stems_app.command("query")
def stems_query(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
    queries: list[str] = typer.Argument(None, help="Query words (default: stdin)."),
    words_file: Path = typer.Option(None, "--words", help="Candidate words, one per line."),
    wordfreq_lang: str = typer.Option(None, "--wordfreq", help="Candidates from wordfreq LANG."),
    top: int = typer.Option(30000, min=1, max=10_000_000, help="How many wordfreq words."),
    k: int = typer.Option(10, "-k", min=1, max=100_000, help="How many neighbours per query."),
    device: str = device_option(),
    threads: int = threads_option(),
    as_json: bool = json_option(),
) -> None:
    """Nearest words (cosine) to each query among a candidate list; queries may be unseen words.

    Examples:

      vecsmith stems query stems-en organize running --wordfreq en -k 5

      vecsmith stems query stems --words vocab.txt < queries.txt
    """
    check_device(device)
    _check_words_source(words_file, wordfreq_lang, "--words")
    model = _load("stems", model_path, device)
    candidates, _ = _words_from(words_file, wordfreq_lang, top)
    qs = read_words(queries)
    set_threads(threads)
    index = model.index(candidates)
    rows = []
    for q, hits in zip(qs, index.most_similar(qs, k=k), strict=True):
        rows.extend([q, rank, w, s] for rank, (w, s) in enumerate(hits, 1))
    print_rows(["query", "rank", "word", "cosine"], rows, as_json=as_json)
