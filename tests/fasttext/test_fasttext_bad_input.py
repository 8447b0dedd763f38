"""Untrusted model files: every defect is a FastTextFormatError naming the offset — never a
crash, a hang, or an allocation larger than the file."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecsmith.datasets import gensim_test_file, lid176_path
from vecsmith.fasttext import FastTextFormatError, load_model
from vecsmith.fasttext.format import MAGIC

SMALL = gensim_test_file("crime-and-punishment.bin")  # 12 KB, dense, version 12


@pytest.fixture(scope="module")
def small_bytes() -> bytes:
    return SMALL.read_bytes()


@pytest.fixture(scope="module")
def lid_bytes() -> bytes:
    return lid176_path().read_bytes()


def write(tmp_path, data: bytes, name="model.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def exercise(path) -> None:
    """Open the file and use it: only FastTextFormatError may come out."""
    try:
        m = load_model(path)
    except FastTextFormatError as exc:
        assert "at byte" in str(exc) and exc.offset >= 0
        return
    words = [*m.words[:3], "zzqx", "тест"]
    v = m.get_word_vectors(words)
    assert v.shape == (len(words), m.get_dimension())
    m.get_subwords("hello")
    if m.args.model == 3 and m.nlabels:
        try:
            m.predict("hello world", k=2)
        except ValueError as exc:  # corrupt label counts are refused, not looped on
            assert "Huffman" in str(exc)


def test_truncated_everywhere(tmp_path, small_bytes):
    """Cut at every offset of the header and dictionary, and at many offsets beyond."""
    cuts = list(range(0, 400)) + list(range(400, len(small_bytes), 37)) + [len(small_bytes) - 1]
    for cut in cuts:
        path = write(tmp_path, small_bytes[:cut])
        with pytest.raises(FastTextFormatError) as info:
            load_model(path)
        assert info.value.offset <= max(cut, 0) + 8


def test_truncated_quantized(tmp_path, lid_bytes):
    for cut in np.linspace(0, len(lid_bytes) - 1, 150).astype(int):
        with pytest.raises(FastTextFormatError):
            load_model(write(tmp_path, lid_bytes[:cut], "lid.ftz"))


def test_trailing_bytes(tmp_path, small_bytes):
    with pytest.raises(FastTextFormatError, match="unexpected bytes after the output matrix"):
        load_model(write(tmp_path, small_bytes + b"\0\0\0"))


def test_wrong_version(tmp_path, small_bytes):
    for version in (10, 13, -1, 1 << 30):
        data = struct.pack("<ii", MAGIC, version) + small_bytes[8:]
        with pytest.raises(FastTextFormatError, match=f"unsupported format version {version}"):
            load_model(write(tmp_path, data))


def test_wrong_magic(tmp_path, small_bytes):
    data = b"GIF89a" + small_bytes[6:]
    with pytest.raises(FastTextFormatError, match="not a fastText model"):
        load_model(write(tmp_path, data))
    with pytest.raises(FastTextFormatError, match="empty"):
        load_model(write(tmp_path, b""))
    text = b"2 3\nhello 0.1 0.2 0.3\nworld 0.3 0.2 0.1\n"  # a .vec file given by mistake
    with pytest.raises(FastTextFormatError, match="not a fastText model"):
        load_model(write(tmp_path, text))


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    return data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (8, "<i", 0, "args.dim"),  # dim
        (8, "<i", 1 << 30, "args.dim"),
        (8 + 4 * 8, "<i", -5, "args.bucket"),
        (8 + 4 * 6, "<i", 9, "args.loss"),
        (8 + 4 * 7, "<i", 0, "args.model"),
        (64, "<i", 2_000_000_000, "dictionary"),  # size
        (68, "<i", 7, "dictionary sizes"),  # nwords disagrees with size
        (84, "<q", -7, "pruneidx_size"),
    ],
)
def test_sizes_that_disagree(tmp_path, small_bytes, offset, fmt, value, message):
    data = _patch(small_bytes, offset, fmt, value)
    load_model(SMALL)  # compile/load the kernels first: their memory is not the file's
    tracemalloc.start()
    try:
        with pytest.raises(FastTextFormatError, match=message):
            load_model(write(tmp_path, data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * len(small_bytes) + (1 << 20)


def test_matrix_sizes_checked_before_allocating(tmp_path, small_bytes):
    m = load_model(SMALL)
    at = m._file.input.offset - 16  # the input matrix's (rows, cols) header
    for rows, cols in [(1 << 40, 5), (5, 1 << 40), (-1, 5), (m._file.input.shape[0] + 1, 5)]:
        data = small_bytes[:at] + struct.pack("<qq", rows, cols) + small_bytes[at + 16 :]
        load_model(SMALL)
        tracemalloc.start()
        try:
            with pytest.raises(FastTextFormatError) as info:
                load_model(write(tmp_path, data))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert info.value.offset >= at
        assert peak < 10 * len(small_bytes) + (1 << 20)


def test_unterminated_word_does_not_spin(tmp_path, small_bytes):
    """fastText's own loader loops until it runs out of memory on a dictionary with no NUL."""
    data = small_bytes[:92] + b"x" * 5000
    with pytest.raises(FastTextFormatError, match="dictionary"):
        load_model(write(tmp_path, data))


def test_quantized_header_checks(tmp_path, lid_bytes):
    m = load_model(lid176_path())
    q = m._file.input
    # codesize field sits after qnorm (1), m (8), n (8)
    data = _patch(lid_bytes, q.offset + 17, "<i", 12345)
    with pytest.raises(FastTextFormatError, match="input matrix product quantizer") as info:
        load_model(write(tmp_path, data, "lid.ftz"))
    assert info.value.offset >= q.offset and "input matrix" in str(info.value)
    data = _patch(lid_bytes, q.offset + 1, "<q", q.m + 1)  # rows disagree with the code size
    with pytest.raises(FastTextFormatError, match="code size"):
        load_model(write(tmp_path, data, "lid.ftz"))


mutation = st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(mutations=st.lists(mutation, min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(min_value=0)),
       insert=st.one_of(st.none(), st.tuples(st.integers(min_value=0), st.binary(max_size=16))))
def test_fuzz_dense(tmp_path_factory, small_bytes, mutations, cut, insert):
    data = bytearray(small_bytes)
    for pos, value in mutations:
        data[pos % len(data)] = value
    if insert is not None:
        pos, blob = insert
        pos %= len(data)
        data[pos:pos] = blob
    if cut is not None:
        del data[cut % len(data) :]
    exercise(write(tmp_path_factory.mktemp("fz"), bytes(data)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(mutations=st.lists(mutation, min_size=1, max_size=4),
       region=st.sampled_from(["header", "dictionary", "anywhere"]))
def test_fuzz_quantized(tmp_path_factory, lid_bytes, mutations, region):
    data = bytearray(lid_bytes)
    span = {"header": 200, "dictionary": 120_000, "anywhere": len(data)}[region]
    for pos, value in mutations:
        data[pos % span] = value
    exercise(write(tmp_path_factory.mktemp("fzq"), bytes(data), "lid.ftz"))
