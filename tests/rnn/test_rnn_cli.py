"""`vecsmith rnn train/predict/eval` and `vecsmith stems train/query` end to end on tiny data."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from vecsmith.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_toy(path, n=600, seed=0):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        lab = "xy"[i % 2]
        lines.append(f"{lab}\t{''.join(rng.choice('abc') for _ in range(rng.randint(0, 6)))}{lab}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_rnn_train_predict_eval(tmp_path):
    data = tmp_path / "train.tsv"
    write_toy(data)
    model = tmp_path / "model"
    res = runner.invoke(app, ["rnn", "train", str(data), "--out", str(model), "--hidden", "16",
                              "--embedding-dim", "8", "--epochs", "6", "--batch-size", "32",
                              "--lr", "0.01", "--quiet", "--cell", "layernorm-gru"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in model.iterdir()] == ["weights.safetensors"]  # one file
    res = runner.invoke(app, ["rnn", "predict", str(model)], input="abcx\nbbay\n\n")
    assert res.exit_code == 0, res.output
    rows = [line.split("\t") for line in res.stdout.strip("\n").split("\n")]
    assert rows[0] == ["text", "label", "probability"]
    assert [r[1] for r in rows[1:3]] == ["x", "y"] and 0.5 < float(rows[1][2]) <= 1.0
    assert len(rows) == 4  # the empty line is predicted too
    texts = tmp_path / "texts.txt"
    texts.write_text("aax\n", encoding="utf-8")
    res = runner.invoke(app, ["rnn", "predict", str(model), str(texts), "--top-k", "2"])
    assert res.exit_code == 0 and len(res.stdout.strip().split("\n")) == 3
    test = tmp_path / "test.tsv"
    write_toy(test, 100, seed=1)
    res = runner.invoke(app, ["rnn", "eval", str(model), str(test), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["accuracy"] > 0.9 and report["n"] == 100
    assert len(report["confusion"]) == 2
    res = runner.invoke(app, ["rnn", "eval", str(model), str(test)])
    assert res.exit_code == 0 and "macro precision" in res.stdout


def test_rnn_cli_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n", encoding="utf-8")
    res = runner.invoke(app, ["rnn", "train", str(bad), "--out", str(tmp_path / "m")])
    assert res.exit_code != 0 and "no tab" in res.output
    res = runner.invoke(app, ["rnn", "predict", str(tmp_path / "missing")], input="a\n")
    assert res.exit_code != 0
    data = tmp_path / "d.tsv"
    write_toy(data, 20)
    res = runner.invoke(app, ["rnn", "train", str(data), "--out", str(tmp_path / "m"),
                              "--cell", "nope"])
    assert res.exit_code != 0


def test_stems_train_and_query(tmp_path):
    words = tmp_path / "words.txt"
    forms = ["walk", "walks", "walked", "walking", "talk", "talks", "talked", "talking",
             "jump", "jumps", "jumped", "jumping", "play", "plays", "played", "playing",
             "connect", "connected", "connection", "connecting"]
    words.write_text("\n".join(forms) + "\n", encoding="utf-8")
    model = tmp_path / "stems"
    res = runner.invoke(app, ["stems", "train", str(words), "--out", str(model), "--steps", "20",
                              "--p", "4", "--k", "3", "--hidden", "16", "--dim", "8", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["stems", "query", str(model), "walking", "unseenword",
                              "--words", str(words), "-k", "3"])
    assert res.exit_code == 0, res.output
    rows = [line.split("\t") for line in res.stdout.strip().split("\n")]
    assert rows[0] == ["query", "rank", "word", "cosine"] and len(rows) == 7
    assert all(r[2] != "walking" for r in rows[1:4])
    res = runner.invoke(app, ["stems", "query", str(model), "walk"])
    assert res.exit_code != 0  # no candidate list


def test_help_teaches():
    for verb in (["rnn", "train"], ["rnn", "predict"], ["rnn", "eval"], ["stems", "train"],
                 ["stems", "query"]):
        res = runner.invoke(app, [*verb, "--help"])
        assert res.exit_code == 0 and "vecsmith" in res.stdout


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be >= 1"), ("batch_size", 0, "batch_size must be >= 1"),
    ("lr", 0.0, "lr must be"), ("val_fraction", 1.0, "val_fraction"),
    ("patience", 0, "patience"), ("eval_every", 0, "eval_every"),
    ("max_seconds", 0.0, "max_seconds"), ("optimizer", "sgd", "optimizer")])
def test_train_config_refuses_out_of_range_values(field, value, message):
    """Before any data is encoded: epochs=0 would save an untrained model, batch_size=0
    divide by zero."""
    from vecsmith.rnn import TrainConfig

    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})
