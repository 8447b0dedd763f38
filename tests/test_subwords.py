"""vecsmith.subwords: the numpy path (single words, small batches, no compiler import) gives
the same bits as the compiled kernels, on real models; hashing and tables match fastText's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vecsmith import subwords
from vecsmith.datasets import gensim_test_file, lid176_path
from vecsmith.fasttext import load_model
from vecsmith.subwords import SMALL_BATCH, SubwordLimitError, SubwordScheme, WordTable

MODELS = ["crime-and-punishment.bin", "lee_fasttext_new.bin", "lee_fasttext.bin",
          "non_ascii_fasttext.bin", "cp852_fasttext.bin", "pang_lee_polarity_fasttext.bin",
          "lid.176.ftz"]
QUERIES = ["the", "and", "</s>", "", "x", "unseenwordz", "naïveté", "преступление", "日本語",
           "😀😃", "a\u0301b", "__label__en", "qwertyuiopasdfghjkl", "Ж", "--", "e\xe9"]


def model_path(name):
    return lid176_path() if name == "lid.176.ftz" else gensim_test_file(name)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize(("data", "expected"), [
    (b"a", 3826002220), (b"<wh", 1048167652), (b"</s>", 3617362777),
    ("é".encode(), 1023043777), ("<café>".encode(), 3312017187)])
def test_fnv1a_sign_extends_as_fasttext(data, expected):
    assert subwords.fnv1a(data) == expected
    blob = np.frombuffer(data + b"\0", np.uint8)
    offsets = np.array([0, len(data) + 1], np.int64)
    assert subwords.hash_entries(blob, offsets).tolist() == [expected]
    assert subwords.compiled().hash_entries(blob, offsets).tolist() == [expected]


def _fresh_single_word_vectors(kind: str, path, words: list[str]) -> np.ndarray:
    """Vectors of `words`, one at a time, in a fresh process that never loads numba."""
    code = f"""
import json, sys
import numpy as np
words = json.loads(sys.stdin.read())
if {kind!r} == "model":
    from vecsmith.fasttext import load_model
    m = load_model({str(path)!r})
else:
    from vecsmith import store
    m = store.open({str(path)!r})
if words == ["--unit-vocabulary--"]:
    out = m.vocabulary_vectors(unit=True)  # the neighbour matrix, numpy path
else:
    out = np.stack([m[w] for w in words]) if words else np.zeros((0, 1), np.float32)
