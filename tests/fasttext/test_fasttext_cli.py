"""The fastText verbs of the `vecsmith` command, end to end."""

from __future__ import annotations

import json

import numpy as np
from conftest import load_official, official_predict, official_vectors
from typer.testing import CliRunner

from vecsmith.cli import app
from vecsmith.datasets import gensim_test_file, lid176_path
from vecsmith.fasttext import load_model

runner = CliRunner()
MODEL = str(gensim_test_file("lee_fasttext_new.bin"))


def invoke(*args, input=None):
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_vectors_print_like_print_word_vectors():
    out = invoke("vectors", MODEL, "government", "unseenwordz")
    o = load_official(MODEL)
    ref = official_vectors(o, [b"government", b"unseenwordz"])
    lines = out.splitlines()
    assert len(lines) == 2
    for line, word, vec in zip(lines, ["government", "unseenwordz"], ref):
        # fastText: the word, a space, then each value as %.5g followed by a space
        assert line == word + " " + "".join(f"{float(x):.5g} " for x in vec)


def test_vectors_from_stdin_every_word_and_value():
    """Words from several stdin lines (known, OOV, repeated): each line must carry the right
    word and fastText's own vector for it, value by value (%.5g)."""
    words = ["the", "of", "and", "governmentality", "the", "zzqx"]
    out = invoke("vectors", MODEL, input="the\nof  and\n governmentality\tthe\nzzqx\n")
    ref = official_vectors(load_official(MODEL), [w.encode() for w in words])
    lines = out.splitlines()
    assert len(lines) == len(words)
    for line, word, vec in zip(lines, words, ref, strict=True):
        got_word, *values = line.rstrip(" ").split(" ")
        assert got_word == word
        assert values == [f"{float(x):.5g}" for x in vec]


def test_analogies_values_match_official_and_order_matters():
    """A - B + C by value: the answers and cosines of the official fastText. Swapping B and C
    gives other answers, so a CLI that mixed them up fails here."""
    o = load_official(MODEL)
    out = invoke("analogies", MODEL, "government", "minister", "police", "-k", "5")
    rows = [ln.split("\t") for ln in out.splitlines()[1:]]
    ref = o.get_analogies("government", "minister", "police", 5)
    assert [r[0] for r in rows] == ["government - minister + police"] * 5
    assert [r[1] for r in rows] == [w for _, w in ref]
    np.testing.assert_allclose([float(r[2]) for r in rows], [s for s, _ in ref], atol=2e-4)
    swapped = o.get_analogies("government", "police", "minister", 5)
    assert [w for _, w in swapped] != [r[1] for r in rows]


def test_ngrams_many_words_and_distinct():
    m = load_model(MODEL)
    out = invoke("ngrams", MODEL, "where", "whereabouts")
    strings = [ln.split(" ")[0] for ln in out.splitlines()]
    assert strings == m.get_subwords("where")[0] + m.get_subwords("whereabouts")[0]
    distinct = invoke("ngrams", MODEL, "--distinct", "where", "whereabouts")
    d_strings = [ln.split(" ")[0] for ln in distinct.splitlines()]
    assert len(d_strings) == len(set(d_strings)) == len(set(strings))
    first = distinct.splitlines()[0].split(" ")
    ids = m.get_subwords("where")[1]
    assert [float(x) for x in first[1:-1]] == [float(f"{x:.5g}")
                                               for x in m.get_input_vector(int(ids[0]))]


def test_nn_and_analogies_tsv():
    out = invoke("nn", MODEL, "government", "-k", "3")
    rows = [ln.split("\t") for ln in out.splitlines()]
    assert rows[0] == ["query", "neighbour", "cosine"] and len(rows) == 4
    ref = load_official(MODEL).get_nearest_neighbors("government", 3)
    assert [r[1] for r in rows[1:]] == [w for _, w in ref]
    out = invoke("analogies", MODEL, "king", "man", "woman", "-k", "2")
    assert len(out.splitlines()) == 3
    result = runner.invoke(app, ["analogies", MODEL, "king", "man"])
    assert result.exit_code == 2 and "threes" in result.stderr


def test_predict_matches_official():
    path = str(lid176_path())
    text = "bonjour tout le monde\nthe weather is nice today\n"
    out = invoke("predict", path, "-", "-k", "2", input=text)
    o = load_official(path)
    for line, sentence in zip(out.splitlines(), text.splitlines()):
        labels, probs = official_predict(o, sentence, 2)
        parts = line.split(" ")
        assert parts[0::2] == labels
        np.testing.assert_allclose([float(p) for p in parts[1::2]], probs, atol=1e-5)
    result = runner.invoke(app, ["predict", MODEL], input="x\n")
    assert result.exit_code == 1 and "supervised" in result.output


def test_info_json_and_bad_file(tmp_path):
    facts = json.loads(invoke("info", MODEL, "--json"))
    assert facts["args.dim"] == 10 and facts["words"] == 1763 and facts["format_version"] == 11
    bad = tmp_path / "bad.bin"
    bad.write_bytes(gensim_test_file("lee_fasttext_new.bin").read_bytes()[:500])
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 1 and "at byte" in result.output
    help_text = runner.invoke(app, ["vectors", "--help"]).output
    assert "print-word-vectors" in help_text
