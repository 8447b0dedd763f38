"""`vecsmith linear ...`: train, test, predict with and inspect online linear models (VW-like)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app, sub_app, usage_error
from vecsmith.cli._common import (
    check_input,
    check_output,
    emit_json,
    err_console,
    fail,
    json_option,
    parents_option,
    print_rows,
    quiet_option,
)

linear_app = sub_app(
    "Online linear models (linear SVM / logistic) over sparse VW-style features.\n\n"
    "Data files hold one sample per line in Vowpal Wabbit's format: "
    "'label [importance] [tag]|namespace feature[:value] ... |other ...'.\n\n"
    "Example: vecsmith linear train train.vw -o m.lin --cross ab --passes 2"
)


app.add_typer(linear_app, name="linear")


def _chunks(data: str):
    from vecsmith.linear.readers import vw_chunks

    return vw_chunks(data)


def _load(model: Path):
    from vecsmith.linear import OnlineLinearClassifier

    check_input(model, "model")
    return OnlineLinearClassifier.load(model)


def _model_and_data(first: str, second: str | None, model_opt: Path | None
                    ) -> tuple[Path, str]:
    """MODEL [DATA] positionally; the old `DATA --model M` form still works."""
    if model_opt is not None:
        if second is not None:
            raise usage_error("give the model once: MODEL DATA, or DATA --model MODEL")
        model, data = model_opt, first
    else:
        model, data = Path(first), (second if second is not None else "-")
    check_input(data, "data", stdin_ok=True)
    return model, data


LOSSES = ("hinge", "logistic")
SCHEDULES = ("adaptive", "constant", "invscaling")


@linear_app.command()
def train(
    data: str = typer.Argument(..., help="VW-format training file ('-' for stdin, one pass)."),
    output: Path = typer.Option(None, "--output", "-o", "--model", "-f", show_default=False,
                                help="Where to write the model (replaced atomically)."),
    passes: int = typer.Option(1, min=1, max=10_000,
                               help="Passes over the data (progressive loss is pass 1's)."),
    bits: int = typer.Option(18, "--bits", "-b", min=1, max=30,
                             help="Hash table of 2^bits weights (4 bytes each per class, twice "
                                  "that with the adaptive rate's state)."),
    classes: str | None = typer.Option(None, help="Comma-separated labels; skips the label "
                                       "scan, so DATA may be '-' (stdin)."),
    cross: list[str] = typer.Option([], "--cross", help="Cross two namespaces (by first "
                                    "letter), like VW -q ab. Repeatable."),
    loss: str = typer.Option("hinge", help="hinge (linear SVM) or logistic."),
    lookup: bool = typer.Option(False, help="Exact growing feature table instead of hashing."),
    learning_rate: str = typer.Option("adaptive", help="adaptive | constant | invscaling."),
    eta0: float = typer.Option(0.2, "--eta0", "-l", min=1e-12, help="Base learning rate."),
    power_t: float = typer.Option(0.5, min=0.0, help="Exponent for invscaling: "
                                  "eta0 / t^power_t."),
    eta_floor: float = typer.Option(0.0, min=0.0, help="Lowest adaptive rate (> 0 to follow "
                                    "drift)."),
    l2: float = typer.Option(0.0, "--l2", min=0.0, help="L2 strength (on features present)."),
    average: int = typer.Option(0, min=0, help="Predict with averaged weights: 1 averages "
                                "from the start, N > 1 after N samples, 0 is off."),
    initial: Path | None = typer.Option(None, "--initial", "-i", help="Continue training "
                                        "this saved model (bit-identical to no stop)."),
    predict_only: Path | None = typer.Option(None, help="Also write a predict-only export."),
    seed: int = typer.Option(0, help="Seed for the hash and for shuffling later passes."),
    parents: bool = parents_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Train on VW-format lines, printing progressive validation loss as it goes.

    Each line is scored before the model learns from it, so the loss printed in pass 1 is an
    honest held-out estimate (as VW's 'average loss').

    Examples:

      vecsmith linear train train.vw -o m.lin

      vecsmith linear train train.vw -o m.lin --cross ab --bits 22 --passes 3

      vecsmith linear train more.vw -o m2.lin --initial m.lin   # continue training

      zcat big.vw.gz | vecsmith linear train - -o m.lin --classes=-1,1   # stream stdin
    """
    import numpy as np

    from vecsmith.linear import OnlineLinearClassifier
    from vecsmith.linear.readers import vw_labels

    if output is None:
        raise usage_error("linear train: missing the output (-o/--output FILE)")
    if loss not in LOSSES:
        raise usage_error(f"--loss must be hinge or logistic, got {loss!r}")
    if learning_rate not in SCHEDULES:
        raise usage_error(f"--learning-rate must be one of {', '.join(SCHEDULES)}, got "
                          f"{learning_rate!r}")
    check_input(data, "data", stdin_ok=True)
    if data == "-" and passes > 1:
        raise usage_error("several passes need a file, not stdin")
    if initial is not None:
        check_input(initial, "--initial")
    check_output(output, inputs=[data, initial], parents=parents)
    check_output(predict_only, inputs=[data, initial, output], parents=parents,
                 what="--predict-only")
    if cross:
        from vecsmith.linear.features import parse_cross

        try:
            parse_cross(cross)
        except ValueError as exc:
            raise usage_error(f"--cross: {exc}") from None
    if initial is not None:
        clf = _load(initial)
        classes = None
    else:
        clf = OnlineLinearClassifier(
            loss=loss, learning_rate=learning_rate, eta0=eta0, power_t=power_t,
            eta_floor=eta_floor, alpha=l2, average=bool(average) if average <= 1 else average,
            bits=bits, lookup=lookup, cross=tuple(cross), hash_seed=seed, random_state=seed)
        try:
            clf._check_params()
        except ValueError as exc:
            raise usage_error(str(exc)) from None
        if classes is not None:
            classes = sorted({c.strip() for c in classes.split(",") if c.strip()})
        elif data == "-":
            raise usage_error("training from stdin needs --classes (or --initial)")
        else:
            classes = vw_labels(data)
        if len(classes) < 2:
            raise fail(f"need at least two labels, found {classes or 'none'} in {data}")
    show = not quiet
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
                raise fail(f"{data}: every training line needs a label before the '|'")
            res = clf.progressive_fit(texts, np.asarray(labels), classes=classes,
                                      sample_weight=weights)
            classes = None
            if show and p == 0 and seen == 0:  # the table starts with the first examples
                err_console.print(f"{'average':>10} {'since':>10} {'example':>10} "
                                  f"{'label':>8} {'predict':>8} {'tokens':>9}")
                err_console.print(f"{'loss':>10} {'last':>10} {'counter':>10}")
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
            else:
                seen += len(texts)
                tot_loss += float(res.losses.sum())
            tot_err += int(np.sum(res.predictions != res.labels))
        if seen == 0:
            raise fail(f"no examples in {'stdin' if data == '-' else data}: nothing to train "
                       "on (no model written)")
        if show:
            what = "progressive" if p == 0 else "train (seen before)"
            err_console.print(
                f"pass {p + 1}: {seen} examples, {what} loss {tot_loss / seen:.6f}, "
                f"error {tot_err / seen:.4f}")
    dt = time.perf_counter() - t0
    clf.save(output)
    if predict_only is not None:
        clf.save(predict_only, predict_only=True)
    if show:
        err_console.print(f"wrote {output} ({clf.n_features_} weights x "
                          f"{clf.weights_.shape[1]} heads, {len(clf.classes_)} classes) "
                          f"in {dt:.2f} s")


