"""The dense tier of compressed stores: int16 rows with one float32 scale a row, for budgets
large enough that product-quantized codes would leave bytes unspent."""

from __future__ import annotations

import numpy as np
import pytest

from vecsmith import store
from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model
from vecsmith.store import StoreFormatError
from vecsmith.store.compress import compress
from vecsmith.store.pq import dequantize16, quantize16

pytest.importorskip("faiss")
LEE = gensim_test_file("lee_fasttext_new.bin")


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "dense.store"
    return store.open(compress(LEE, out, size="200kB"))


def test_quantize16_is_absmax_over_32767_by_hand():
    x = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [3e-3, 0.0, -1e-3]], np.float32)
    q, s = quantize16(x)
    assert q.dtype == np.int16 and s.dtype == np.float32
    np.testing.assert_array_equal(s, np.float32([2 / 32767, 0.0, 3e-3 / 32767]))
    # 1 / (2/32767) = 16383.5 rounds to even; 0.5 / (2/32767) = 8191.75
    np.testing.assert_array_equal(q, [[16384, -32767, 8192], [0, 0, 0], [32767, 0, -10922]])
    np.testing.assert_array_equal(dequantize16(q, s), q.astype(np.float32) * s[:, None])


def test_the_reader_decodes_the_tier_exactly(dense):
    t = {k: np.asarray(a) for k, a in dense._store.tensors.items()}
    rep = dense.compression["dense_tier"]
    assert rep["words"] > 0 and rep["ngram_rows"] > 0
    at = t["ngram_q16_rows"]
    hand = t["ngram_q16"].astype(np.float32) * t["ngram_q16_scales"][:, None]
    np.testing.assert_array_equal(dense.ngram_rows(at), hand)
    nq = len(t["word_q16"])
    hand_w = t["word_q16"].astype(np.float32) * t["word_q16_scales"][:, None]
    np.testing.assert_array_equal(dense.word_rows(np.arange(nq)), hand_w)
    # rows outside the tier still decode from their codes (position minus dense rows before)
    others = np.setdiff1d(np.arange(len(t["ngram_keys"])), at)
    assert len(t["pq_ngram_codes"]) == len(others)


def test_the_size_bound_holds_and_everything_fitting_beats_float16(tmp_path):
    m = load_model(LEE)
    for size in (60_000, 120_000, 200_000):
        p = compress(LEE, tmp_path / f"{size}.store", size=size)
        assert p.stat().st_size <= size
    v = store.open(tmp_path / "200000.store")
    assert len(v) == len(m.words) and v.compression["dense_tier"]["words"] == len(m.words)
    keys = np.asarray(v.kept_buckets)
    assert len(keys) == v.bucket  # every n-gram row kept, none refitted (no word dropped)
    src = m.get_input_matrix()[len(m.words) + keys]
    got = v.ngram_rows(np.arange(len(keys)))
    half = src.astype(np.float16).astype(np.float32)
    err16, err = np.abs(half - src).max(axis=1), np.abs(got - src).max(axis=1)
    assert err.mean() * 5 < err16.mean()  # 16 significant bits against 11
    words = list(m.words)
    vecs = m.get_word_vectors(words)
    w_err = np.linalg.norm(v.get_many(words) - vecs, axis=1).mean()
    w_err16 = np.linalg.norm(vecs.astype(np.float16).astype(np.float32) - vecs, axis=1).mean()
    assert w_err * 5 < w_err16
    unseen = ["governmentally", "australiana", "bushfires", "negotiatingly"]
    ref = m.get_word_vectors(unseen)
    assert np.abs(v.get_many(unseen) - ref).max() < 1e-3 * np.abs(ref).max()


def _save(tmp_path, name, good, meta, **change):
    from safetensors.numpy import save_file

    save_file(dict(good, **change), tmp_path / name, metadata=meta)
    return tmp_path / name