assert "numba" not in sys.modules, "the single-word path imported numba"
assert "torch" not in sys.modules, "the single-word path imported torch"
sys.stdout.write(json.dumps(out.view(np.uint32).tolist()))
"""
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(words),
                         capture_output=True, text=True, check=True)
    return np.array(json.loads(res.stdout), dtype=np.uint32)


def _words_of(m, n=300) -> list[str]:
    words = m.words
    step = max(1, len(words) // n)
    return [*words[::step], *QUERIES]


@pytest.mark.parametrize("name", MODELS)
def test_single_word_numpy_path_is_bit_identical_to_compiled(name):
    m = load_model(model_path(name))
    words = _words_of(m)
    single = _fresh_single_word_vectors("model", model_path(name), words)
    batch = m.get_word_vectors(words)  # > SMALL_BATCH words: the compiled kernel
    assert np.array_equal(single, bits(batch))


@pytest.mark.parametrize("name", ["crime-and-punishment.bin", "lee_fasttext_new.bin",
                                  "pang_lee_polarity_fasttext.bin"])
def test_unit_vocabulary_vectors_numpy_path_is_bit_identical(name):
    m = load_model(model_path(name))
    assert m.nwords <= 5000  # small enough for the numpy path in a fresh process
    single = _fresh_single_word_vectors("model", model_path(name), ["--unit-vocabulary--"])
    subwords.compiled()
    assert np.array_equal(single, bits(m.vocabulary_vectors(0, m.nwords, unit=True)))


@pytest.mark.parametrize("name", ["crime-and-punishment.bin", "lid.176.ftz",
                                  "lee_fasttext.bin"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_store_single_word_numpy_path_is_bit_identical(tmp_path, name, dtype):
    from vecsmith import store

    path = tmp_path / "m.store"
    store.convert_fasttext(model_path(name), path, dtype=dtype, quiet=True)
    v = store.open(path)
    words = _words_of(v)
    single = _fresh_single_word_vectors("store", path, words)
    assert np.array_equal(single, bits(v.get_many(words)))


def test_negative_zero_rows_come_back_as_fasttext_adds_them(tmp_path):
    from vecsmith import store

    vecs = np.array([[-0.0, 1.0, -2.0], [0.5, -0.0, 0.0]], dtype=np.float32)
    table = np.array([[-0.0, -0.0, 1.0]] * 4, dtype=np.float32)
    path = store.convert_vectors(["a", "b"], vecs, tmp_path / "z.store", dtype="float32",
                                 ngrams=(table, {"minn": 1, "maxn": 2, "bucket": 4}))
    single = _fresh_single_word_vectors("store", path, ["a", "b", "zz"])
    batch = store.open(path).get_many(["a", "b", "zz"] * 10)[:3]
    assert np.array_equal(single, bits(batch))
    # 0.0f + -0.0f is +0.0f: a stored -0.0 is answered as +0.0, as fastText's sum gives it
    assert single[0, 0] == 0 and single[2, 0] == 0


def test_word_table_numpy_build_matches_compiled_with_duplicates():
    words = [b"alpha", b"beta", b"alpha", b"\xff\xfe", b"", b"gamma", b"beta", b"d"] * 3
    blob = np.frombuffer(b"\0".join(words) + b"\0", np.uint8)
    offsets = np.zeros(len(words) + 1, np.int64)
    offsets[1:] = np.cumsum([len(w) + 1 for w in words])
    table = WordTable.build(blob, offsets)
    kern = subwords.compiled()
    ids, hashes = kern.build_table(blob, offsets, kern.hash_entries(blob, offsets))
    assert np.array_equal(table.ids, ids) and np.array_equal(table.slot_hashes, hashes)
    for w in {*words, b"absent"}:
        last = max((i for i, x in enumerate(words) if x == w), default=-1)
        assert table.find(w) == last  # later duplicates win, as in fastText
    assert table.find_many(blob, offsets).tolist() == [table.find(w) for w in words]


@pytest.mark.parametrize("name", ["crime-and-punishment.bin", "lid.176.ftz"])
def test_dictionary_scans_agree_with_compiled(name):
    from vecsmith.fasttext import _kernels, _scan_jit

    m = load_model(model_path(name))
    buf = m.model_file.buf
    d = m.dictionary
    start = 92  # where a version-12 file's dictionary entries begin
    ends, status = _kernels.scan_entries(buf, start, d.size)
    ends_jit, status_jit = _scan_jit.scan_entries(buf, start, d.size)
    assert status == status_jit == -1 and np.array_equal(ends, ends_jit)
    assert np.array_equal(_kernels.gather_i64(buf, ends + 1),
                          _scan_jit.gather_i64(buf, ends + 1))


def test_scheme_ngrams_match_compiled_bucket_ids():
    scheme = SubwordScheme(minn=2, maxn=5, bucket=1000)
    words = [w.encode() for w in QUERIES] * 3  # more than SMALL_BATCH: the compiled kernel
    assert len(words) > SMALL_BATCH
    ids, offsets = scheme.bucket_ids(words)
    for i, w in enumerate(words):
        expected = ids[offsets[i] : offsets[i + 1]].tolist()
        assert [h % 1000 for _, _, h in scheme.ngrams(w)] == expected
    assert scheme.ngrams(b"</s>") == []
    assert SubwordScheme(2, 5, 1000, eos_ngrams=True).ngrams(b"</s>")


def test_long_query_with_huge_maxn_is_refused_before_allocating(tmp_path):
    from vecsmith import store

    scheme = SubwordScheme(minn=1, maxn=65536, bucket=10)
    with pytest.raises(SubwordLimitError, match="20000 bytes"):
        scheme.ngrams(b"x" * 20000)
    assert len(scheme.ngrams(b"x" * 100)) > 0  # short words still work
    table = np.ones((10, 3), dtype=np.float32)
    path = store.convert_vectors(["a"], np.ones((1, 3), np.float32), tmp_path / "h.store",
                                 ngrams=(table, {"minn": 1, "maxn": 65536, "bucket": 10}))
    with pytest.raises(store.StoreFormatError, match=r"maxn = '65536', expected an integer"):
        store.open(path)  # the loader bounds maxn (64) before any query
    path = store.convert_vectors(["a"], np.ones((1, 3), np.float32), tmp_path / "h64.store",
                                 ngrams=(table, {"minn": 1, "maxn": 64, "bucket": 10}))
    v = store.open(path)  # within the loader's bound, a long query still meets the limit
    with pytest.raises(SubwordLimitError, match="MAX_NGRAMS_PER_WORD"):
        v["y" * 20000]
    with pytest.raises(SubwordLimitError, match="MAX_NGRAMS_PER_WORD"):
        v.get_many(["y" * 20000] * 40)  # the compiled path checks too
    assert np.allclose(v["yy"], 1.0)


def test_first_neighbour_query_on_a_small_store_imports_neither_numba_nor_torch(tmp_path):
    from vecsmith import store

    path = store.convert_fasttext(model_path("lee_fasttext_new.bin"), tmp_path / "l.store",
                                  quiet=True)
    code = (f"import json, sys; from vecsmith import store; v = store.open({str(path)!r}); "
            "got = [w for w, _ in v.most_similar('government', k=5)]; "
            "print(json.dumps([got, sorted(m for m in ('numba', 'torch') if m in sys.modules)]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    words, heavy = json.loads(res.stdout)
    assert heavy == []
    subwords.compiled()  # here the compiled int8 pass answers: the same words
    assert words == [w for w, _ in store.open(path).most_similar("government", k=5)]


@pytest.mark.parametrize("name", ["pang_lee_polarity_fasttext.bin", "lid.176.ftz"])
def test_line_rows_numpy_path_matches_compiled(name):
    """`getLine`'s rows (subwords, labels, word n-grams) from the numpy path of a fresh
    process and from the compiled per-line kernel are the same lists."""
    lines = ["the movie was great __label__1", "naïve café über", "", "__label__x",
             "a b c d e f g h i j k l m n o", "日本語 テキスト",
             "unseenwordz zzq </s> the"]
    code = f"""
import json, sys
from vecsmith.fasttext import load_model
m = load_model({str(model_path(name))!r})
out = [[m.line_rows(t)[0].tolist(), m.line_rows(t)[1]] for t in json.loads(sys.argv[1])
       if len(t.split()) < 16]
assert "numba" not in sys.modules
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code, json.dumps(lines)], capture_output=True,
                         text=True, check=True)
    subwords.compiled()
    m = load_model(model_path(name))
    short = [t for t in lines if len(t.split()) < 16]
    assert json.loads(res.stdout) == [[m.line_rows(t)[0].tolist(), m.line_rows(t)[1]]
                                      for t in short]
    assert any(len(r) > 5 for r, _ in json.loads(res.stdout))
