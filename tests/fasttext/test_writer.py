"""`save_fasttext_bin`: a store written as a fastText .bin that three readers load alike."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vecsmith import store, transfer
from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model
from vecsmith.fasttext.writer import FastTextWriteError, save_fasttext_bin

fasttext = pytest.importorskip("fasttext")
OOV = ["xyzzyq", "unbelievably", "Zürichsee", "qq", "растение", "ab"]


def official(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fasttext.load_model(str(path))


def check_three_readers(v, path, tol):
    """Every vocabulary word (and OOV words) gives the store's vector in all three readers."""
    words = v.words
    want = v.get_many(words)
    ft = official(path)
    got = np.stack([ft.get_word_vector(w) for w in words])
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    assert ft.get_dimension() == v.dim and len(ft.words) == len(words)
    np.testing.assert_array_equal(load_model(path).get_word_vectors(words), got)
    oov = [w for w in OOV if w not in v]
    np.testing.assert_allclose(np.stack([ft.get_word_vector(w) for w in oov]), v.get_many(oov),
                               rtol=0, atol=tol)
    from gensim.models.fasttext import load_facebook_model

    g = load_facebook_model(str(path)).wv
    keep = [w for w in words if w != "</s>"]  # gensim gives `</s>` n-grams; fastText does not
    np.testing.assert_allclose(np.stack([g[w] for w in keep]), v.get_many(keep), rtol=0,
                               atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_store_from_gensim_lee_model_round_trips(tmp_path, dtype):
    src = gensim_test_file("lee_fasttext.bin")
    v = store.open(store.convert_fasttext(src, tmp_path / "lee.store", dtype=dtype, quiet=True))
    out = save_fasttext_bin(v, tmp_path / "lee.bin")
    # float32 rounding of the solved input row: |error| <= (n+1)·eps·|v| ≈ 1e-7 for these norms
    check_three_readers(v, out, tol=5e-7)
    # and the original model's own vectors come back too
    orig = load_model(src)
    np.testing.assert_allclose(load_model(out).get_word_vectors(v.words),
                               orig.get_word_vectors(v.words), rtol=0,
                               atol=5e-7 if dtype == "float32" else 2e-3)


def test_glove_given_ngrams_by_transfer_becomes_a_fasttext_model(tmp_path):
    from vecsmith.wordvectors import load_packaged_glove

    words, vecs = load_packaged_glove(max_words=1500)
    table = transfer.fit(words, vecs, minn=3, maxn=5, bucket=4096, epochs=1, lstsq_iter=5,
                         threads=1, quiet=True, device="cpu")
    v = store.open(table.to_store(words, vecs, tmp_path / "glove.store", dtype="float32",
                                  quiet=True))
    out = save_fasttext_bin(str(tmp_path / "glove.store"), tmp_path / "glove.bin")
    check_three_readers(v, out, tol=2e-6)  # GloVe rows are longer (norm ~5): same relative error
    np.testing.assert_allclose(official(out).get_word_vector("the"), vecs[0], atol=2e-6)


def test_without_output_rows_the_official_tool_still_loads(tmp_path):
    src = gensim_test_file("lee_fasttext_new.bin")
    v = store.open(store.convert_fasttext(src, tmp_path / "s.store", dtype="float32",
                                          quiet=True))
    small = save_fasttext_bin(v, tmp_path / "small.bin", output=False)
    full = save_fasttext_bin(v, tmp_path / "full.bin")
    assert full.stat().st_size - small.stat().st_size == len(v) * v.dim * 4
    np.testing.assert_array_equal(official(small).get_word_vector("government"),
                                  official(full).get_word_vector("government"))


def test_a_store_without_ngrams_writes_word_rows_only(tmp_path):
    v = store.open(store.convert_vectors(["alpha", "beta"], np.eye(2, 4, dtype=np.float32),
                                         tmp_path / "w.store", dtype="float32"))
    out = save_fasttext_bin(v, tmp_path / "w.bin")
    ft = official(out)
    np.testing.assert_array_equal(ft.get_word_vector("beta"), [0, 1, 0, 0])
    np.testing.assert_array_equal(ft.get_word_vector("gamma"), np.zeros(4))


def test_unwritable_words_raise_a_typed_error_and_leave_no_file(tmp_path):
    v = store.open(store.convert_vectors(["ok", ""], np.ones((2, 3), np.float32),
                                         tmp_path / "w.store"))
    with pytest.raises(FastTextWriteError, match="empty or holds a NUL"):
        save_fasttext_bin(v, tmp_path / "w.bin")
    assert not (tmp_path / "w.bin").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["w.store"]


def test_ftz_from_a_compressed_store_loads_alike_in_the_official_tool_and_vecsmith(tmp_path):
    pytest.importorskip("faiss")
    from vecsmith.fasttext.writer import save_fasttext_ftz
    from vecsmith.store.compress import compress

    src = gensim_test_file("lee_fasttext_new.bin")
    v = store.open(compress(src, tmp_path / "c.store", size="40kB"))
    out = save_fasttext_ftz(v, tmp_path / "c.ftz")
    ft = official(out)
    assert ft.is_quantized() and ft.words == v.words
    words = [*v.words, *OOV, "governmentally"]
    got = np.stack([ft.get_word_vector(w) for w in words])
    # the official tool and vecsmith's reader agree bit for bit on the same file
    np.testing.assert_array_equal(load_model(out).get_word_vectors(words), got)
    want = v.get_many(words)
    cos = np.einsum("ij,ij->i", got, want) / (np.linalg.norm(got, axis=1)
                                               * np.linalg.norm(want, axis=1))
    assert cos.min() > 0.99  # only the words' own rows add quantization error
    # dropped n-grams are left out of the mean in both (fastText's pruned-model rule)
    assert np.linalg.norm(got[-1]) > 0


def test_ftz_from_a_plain_store_and_bad_dsub(tmp_path):
    pytest.importorskip("faiss")
    from vecsmith.fasttext.writer import save_fasttext_ftz

    src = gensim_test_file("lee_fasttext_new.bin")
    v = store.open(store.convert_fasttext(src, tmp_path / "s.store", dtype="float32",
                                          quiet=True))
    out = save_fasttext_ftz(v, tmp_path / "s.ftz", dsub=1, output=False)
    ft = official(out)
    got = np.stack([ft.get_word_vector(w) for w in v.words])
    want = v.get_many(v.words)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    with pytest.raises(FastTextWriteError, match="must divide dim"):
        save_fasttext_ftz(v, tmp_path / "x.ftz", dsub=3)