def _predictions(clf, texts):
    import numpy as np

    scores = clf.decision_function(texts)
    if scores.ndim == 1:
        return clf.classes_[(scores > 0).astype(np.int64)], scores[:, None]
    return clf.classes_[np.argmax(scores, axis=1)], scores


@linear_app.command()
def predict(
    first: str = typer.Argument(..., metavar="MODEL", help="A saved model."),
    second: str = typer.Argument(None, metavar="DATA", show_default=False,
                                 help="VW-format file (default '-': stdin); labels are "
                                      "ignored."),
    model: Path = typer.Option(None, "--model", "-i", hidden=True),
    raw: bool = typer.Option(False, help="Print the decision score(s) next to the label."),
    as_json: bool = json_option(),
) -> None:
    """Print one predicted label per input line (TSV; with --raw also the scores).

    Examples:

      vecsmith linear predict m.lin test.vw > predictions.txt

      echo '| hello world' | vecsmith linear predict m.lin --raw
    """
    model, data = _model_and_data(first, second, model)
    clf = _load(model)
    out = sys.stdout
    n = 0
    docs = []
    for texts, _labels, _w in _chunks(data):
        pred, scores = _predictions(clf, texts)
        n += len(texts)
        for p, row in zip(pred.tolist(), scores.tolist(), strict=True):
            if as_json:
                docs.append({"label": p, "scores": row} if raw else {"label": p})
            elif raw:
                out.write("\t".join([str(p), *(f"{v:.6g}" for v in row)]) + "\n")
            else:
                out.write(f"{p}\n")
    if n == 0:
        raise fail(f"no lines to predict in {'stdin' if data == '-' else data}")
    if as_json:
        emit_json(docs)