def test_corrupt_dense_tiers_raise_store_format_errors(tmp_path, dense):
    good = {k: np.array(a) for k, a in dense._store.tensors.items()}
    meta = dict(dense._store.metadata)
    s = good["ngram_q16_scales"].copy()
    s[1] = np.nan
    with pytest.raises(StoreFormatError, match="negative, inf or NaN"):
        store.open(_save(tmp_path, "a.store", good, meta, ngram_q16_scales=s))
    ws = good["word_q16_scales"].copy()
    ws[0] = -1.0
    with pytest.raises(StoreFormatError, match="negative, inf or NaN"):
        store.open(_save(tmp_path, "b.store", good, meta, word_q16_scales=ws))
    with pytest.raises(StoreFormatError, match="is not int16"):
        store.open(_save(tmp_path, "c.store", good, meta,
                         ngram_q16=good["ngram_q16"][:, :-1].copy()))
    with pytest.raises(StoreFormatError, match="is not int16"):
        store.open(_save(tmp_path, "d.store", good, meta,
                         word_q16=good["word_q16"].astype(np.int32)))
    with pytest.raises(StoreFormatError, match="one per row"):
        store.open(_save(tmp_path, "e.store", good, meta,
                         word_q16_scales=good["word_q16_scales"][:-1].copy()))
    with pytest.raises(StoreFormatError, match="not sorted positions"):
        store.open(_save(tmp_path, "f.store", good, meta,
                         ngram_q16_rows=good["ngram_q16_rows"][::-1].copy()))
    lacking = {k: a for k, a in good.items() if k != "ngram_q16_scales"}
    from safetensors.numpy import save_file

    save_file(lacking, tmp_path / "g.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="together"):
        store.open(tmp_path / "g.store")
    codes = good["pq_ngram_codes"]
    more = np.concatenate([codes, np.zeros((3, codes.shape[1]), np.uint8)])
    with pytest.raises(StoreFormatError, match="one per row of 'pq_ngram_codes'"):
        store.open(_save(tmp_path, "h.store", good, meta, pq_ngram_codes=more))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Some words in the dense tier (no codes), the rest coded (one stage: the tier starts
    early)."""
    out = tmp_path_factory.mktemp("m") / "mixed.store"
    return store.open(compress(LEE, out, size="150kB", max_stages=1))


def test_tier_words_carry_no_codes_and_search_stays_exact(mixed):
    v = mixed
    n_tier = v.compression["dense_tier"]["words"]
    assert 0 < n_tier < len(v)
    codes = v._store.tensors["pq_word_codes"]
    assert len(codes) == len(v) - n_tier  # the codes start after the tier's words
    t = v._store.tensors
    hand = np.asarray(t["word_q16"], np.float32) * np.asarray(t["word_q16_scales"])[:, None]
    np.testing.assert_array_equal(v.word_rows(np.arange(n_tier)), hand)
    rows = v.vectors
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    for word in (v.word(0), v.word(n_tier - 1), v.word(n_tier), v.word(len(v) - 1)):
        i = v.word_id(word)
        sims = unit @ unit[i]
        sims[i] = -np.inf
        want = [v.word(int(j)) for j in np.argsort(-sims, kind="stable")[:5]]
        got = v.most_similar(word, k=5)
        assert [w for w, _ in got] == want
        np.testing.assert_allclose([s for _, s in got], np.sort(sims)[::-1][:5], rtol=1e-5)


def test_codes_that_do_not_fit_the_tier_raise_store_format_errors(tmp_path, mixed):
    good = {k: np.array(a) for k, a in mixed._store.tensors.items()}
    meta = dict(mixed._store.metadata)
    codes = good["pq_word_codes"]
    extra = np.zeros((len(mixed) - len(codes) + 1, codes.shape[1]), np.uint8)
    with pytest.raises(StoreFormatError, match=r"rows for \d+ words"):  # more codes than words
        store.open(_save(tmp_path, "a.store", good, meta,
                         pq_word_codes=np.concatenate([codes, extra])))
    with pytest.raises(StoreFormatError, match="the dense tier holds"):  # a gap before codes
        store.open(_save(tmp_path, "b.store", good, meta, pq_word_codes=codes[1:].copy()))
    stage = {"pq_word_res1_codes": codes[:3].copy(),
             "pq_word_res1_codebooks": good["pq_word_codebooks"]}
    with pytest.raises(StoreFormatError, match="with residual stages"):
        store.open(_save(tmp_path, "c.store", good, meta, **stage))
