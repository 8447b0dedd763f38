"""`vecsmith rnn ...` (character-RNN classifier) and `vecsmith stems ...` (stem embeddings)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from vecsmith.cli._app import app
from vecsmith.cli._common import err_console, fail, print_rows

rnn_app = typer.Typer(
    help="Character-level RNN text classifiers: train on label<TAB>text, predict, evaluate.",
    no_args_is_help=True,
)
stems_app = typer.Typer(
    help="Stem-aware word embeddings (triplet loss): train on words, query neighbours.",
    no_args_is_help=True,
)
app.add_typer(rnn_app, name="rnn")
app.add_typer(stems_app, name="stems")

CELL_HELP = "RNN cell: gru, lstm, elman or layernorm-gru."


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels) from label<TAB>text lines; blank lines are skipped."""
    texts, labels = [], []
    try:
        fh = sys.stdin if str(path) == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            if "\t" not in line:
                raise fail(f"{path}:{n}: expected label<TAB>text, found no tab")
            label, text = line.split("\t", 1)
            if not label:
                raise fail(f"{path}:{n}: empty label")
            labels.append(label)
            texts.append(text)
    if not texts:
        raise fail(f"{path}: no examples")
    return texts, labels


def _read_lines(path: Path | None) -> list[str]:
    if path is None or str(path) == "-":
        if sys.stdin.isatty():
            raise fail("give a file or pipe texts on stdin (one per line)")
        return [x.rstrip("\n").rstrip("\r") for x in sys.stdin]
    try:
        return [x.rstrip("\n").rstrip("\r") for x in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc


def _load(kind: str, path: Path, device: str):
    from vecsmith.rnn import CharRNNClassifier, ModelFormatError, StemEmbedder

    cls = CharRNNClassifier if kind == "classifier" else StemEmbedder
    try:
        return cls.load(path, device=device)
    except ModelFormatError as exc:
        raise fail(str(exc)) from exc


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
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    cell: str = typer.Option("gru", help=CELL_HELP),
    hidden_size: int = typer.Option(128, "--hidden", help="Hidden units per direction."),
    embedding_dim: int = typer.Option(32, "--embedding-dim", help="Character embedding size."),
    layers: int = typer.Option(1, help="Stacked RNN layers."),
    bidirectional: bool = typer.Option(False, help="Read both directions."),
    reverse: bool = typer.Option(False, help="Read each text right to left."),
    pooling: str = typer.Option("last", help="Text vector: last (final states), mean or max "
                                             "over the steps."),
    dropout: float = typer.Option(0.1, help="Dropout after the character embedding."),
    epochs: int = typer.Option(20, help="Maximum passes over the data."),
    batch_size: int = typer.Option(128, help="Examples per step."),
    lr: float = typer.Option(3e-3, help="Learning rate."),
    optimizer: str = typer.Option("adam", help="adam or smorms3."),
    val_fraction: float = typer.Option(0.1, help="Held-out share for early stopping."),
    patience: int = typer.Option(3, help="Evaluations without improvement before stopping."),
    eval_every: int = typer.Option(None, help="Validate every N steps (default: each epoch)."),
    max_seconds: float = typer.Option(None, help="Stop training after this many seconds."),
    seed: int = typer.Option(0, help="Seed for initialisation, split and shuffling."),
    device: str = typer.Option("auto", help="cpu, cuda or auto."),
    threads: int = typer.Option(None, help="torch CPU threads (1 is often fastest for small "
                                           "models on a busy machine)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a character-RNN classifier on label<TAB>text lines and save it to a folder.

    Examples:

      vecsmith rnn train langs.tsv --out langid --cell gru --reverse --max-seconds 120

      vecsmith rnn train intents.tsv -o intents --cell layernorm-gru --bidirectional
    """
    from vecsmith.rnn import CELLS, TrainConfig, train_classifier

    if cell not in CELLS:
        raise fail(f"--cell must be one of {', '.join(CELLS)}")
    _threads(threads)
    texts, labels = read_tsv(data)
    if len(set(labels)) < 2:
        raise fail("need at least two distinct labels")
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                      val_fraction=val_fraction, patience=patience, eval_every=eval_every,
                      max_seconds=max_seconds, seed=seed, device=device, quiet=quiet)
    try:
        result = train_classifier(texts, labels, config=cfg, cell=cell,
                                  hidden_size=hidden_size, embedding_dim=embedding_dim,
                                  num_layers=layers, bidirectional=bidirectional,
                                  reverse=reverse, dropout=dropout, pooling=pooling)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    result.model.save(out)
    err_console.print(f"trained {result.examples_seen} examples in {result.seconds:.1f} s "
                      f"(best at step {result.best_step}"
                      f"{', stopped early' if result.stopped_early else ''}); saved {out}")
    if result.val_report is not None:
        _print_report(result.val_report, "validation")


@rnn_app.command("predict")
def rnn_predict(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
    input_file: Path = typer.Argument(None, metavar="[FILE]",
                                      help="Texts, one per line (default: stdin)."),
    top_k: int = typer.Option(1, "--top-k", "-k", help="Labels to show per text."),
    batch_size: int = typer.Option(1024, help="Texts per forward pass."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
) -> None:
    """Print the most probable label and its probability for each input line.

    Output is text, label, probability (TSV when piped; one row per label with --top-k).

    Examples:

      echo -e "bonjour\\nhello" | vecsmith rnn predict langid

      vecsmith rnn predict langid words.txt --top-k 3 > predictions.tsv
    """
    import numpy as np

    model = _load("classifier", model_path, device)
    texts = _read_lines(input_file)
    proba = model.predict_proba(texts, batch_size=batch_size)
    k = max(1, min(top_k, len(model.labels)))
    rows = []
    for text, p in zip(texts, proba, strict=True):
        for j in np.argsort(-p, kind="stable")[:k]:
            rows.append([text, model.labels[j], float(p[j])])
    print_rows(["text", "label", "probability"], rows)


@rnn_app.command("eval")
def rnn_eval(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
    data: Path = typer.Argument(..., help="label<TAB>text lines ('-' for stdin)."),
    as_json: bool = typer.Option(False, "--json", help="Print all metrics as JSON."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
) -> None:
    """Score a model on labelled data: accuracy, per-class and macro P/R/F1, confusion matrix.

    Example:

      vecsmith rnn eval langid test.tsv

      vecsmith rnn eval langid test.tsv --json | jq .macro_precision
    """
    from vecsmith.rnn import evaluate

    model = _load("classifier", model_path, device)
    texts, labels = read_tsv(data)
    try:
        report = evaluate(model, texts, labels)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    _print_report(report, f"{model_path}")


def _words_from(path: Path | None, wordfreq_lang: str | None, top: int) -> tuple[list[str],
                                                                                list[str] | None]:
    """Words (and stems, when the file has word<TAB>stem lines) from a file or wordfreq."""
    if path is not None:
        words, stems = [], []
        for line in _read_lines(path):
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
        return words, (stems or None)
    if wordfreq_lang:
        try:
            import wordfreq
        except ImportError as exc:
            raise fail("--wordfreq needs the wordfreq package") from exc
        return [w for w in wordfreq.top_n_list(wordfreq_lang, top) if w.isalpha()], None
    raise fail("give a word file or --wordfreq LANG")


@stems_app.command("train")
def stems_train(
    words_file: Path = typer.Argument(None, metavar="[WORDS]",
                                      help="Words (whitespace-separated) or word<TAB>stem lines."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    wordfreq_lang: str = typer.Option(None, "--wordfreq", help="Use wordfreq's list for LANG."),
    top: int = typer.Option(30000, help="How many wordfreq words."),
    language: str = typer.Option("english", help="Snowball stemmer language for the groups."),
    steps: int = typer.Option(3000, help="Training steps (P×K batches)."),
    p: int = typer.Option(32, help="Stems per batch."),
    k: int = typer.Option(4, help="Words per stem per batch."),
    margin: float = typer.Option(0.3, help="Triplet margin in cosine distance."),
    mining: str = typer.Option("semi-hard", help="semi-hard or batch-hard negatives."),
    prefix_negatives: float = typer.Option(0.5, help="Share of stems paired with a stem "
                                                     "sharing their prefix."),
    left_to_right: bool = typer.Option(False, "--left-to-right",
                                       help="Read left to right (default: right to left)."),
    cell: str = typer.Option("gru", help=CELL_HELP),
    hidden_size: int = typer.Option(128, "--hidden", help="Hidden units per direction."),
    dim: int = typer.Option(64, help="Output vector size."),
    dropout: float = typer.Option(0.1, help="Dropout after the character embedding."),
    lr: float = typer.Option(3e-3, help="Learning rate."),
    max_seconds: float = typer.Option(None, help="Stop after this many seconds."),
    seed: int = typer.Option(0, help="Seed."),
    device: str = typer.Option("auto", help="cpu, cuda or auto."),
    threads: int = typer.Option(None, help="torch CPU threads."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train word → unit-vector embeddings where words with the same stem are close.

    Words are grouped by their Snowball stem (or by the stems you give as word<TAB>stem).

    Examples:

      vecsmith stems train --wordfreq en --top 30000 --out stems-en --max-seconds 300

      vecsmith stems train words.txt -o stems --mining batch-hard --margin 0.2
    """
    from vecsmith.rnn import StemEmbedder, StemTrainConfig

    _threads(threads)
    words, stems = _words_from(words_file, wordfreq_lang, top)
    cfg = StemTrainConfig(steps=steps, p=p, k=k, margin=margin, mining=mining,
                          prefix_negatives=prefix_negatives, lr=lr, max_seconds=max_seconds,
                          seed=seed, device=device, quiet=quiet)
    try:
        result = StemEmbedder.fit(words, stems, config=cfg, language=language, dim=dim,
                                  cell=cell, hidden_size=hidden_size, dropout=dropout,
                                  reverse=not left_to_right)
    except (ValueError, KeyError) as exc:
        raise fail(str(exc)) from exc
    result.model.save(out)
    rec = "" if result.best_recall is None else f", held-out recall@10 {result.best_recall:.3f}"
    err_console.print(f"trained {result.history[-1]['step']} steps in {result.seconds:.1f} s"
                      f"{rec}; saved {out}")


@stems_app.command("query")
def stems_query(
    model_path: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
    queries: list[str] = typer.Argument(None, help="Query words (default: stdin)."),
    words_file: Path = typer.Option(None, "--words", help="Candidate words, one per line."),
    wordfreq_lang: str = typer.Option(None, "--wordfreq", help="Candidates from wordfreq LANG."),
    top: int = typer.Option(30000, help="How many wordfreq words."),
    k: int = typer.Option(10, "-k", help="Neighbours per query."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
) -> None:
    """Nearest words (cosine) to each query among a candidate list; queries may be unseen words.

    Examples:

      vecsmith stems query stems-en organize running --wordfreq en -k 5

      vecsmith stems query stems --words vocab.txt < queries.txt
    """
    from vecsmith.cli._common import read_words

    model = _load("stems", model_path, device)
    candidates, _ = _words_from(words_file, wordfreq_lang, top)
    qs = read_words(queries)
    index = model.index(candidates)
    rows = []
    for q, hits in zip(qs, index.most_similar(qs, k=k), strict=True):
        rows.extend([q, rank, w, s] for rank, (w, s) in enumerate(hits, 1))
    print_rows(["query", "rank", "word", "cosine"], rows)
