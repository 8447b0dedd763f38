"""Untrusted files: typed errors for bad settings, no FIFO opened, no SIGBUS from a changed map."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vecsmith import store
from vecsmith.datasets import gensim_test_file
from vecsmith.store.format import StoreFormatError, is_store, read_store
from vecsmith.wordvectors import WordVectorsFormatError, detect_format

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def small_store(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    out = tmp_path / "s.store"
    table = rng.standard_normal((64, 8)).astype(np.float32)
    store.convert_vectors(words, rng.standard_normal((50, 8)).astype(np.float32), out,
                          ngrams=(table, {"minn": 3, "maxn": 5, "bucket": 64}))
    return out


def rewrite_header(path: Path, edit) -> None:
    """Apply `edit(header_dict)` and write the file back with the same tensor data."""
    raw = path.read_bytes()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + hlen:])


def _set_meta(key, value):
    return lambda h: h["__metadata__"].__setitem__(key, value)


def _drop(name):
    return lambda h: h.pop(name)


@pytest.mark.parametrize(("edit", "match"), [
    (_set_meta("minn", "abc"), "metadata minn = 'abc', expected an integer in 0..64"),
    (_set_meta("maxn", "65536"), "metadata maxn = '65536'"),
    (_set_meta("bucket", str(2 ** 32)), "metadata bucket = '4294967296'"),
    (_set_meta("bucket", "-1"), "metadata bucket = '-1'"),
    (_set_meta("dim", "9"), "metadata dim = 9 but 'vectors' has shape"),
    (_set_meta("oov", "maybe"), "metadata oov = 'maybe'"),
    (_set_meta("eos_ngrams", [2]), r"metadata eos_ngrams = '\[2\]'"),
    (_drop("norms"), r"store lacks tensors \['norms'\]"),
    (lambda h: h["vectors"].__setitem__("shape", [50.5, 8]), "tensor 'vectors': bad header"),
    (lambda h: h["__metadata__"].__setitem__("x", json.loads("[" * 50000 + "]" * 50000)),
     "nested too deeply"),
])
def test_bad_store_metadata_is_a_typed_error(small_store, edit, match):
    try:
        rewrite_header(small_store, edit)
    except RecursionError:  # the test's own json cannot write it: build the bytes directly
        raw = small_store.read_bytes()
        (hlen,) = struct.unpack("<Q", raw[:8])
        head = raw[8:8 + hlen].rstrip()
        new = head[:-1] + b',"deep":' + b"[" * 50000 + b"]" * 50000 + b"}"
        small_store.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + hlen:])
    with pytest.raises(StoreFormatError, match=match):
        store.open(small_store)


def test_ngram_keys_without_rows(tmp_path):
    ft = gensim_test_file("toy-model.bin")
    out = tmp_path / "p.store"
    from vecsmith.fasttext import load_model
    store.convert_fasttext(load_model(ft), out, quiet=True)
    header = read_store(out)
    assert "ngrams" in header.tensors
    rewrite_header(out, lambda h: h.__setitem__("ngram_keys", {
        "dtype": "I32", "shape": [0], "data_offsets": [0, 0]}))
    with pytest.raises(StoreFormatError, match="'ngram_keys' and 'ngram_rows' must come "
                                               "together"):
        store.open(out)


def test_fifo_is_refused_without_blocking(tmp_path):
    from vecsmith.fasttext import FastTextFormatError, load_model

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert not is_store(fifo)
    with pytest.raises(StoreFormatError, match="is a FIFO, not a regular file"):
        store.open(fifo)
    with pytest.raises(FastTextFormatError, match="is a FIFO, not a regular file"):
        load_model(fifo)
    with pytest.raises(WordVectorsFormatError, match="is a FIFO"):
        detect_format(fifo)


def test_fasttext_maxn_bounded(tmp_path):
    from vecsmith.fasttext import FastTextFormatError, load_model

    raw = bytearray(gensim_test_file("toy-model.bin").read_bytes())
    assert struct.unpack_from("<i", raw, 48)[0] == 6  # maxn (after magic, version, 10 ints)
    struct.pack_into("<i", raw, 48, 65536)
    bad = tmp_path / "maxn.bin"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FastTextFormatError, match=r"at byte 44: args.minn/maxn are 3/65536, "
                                                  r"expected 0..64"):
        load_model(bad)


CHILD = """
import os, sys
sys.path.insert(0, {src!r})
path, how, kind = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "store":
    from vecsmith import store
    from vecsmith.store import StoreFormatError as Err
    v = store.open(path)
    query = lambda: v.get_many([v.word(0), "zzzunknown"])
else:
    from vecsmith.fasttext import FastTextFormatError as Err, load_model
    v = load_model(path)
    query = lambda: v.get_word_vectors(["the", "zzzunknown"])
query()
if how == "truncate":
    os.truncate(path, os.path.getsize(path) // 3)
else:  # what `cp other path` does: truncate, then write other bytes
    with open(path, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"\\0" * 100)
try:
    query()
except Err as exc:
    print("TYPED", exc)
"""


@pytest.mark.parametrize("how", ["truncate", "cp"])
@pytest.mark.parametrize("kind", ["store", "fasttext"])
def test_changed_map_gives_typed_error_not_sigbus(small_store, tmp_path, how, kind):
    if kind == "store":
        path = small_store
    else:
        path = tmp_path / "m.bin"
        shutil.copy(gensim_test_file("lee_fasttext_new.bin"), path)
    proc = subprocess.run([sys.executable, "-c", CHILD.format(src=SRC), str(path), how, kind],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"child died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert "TYPED" in proc.stdout and "changed while open" in proc.stdout


@pytest.mark.parametrize("verb", ["info", "vectors", "nn"])
def test_cli_on_a_fifo_does_not_hang(tmp_path, verb):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "vecsmith", verb, str(fifo)], input="hello\n",
                          capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert re.search(r"pipe is (not a regular file|a FIFO)", lines[0]), lines[0]
