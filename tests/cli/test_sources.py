"""`vecsmith.sources`: one function opens every vector source, and refuses what is none."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from vecsmith.datasets import gensim_test_file
from vecsmith.sources import EmptySourceError, SourceError, open_vectors, read_matrix, resolve

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]


@pytest.fixture(scope="module")
def formats(tmp_path_factory):
    """The same five vectors as .vec text, word2vec binary, .npy + word list and a store."""
    from vecsmith import store

    d = tmp_path_factory.mktemp("sources")
    vecs = np.random.default_rng(0).normal(size=(len(WORDS), 3)).astype(np.float32)
    (d / "v.vec").write_text(f"{len(WORDS)} 3\n" + "".join(
        f"{w} {' '.join(repr(float(x)) for x in row)}\n" for w, row in zip(WORDS, vecs)),
        encoding="utf-8")
    with open(d / "v.w2v", "wb") as fh:
        fh.write(f"{len(WORDS)} 3\n".encode())
        for w, row in zip(WORDS, vecs):
            fh.write(w.encode() + b" " + struct.pack("<3f", *row) + b"\n")
    np.save(d / "v.npy", vecs)
    (d / "v.words.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    store.convert_vectors(WORDS, vecs, d / "v.store", dtype="float32")
    return d, vecs


@pytest.mark.parametrize("name, fmt", [("v.vec", "text"), ("v.w2v", "word2vec"),
                                       ("v.npy", "npy"), ("v.store", "store")])
def test_every_format_reads_the_same_vectors(formats, name, fmt):
    d, vecs = formats
    words, matrix, got_fmt = read_matrix(d / name, words=d / "v.words.txt")
    assert got_fmt == fmt and words == WORDS
    np.testing.assert_allclose(matrix, vecs, rtol=1e-6)
    v = open_vectors(d / name, words=d / "v.words.txt")
    np.testing.assert_allclose(v.get_word_vector("gamma"), vecs[2], rtol=1e-6)
    assert "gamma" in v and "zeta" not in v
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.get_word_vector("zeta")  # plain vectors have no n-grams: unknown is an error
    best = v.get_nearest_neighbors("alpha", 1)[0][1]
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    assert best == WORDS[int(np.argsort(-(unit[1:] @ unit[0]))[0]) + 1]


def test_fasttext_and_packaged_names():
    from vecsmith.fasttext import load_model

    path = gensim_test_file("lee_fasttext_new.bin")
    assert resolve("lee") == (path, "fasttext")
    m = open_vectors("lee")
    np.testing.assert_array_equal(m.get_word_vector("governmentality"),
                                  load_model(path).get_word_vector("governmentality"))
    words, matrix, fmt = read_matrix("lee", max_words=7)
    assert fmt == "fasttext" and len(words) == 7 and matrix.shape == (7, 10)


def test_a_file_wins_over_a_short_name(formats, tmp_path, monkeypatch):
    d, _ = formats
    monkeypatch.chdir(tmp_path)
    os.symlink(d / "v.vec", tmp_path / "lee")
    assert resolve("lee")[1] == "text"


def test_what_is_no_source(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        resolve(tmp_path / "missing.vec")
    with pytest.raises(SourceError, match="is a folder"):
        resolve(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        resolve(fifo)  # would block forever if it were opened
    (tmp_path / "empty.vec").write_bytes(b"")
    with pytest.raises(EmptySourceError, match="empty"):
        open_vectors(tmp_path / "empty.vec")


def test_save_word2vec_text_round_trips_and_refuses_unreadable_words(formats, tmp_path):
    from vecsmith.wordvectors import WordVectorsError, read_word_vectors, save_word2vec_text

    _, vecs = formats
    out = save_word2vec_text(tmp_path / "out.vec", WORDS, vecs)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "5 3"
    assert lines[3] == "gamma " + "".join(f"{float(x):.5g} " for x in vecs[2])  # as fastText
    words, back = read_word_vectors(out)
    assert words == WORDS
    np.testing.assert_allclose(back, vecs, rtol=1e-4)
    with pytest.raises(WordVectorsError, match="whitespace"):
        save_word2vec_text(tmp_path / "bad.vec", ["a b", "c", "d", "e", "f"], vecs)
    assert not (tmp_path / "bad.vec").exists()
