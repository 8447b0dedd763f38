"""`vecsmith linear train/test/predict/inspect` through typer's test runner."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from vecsmith.cli.linear import linear_app
from vecsmith.linear import OnlineLinearClassifier

runner = CliRunner()


@pytest.fixture()
def data(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(1200):
        c = rng.integers(2)
        lab = "1" if c else "-1"
        a = " ".join(f"{'pq'[c]}{rng.integers(20)}" for _ in range(3))
        lines.append(f"{lab} |a {a} |b n{rng.integers(30)}:0.5")
    (tmp_path / "train.vw").write_text("\n".join(lines[:1000]) + "\n")
    (tmp_path / "more.vw").write_text("\n".join(lines[1000:1100]) + "\n")
    (tmp_path / "test.vw").write_text("\n".join(lines[1100:]) + "\n")
    return tmp_path


def run(*args):
    res = runner.invoke(linear_app, [str(a) for a in args])
    return res


def test_train_prints_progressive_loss_and_test_reports_accuracy(data):
    res = run("train", data / "train.vw", "--model", data / "m.lin", "--cross", "ab",
              "--passes", "2", "--bits", "16")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "pass 1: 1000 examples, progressive loss" in out
    assert "pass 2: 1000 examples" in out and "65536 weights x 1 heads, 2 classes" in out
    # the progress table: VW's doubling example counter within the first pass's 1000 lines,
    # each row's label the data's own, and an untrained model's first hinge loss of 1
    table = [line.split() for line in out.splitlines() if re.match(r"^\s+[0-9.]+\s+[0-9.]+\s+\d+\s", line)]
    assert [int(r[2]) for r in table] == [2**i for i in range(10)]
    labels = (data / "train.vw").read_text().splitlines()
    assert [r[3] for r in table] == [labels[int(r[2]) - 1].split()[0] for r in table]
    assert float(table[0][0]) == 1.0
    m = OnlineLinearClassifier.load(data / "m.lin")
    assert m.get_params()["cross"] == ("ab",) and m.bits == 16 and int(m.t_[0]) == 2000
    res = run("test", data / "test.vw", "--model", data / "m.lin")
    assert res.exit_code == 0, res.output
    acc = float(next(line.split("\t")[1] for line in res.output.splitlines()
                     if line.startswith("accuracy\t")))
    assert acc > 0.9


def test_predict_and_inspect(data):
    assert run("train", data / "train.vw", "-f", data / "m.lin", "--quiet").exit_code == 0
    res = run("predict", data / "test.vw", "--model", data / "m.lin")
    assert res.exit_code == 0
    preds = res.output.split()
    assert len(preds) == 100 and set(preds) <= {"-1", "1"}
    res = run("predict", data / "test.vw", "--model", data / "m.lin", "--raw")
    assert len(res.output.splitlines()[0].split("\t")) == 2
    res = run("inspect", data / "m.lin", "--top", "5")
    assert res.exit_code == 0, res.output
    assert "a^q" in res.output  # features of the positive class '1', by name


def test_continue_training_matches_one_run(data):
    both = data / "both.vw"
    both.write_text((data / "train.vw").read_text() + (data / "more.vw").read_text())
    assert run("train", both, "-f", data / "one.lin", "--quiet").exit_code == 0
    assert run("train", data / "train.vw", "-f", data / "a.lin", "--quiet").exit_code == 0
    res = run("train", data / "more.vw", "-f", data / "b.lin", "--initial", data / "a.lin",
              "--quiet")
    assert res.exit_code == 0, res.output
    one = OnlineLinearClassifier.load(data / "one.lin")
    two = OnlineLinearClassifier.load(data / "b.lin")
    assert np.array_equal(one.weights_, two.weights_)
    assert np.array_equal(one.adagrad_, two.adagrad_)


def test_predict_only_export_and_errors(data):
    res = run("train", data / "train.vw", "-f", data / "m.lin", "--predict-only",
              data / "p.lin", "--quiet", "--lookup")
    assert res.exit_code == 0, res.output
    assert (data / "p.lin").stat().st_size < (data / "m.lin").stat().st_size
    assert run("train", data / "nope.vw", "-f", data / "x.lin").exit_code != 0
    assert run("train", data / "train.vw", "-f", data / "x.lin", "--loss", "squared").exit_code
    assert run("test", data / "test.vw", "--model", data / "nope.lin").exit_code != 0
    bad = data / "bad.vw"
    bad.write_text("1 |a x:notanumber\n-1 |a y\n")
    res = run("train", bad, "-f", data / "x.lin")
    assert res.exit_code != 0
    (data / "garbage.lin").write_bytes(b"garbage")
    assert run("inspect", data / "garbage.lin").exit_code != 0


def test_demo_runs(capsys):
    from rich.console import Console

    from vecsmith.cli.demo import linear_demo as demo

    console = Console(width=120)
    demo(console)
    out = capsys.readouterr().out
    assert "held-out accuracy" in out


def test_train_from_stdin_with_classes(data):
    text = (data / "train.vw").read_text()
    res = runner.invoke(linear_app, ["train", "-", "-f", str(data / "s.lin"), "--classes=-1,1",
                                     "--quiet"], input=text)
    assert res.exit_code == 0, res.output
    a = OnlineLinearClassifier.load(data / "s.lin")
    assert run("train", data / "train.vw", "-f", data / "f.lin", "--quiet").exit_code == 0
    assert np.array_equal(a.weights_, OnlineLinearClassifier.load(data / "f.lin").weights_)
    res = runner.invoke(linear_app, ["train", "-", "-f", str(data / "s.lin")], input=text)
    assert res.exit_code != 0


def test_quiet_is_quiet_and_cross_is_no_longer_q(data):
    """`-q` means quiet here as in every verb (it used to be --cross)."""
    res = runner.invoke(linear_app, ["train", str(data / "train.vw"), "-o", str(data / "q.lin"),
                                     "-q", "--cross", "ab"])
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and (data / "q.lin").is_file()
    res = runner.invoke(linear_app, ["inspect", str(data / "q.lin"), "-k", "2"])
    rows = [ln.split("\t") for ln in res.stdout.splitlines()]
    header = rows.index(["class", "feature", "weight"])
    assert {r[0] for r in rows[header + 1:]} == {"-1", "1"}  # piped rows keep their class
    assert len(rows) - header - 1 == 4