@linear_app.command()
def test(
    first: str = typer.Argument(..., metavar="MODEL", help="A saved model."),
    second: str = typer.Argument(None, metavar="DATA", show_default=False,
                                 help="Labelled VW-format file (default '-': stdin)."),
    model: Path = typer.Option(None, "--model", "-i", hidden=True),
    as_json: bool = json_option(),
) -> None:
    """Accuracy and mean loss of a saved model on labelled lines (no training).

    Example:

      vecsmith linear test m.lin test.vw
    """
    import numpy as np

    model, data = _model_and_data(first, second, model)
    clf = _load(model)
    n = 0
    correct = 0
    loss_sum = 0.0
    per: dict = {}
    t0 = time.perf_counter()
    known = set(clf.classes_.astype(str).tolist())
    for texts, labels, weights in _chunks(data):
        if any(lab is None for lab in labels):
            raise fail(f"{data}: every test line needs a label")
        y = np.asarray(labels)
        unknown = set(y.tolist()) - known
        if unknown:
            raise fail(f"{data}: labels {sorted(unknown)[:5]} are not among the model's "
                       "classes")
        y = y.astype(clf.classes_.dtype)
        pred, scores = _predictions(clf, texts)
        if scores.shape[1] == 1:
            sign = np.where(y == clf.classes_[1], 1.0, -1.0)
            losses = _loss(clf.loss, sign * scores[:, 0])
        else:
            sign = np.where(y[:, None] == clf.classes_[None, :], 1.0, -1.0)
            losses = _loss(clf.loss, sign * scores).sum(axis=1)
        n += len(y)
        correct += int(np.sum(pred == y))
        loss_sum += float(np.sum(losses * weights))
        for lab, ok in zip(y.tolist(), (pred == y).tolist(), strict=True):
            c = per.setdefault(lab, [0, 0])
            c[0] += 1
            c[1] += ok
    dt = time.perf_counter() - t0
    if n == 0:
        raise fail(f"no examples in {'stdin' if data == '-' else data}")
    rows = [("examples", n), ("accuracy", correct / n), ("mean loss", loss_sum / n),
            ("examples/s", n / dt if dt > 0 else float("nan"))]
    rows += [(f"accuracy[{lab}]", c[1] / c[0]) for lab, c in sorted(per.items())]
    if as_json:
        emit_json(dict(rows))
        return
    print_rows(["metric", "value"], rows, title=f"{model} on {data}")


def _loss(name: str, margin):
    import numpy as np

    if name == "hinge":
        return np.maximum(0.0, 1.0 - margin)
    return np.logaddexp(0.0, -margin)


@linear_app.command()
def inspect(
    model: Path = typer.Argument(..., help="A saved model."),
    top: int = typer.Option(20, "--top", "-k", min=1, max=1_000_000,
                            help="How many features per class."),
    label: str | None = typer.Option(None, help="Only this class (default: every class)."),
    as_json: bool = json_option(),
) -> None:
    """Show a model's settings and its top weighted features by name.

    Binary models list the features pushing towards the second (positive) class with positive
    weights. Piped, the features print as class, feature, weight TSV. Example:

      vecsmith linear inspect m.lin -k 10
    """
    clf = _load(model)
    p = clf.get_params()
    info = [("classes", " ".join(map(str, clf.classes_.tolist()))), ("loss", p["loss"]),
            ("schedule", f"{p['learning_rate']} eta0={p['eta0']} floor={p['eta_floor']}"),
            ("features", "lookup" if p["lookup"] else f"hashed, {p['bits']} bits"),
            ("cross", " ".join(p["cross"]) or "-"), ("weights", clf.n_features_),
            ("samples seen", int(clf.t_[0])), ("predict only", clf.predict_only_)]
    classes = [str(c) for c in clf.classes_.tolist()]
    if label is not None and label not in classes:
        raise usage_error(f"--label {label!r} is not a class of {model} ({', '.join(classes)})")
    targets = [label] if label is not None else classes
    rows = []
    for lab in targets:
        key = clf.classes_.dtype.type(lab) if clf.classes_.dtype.kind != "O" else lab
        rows += [(lab, f, w) for f, w in clf.top_features(top, label=key)]
    if as_json:
        emit_json({"settings": dict(info), "features": [
            {"class": c, "feature": f, "weight": float(w)} for c, f, w in rows]})
        return
    print_rows(["setting", "value"], info, title=str(model))
    print_rows(["class", "feature", "weight"], rows, title="top features per class")
