"""`vecsmith linear ...`: train, test, predict with and inspect online linear models (VW-like)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import typer

from vecsmith.cli._app import app
from vecsmith.cli._common import err_console, fail, print_rows

linear_app = typer.Typer(
    help=(
        "Online linear models (linear SVM / logistic) over sparse VW-style features.\n\n"
        "Data files hold one sample per line in Vowpal Wabbit's format: "
        "'label [importance] [tag]|namespace feature[:value] ... |other ...'.\n\n"
        "Example: vecsmith linear train train.vw --model m.lin --cross ab --passes 2"
    ),
    no_args_is_help=True,
)
app.add_typer(linear_app, name="linear")

_CHUNK = 8192


def _open(data: str):
    if data == "-":
        return sys.stdin
    path = Path(data)
    if not path.is_file():
        raise fail(f"data file not found: {data}")
    return open(path, encoding="utf-8", errors="strict")


def _chunks(data: str) -> Iterator[tuple[list[str], list, object]]:
    """(feature texts, labels, importance weights) per chunk of lines."""
    from vecsmith.linear import FeatureFormatError, read_vw

    with _open(data) as fh:
        buf: list[str] = []
        lineno = 0
        for line in fh:
            lineno += 1
            buf.append(line)
            if len(buf) == _CHUNK:
                try:
                    yield read_vw(buf)
                except FeatureFormatError as exc:
                    raise fail(f"{data} near line {lineno}: {exc}") from exc
                buf = []
        if buf:
            try:
                yield read_vw(buf)
            except FeatureFormatError as exc:
                raise fail(f"{data} near line {lineno}: {exc}") from exc


def _scan_labels(data: str) -> list[str]:
    labels: set[str] = set()
    for _texts, labs, _w in _chunks(data):
        if any(lab is None for lab in labs):
            raise fail("every training line needs a label before the '|'")
        labels.update(labs)
    return sorted(labels)


def _load(model: Path):
    from vecsmith.linear import LinearModelFormatError, OnlineLinearClassifier

    if not model.is_file():
        raise fail(f"model not found: {model}")
    try:
        return OnlineLinearClassifier.load(model)
    except LinearModelFormatError as exc:
        raise fail(str(exc)) from exc


@linear_app.command()
def train(
    data: str = typer.Argument(..., help="VW-format training file ('-' for stdin, one pass)."),
    model: Path = typer.Option(..., "--model", "-f", help="Where to write the model."),
    passes: int = typer.Option(1, help="Passes over the data (progressive loss is pass 1's)."),
    bits: int = typer.Option(18, "--bits", "-b", help="Hash table of 2^bits weights (4 bytes "
                             "each per class, twice that with the adaptive rate's state)."),
    classes: str | None = typer.Option(None, help="Comma-separated labels; skips the label "
                                       "scan, so DATA may be '-' (stdin)."),
    cross: list[str] = typer.Option([], "--cross", "-q", help="Cross two namespaces (by first "
                                    "letter), like VW -q ab. Repeatable."),
    loss: str = typer.Option("hinge", help="hinge (linear SVM) or logistic."),
    lookup: bool = typer.Option(False, help="Exact growing feature table instead of hashing."),
    learning_rate: str = typer.Option("adaptive", help="adaptive | constant | invscaling."),
    eta0: float = typer.Option(0.2, "--eta0", "-l", help="Base learning rate."),
    power_t: float = typer.Option(0.5, help="Exponent for invscaling: eta0 / t^power_t."),
    eta_floor: float = typer.Option(0.0, help="Lowest adaptive rate (> 0 to follow drift)."),
    l2: float = typer.Option(0.0, "--l2", help="L2 strength (on features present)."),
    average: int = typer.Option(0, help="Predict with averaged weights: 1 averages from the "
                                "start, N > 1 after N samples, 0 is off."),
    initial: Path | None = typer.Option(None, "--initial", "-i", help="Continue training "
                                        "this saved model (bit-identical to no stop)."),
    predict_only: Path | None = typer.Option(None, help="Also write a predict-only export."),
    seed: int = typer.Option(0, help="Seed for the hash and for shuffling later passes."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress table."),
) -> None:
    """Train on VW-format lines, printing progressive validation loss as it goes.

    Each line is scored before the model learns from it, so the loss printed in pass 1 is an
    honest held-out estimate (as VW's 'average loss').

    Examples:

      vecsmith linear train train.vw --model m.lin

      vecsmith linear train train.vw -f m.lin --cross ab --bits 22 --passes 3

      vecsmith linear train more.vw -f m2.lin --initial m.lin   # continue training

      zcat big.vw.gz | vecsmith linear train - -f m.lin --classes=-1,1   # stream stdin
    """
    import numpy as np

    from vecsmith.linear import OnlineLinearClassifier

    if passes < 1:
        raise fail("--passes must be >= 1")
    if data == "-" and passes > 1:
        raise fail("several passes need a file, not stdin")
    if initial is not None:
        clf = _load(initial)
        classes = None
    else:
        try:
            clf = OnlineLinearClassifier(
                loss=loss, learning_rate=learning_rate, eta0=eta0, power_t=power_t,
                eta_floor=eta_floor, alpha=l2, average=bool(average) if average <= 1 else average, bits=bits, lookup=lookup,
                cross=tuple(cross), hash_seed=seed, random_state=seed)
            clf._check_params()
            if cross:
                from vecsmith.linear.features import parse_cross
                parse_cross(cross)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        if classes is not None:
            classes = sorted({c.strip() for c in classes.split(",") if c.strip()})
        elif data == "-":
            raise fail("training from stdin needs --classes (or --initial)")
        else:
            classes = _scan_labels(data)
        if len(classes) < 2:
            raise fail(f"need at least two labels, found {classes}")
    show = not quiet
    if show:
        err_console.print(f"{'average':>10} {'since':>10} {'example':>10} {'label':>8} "
                          f"{'predict':>8} {'tokens':>9}")
        err_console.print(f"{'loss':>10} {'last':>10} {'counter':>10}")
    t0 = time.perf_counter()
    for p in range(passes):
        seen = 0
        tot_loss = 0.0
        tot_err = 0
        since_loss = 0.0
        since_n = 0
        nxt = 1
        for texts, labels, weights in _chunks(data):
            if any(lab is None for lab in labels):
                raise fail("every training line needs a label before the '|'")
            try:
                res = clf.progressive_fit(texts, np.asarray(labels), classes=classes,
                                          sample_weight=weights)
            except ValueError as exc:
                raise fail(str(exc)) from exc
            classes = None
            if show and p == 0:
                for i in range(len(texts)):
                    seen += 1
                    tot_loss += res.losses[i]
                    since_loss += res.losses[i]
                    since_n += 1
                    if seen == nxt:
                        err_console.print(
                            f"{tot_loss / seen:10.6f} {since_loss / since_n:10.6f} {seen:10d} "
                            f"{labels[i]!s:>8} {res.predictions[i]!s:>8} "
                            f"{texts[i].count(' '):9d}")
                        since_loss = 0.0
                        since_n = 0
                        nxt *= 2
                tot_err += int(np.sum(res.predictions != res.labels))
            else:
                seen += len(texts)
                tot_loss += float(res.losses.sum())
                tot_err += int(np.sum(res.predictions != res.labels))
        if show:
            what = "progressive" if p == 0 else "train (seen before)"
            err_console.print(
                f"pass {p + 1}: {seen} examples, {what} loss {tot_loss / max(seen, 1):.6f}, "
                f"error {tot_err / max(seen, 1):.4f}")
    dt = time.perf_counter() - t0
    clf.save(model)
    if predict_only is not None:
        clf.save(predict_only, predict_only=True)
    if show:
        err_console.print(f"wrote {model} ({clf.n_features_} weights x "
                          f"{clf.weights_.shape[1]} heads, {len(clf.classes_)} classes) "
                          f"in {dt:.2f} s")


@linear_app.command()
def predict(
    data: str = typer.Argument(..., help="VW-format file ('-' for stdin); labels are ignored."),
    model: Path = typer.Option(..., "--model", "-i", help="A saved model."),
    raw: bool = typer.Option(False, help="Print the decision score(s) next to the label."),
) -> None:
    """Print one predicted label per input line (TSV; with --raw also the scores).

    Examples:

      vecsmith linear predict test.vw --model m.lin > predictions.txt

      echo '| hello world' | vecsmith linear predict - -i m.lin --raw
    """
    import numpy as np

    clf = _load(model)
    out = sys.stdout
    for texts, _labels, _w in _chunks(data):
        scores = clf.decision_function(texts)
        if scores.ndim == 1:
            pred = clf.classes_[(scores > 0).astype(np.int64)]
            rows = [(p, s) for p, s in zip(pred.tolist(), scores.tolist())]
        else:
            pred = clf.classes_[np.argmax(scores, axis=1)]
            rows = [(p, *s) for p, s in zip(pred.tolist(), scores.tolist())]
        for row in rows:
            out.write(("\t".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row)
                       if raw else str(row[0])) + "\n")


@linear_app.command()
def test(
    data: str = typer.Argument(..., help="Labelled VW-format file ('-' for stdin)."),
    model: Path = typer.Option(..., "--model", "-i", help="A saved model."),
) -> None:
    """Accuracy and mean loss of a saved model on labelled lines (no training).

    Example:

      vecsmith linear test test.vw --model m.lin
    """
    import numpy as np

    clf = _load(model)
    n = 0
    correct = 0
    loss_sum = 0.0
    per: dict = {}
    t0 = time.perf_counter()
    for texts, labels, weights in _chunks(data):
        if any(lab is None for lab in labels):
            raise fail("every test line needs a label")
        y = np.asarray(labels)
        unknown = set(y.tolist()) - set(clf.classes_.astype(str).tolist())
        if unknown:
            raise fail(f"labels {sorted(unknown)[:5]} are not among the model's classes")
        y = y.astype(clf.classes_.dtype)
        scores = clf.decision_function(texts)
        if scores.ndim == 1:
            pred = clf.classes_[(scores > 0).astype(np.int64)]
            sign = np.where(y == clf.classes_[1], 1.0, -1.0)
            losses = _loss(clf.loss, sign * scores)
        else:
            pred = clf.classes_[np.argmax(scores, axis=1)]
            sign = np.where(y[:, None] == clf.classes_[None, :], 1.0, -1.0)
            losses = _loss(clf.loss, sign * scores).sum(axis=1)
        n += len(y)
        correct += int(np.sum(pred == y))
        loss_sum += float(np.sum(losses * weights))
        for lab, ok in zip(y.tolist(), (pred == y).tolist()):
            c = per.setdefault(lab, [0, 0])
            c[0] += 1
            c[1] += ok
    dt = time.perf_counter() - t0
    if n == 0:
        raise fail("no examples in the data")
    rows = [("examples", n), ("accuracy", correct / n), ("mean loss", loss_sum / n),
            ("examples/s", n / dt if dt > 0 else float("nan"))]
    rows += [(f"accuracy[{lab}]", c[1] / c[0]) for lab, c in sorted(per.items())]
    print_rows(["metric", "value"], rows, title=f"{model} on {data}")


def _loss(name: str, margin):
    import numpy as np

    if name == "hinge":
        return np.maximum(0.0, 1.0 - margin)
    return np.logaddexp(0.0, -margin)


@linear_app.command()
def inspect(
    model: Path = typer.Argument(..., help="A saved model."),
    top: int = typer.Option(20, help="How many features per class."),
    label: str | None = typer.Option(None, help="Only this class (default: every class)."),
) -> None:
    """Show a model's settings and its top weighted features by name.

    Binary models list the features pushing towards the second (positive) class with positive
    weights. Example:

      vecsmith linear inspect m.lin --top 10
    """
    clf = _load(model)
    p = clf.get_params()
    info = [("classes", " ".join(map(str, clf.classes_.tolist()))), ("loss", p["loss"]),
            ("schedule", f"{p['learning_rate']} eta0={p['eta0']} floor={p['eta_floor']}"),
            ("features", "lookup" if p["lookup"] else f"hashed, {p['bits']} bits"),
            ("cross", " ".join(p["cross"]) or "-"), ("weights", clf.n_features_),
            ("samples seen", int(clf.t_[0])), ("predict only", clf.predict_only_)]
    print_rows(["setting", "value"], info, title=str(model))
    classes = clf.classes_.tolist()
    targets = [label] if label is not None else classes
    for lab in targets:
        key = clf.classes_.dtype.type(lab) if clf.classes_.dtype.kind != "O" else lab
        try:
            feats = clf.top_features(top, label=key)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        print_rows(["feature", "weight"], feats, title=f"top features for {lab}")
