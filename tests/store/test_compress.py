"""Compressed stores: pruning, least-squares refit and product quantization, read back through
`vecsmith.store.open`, against the source model read by the (officially checked) reader."""

from __future__ import annotations

import itertools
import json
import time
import warnings

import numpy as np
import pytest

from vecsmith import store
from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model
from vecsmith.store import StoreFormatError
from vecsmith.store.compress import CompressError, compress, parse_size
from vecsmith.store.pq import CompressedVectors, decode

pytest.importorskip("faiss")
LEE = gensim_test_file("lee_fasttext_new.bin")
OOV = ["governmentally", "australiana", "bushfires", "xyzzyq", "negotiatingly"]


def cos(a, b):
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.where(den > 0, den, 1)


@pytest.fixture(scope="module")
def lee():
    m = load_model(LEE)
    return m, m.words, m.get_word_vectors(m.words)


@pytest.fixture(scope="module")
def small(tmp_path_factory, lee):
    out = tmp_path_factory.mktemp("c") / "lee.store"
    return store.open(compress(LEE, out, size="40kB", word_share=0.5, max_ngrams=600))


def test_parse_size():
    assert parse_size("25MB") == 25_000_000
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size("12MiB") == 12 * 1024**2
    assert parse_size(300) == 300
    with pytest.raises(CompressError, match="not like 25MB"):
        parse_size("big")


def test_fits_the_size_and_serves_the_store_api(small, lee):
    m, words, vecs = lee
    v = small
    assert isinstance(v, CompressedVectors)
    assert v.path and __import__("os").path.getsize(v.path) <= 40_000
    rep = v.describe()
    assert 0 < rep["kept_words"] < len(words) and rep["kept_ngrams"] > 0
    assert rep["cosine_token_weighted"] > 0.95
    kept = v.words
    # half the most frequent words, half those n-grams rebuild worst; in the source's order
    ids = [words.index(w) for w in kept]
    assert ids == sorted(ids) and set(words[: len(kept) // 2]) <= set(kept)
    w = words[100]  # among the most frequent half: kept
    assert w in v and v.word_id(w) == kept.index(w)
    # a kept word: its decoded vector, close to the original
    got = v[w]
    np.testing.assert_array_equal(got, v.get_many([w])[0])
    assert cos(got[None], m.get_word_vector(w)[None])[0] > 0.99
    # every vocabulary word, dropped ones through the kept n-grams
    c = cos(v.get_many(words), vecs)
    is_kept = np.isin(np.arange(len(words)), ids)
    assert c[is_kept].mean() > 0.99 and c[~is_kept].mean() > 0.95
    # OOV words through n-grams: close to what fastText itself says
    assert cos(v.get_many(OOV), m.get_word_vectors(OOV)).mean() > 0.9
    with pytest.raises(ValueError, match="missing must be"):
        v.get_many(["a"], missing="nope")
    assert np.all(v.get_many(["xyzzyq"], missing="zero") == 0)


def test_dropped_ngrams_are_left_out_of_the_mean(small):
    v = small
    subwords = __import__("vecsmith.transfer", fromlist=["x"]).ngram_ids
    word = "negotiatingly"
    ids, _ = subwords([word], v.minn, v.maxn, v.bucket)
    rows = v.bucket_rows(ids)
    kept = np.isin(ids, v._keys)
    assert 0 < kept.sum() < len(ids)  # some n-grams kept, some dropped
    want = rows[kept].sum(axis=0) * np.float32(1.0 / kept.sum())
    np.testing.assert_allclose(v[word], want, rtol=1e-6, atol=1e-7)
    # counting dropped rows as zeros (compress-fasttext's rule) would shrink it
    assert np.linalg.norm(v[word]) > np.linalg.norm(rows.sum(axis=0) / len(ids)) * 1.01


def test_neighbours_by_asymmetric_distance_are_the_decoded_brute_force(small):
    v = small
    mat = v.vectors
    q = v["government"]
    scores = cos(mat, np.broadcast_to(q, mat.shape))
    scores[v.word_id("government")] = -np.inf
    want = [v.words[i] for i in np.argsort(-scores, kind="stable")[:10]]
    got = v.most_similar("government", k=10)
    assert [w for w, _ in got] == want
    np.testing.assert_allclose([s for _, s in got], np.sort(scores)[::-1][:10], atol=1e-5)
    # the code-table scores equal the decoded rows' cosines
    qn = q / np.linalg.norm(q)
    np.testing.assert_allclose(v.cosines(qn, 0, len(v)), cos(mat, np.broadcast_to(qn, mat.shape)),
                               atol=1e-5)
    assert len(v.analogy("government", "minister", "police", k=3)) == 3
    assert v.most_similar(np.zeros(v.dim, np.float32), k=2)


def test_refit_beats_copied_rows_on_dropped_words(tmp_path, lee):
    _, words, vecs = lee
    res = {}
    for refit in (False, True):
        v = store.open(compress(LEE, tmp_path / f"{refit}.store", size=None, max_words=300,
                                max_ngrams=400, refit=refit))
        res[refit] = cos(v.get_many(words[300:]), vecs[300:]).mean()
        assert len(v) == 300 and v.describe()["kept_ngrams"] == 400
    hist = v.compression["refit_heldout_cosine"]
    assert max(hist) > hist[0]  # held-out words, never fitted, improve too
    assert 1 - res[True] < 0.7 * (1 - res[False]), res


def test_more_bytes_give_better_vectors(tmp_path, lee):
    _, words, vecs = lee
    sizes = {}
    for size in ("20kB", "60kB"):
        p = compress(LEE, tmp_path / f"{size}.store", size=size)
        assert p.stat().st_size <= parse_size(size)
        sizes[size] = cos(store.open(p).get_many(words), vecs).mean()
    assert sizes["60kB"] > sizes["20kB"]


def test_a_store_made_by_subword_transfer_compresses(tmp_path):
    from vecsmith import transfer
    from vecsmith.wordvectors import load_packaged_glove

    words, vecs = load_packaged_glove(max_words=3000)
    table = transfer.fit(words, vecs, minn=3, maxn=5, bucket=8192, epochs=1, lstsq_iter=5,
                         threads=1, quiet=True, device="cpu")
    src = table.to_store(words, vecs, tmp_path / "glove.store", dtype="float32", quiet=True)
    out = compress(src, tmp_path / "small.store", size="200kB", pq_subvectors=25, opq=True,
                   word_share=0.12)  # enough words (256) to learn the rotation on
    v = store.open(out)
    assert out.stat().st_size <= 200_000 and "pq_rotation" in v.describe()["tensor_bytes"]
    assert v.compression["opq"] and v.compression["subvectors"] == 25
    c = cos(v.get_many(words), vecs)
    assert c[: len(v)].mean() > 0.9  # 2 values a byte at 50 dims
    full = store.open(src)
    unseen = ["glovelike", "unbelievablest", "recompressing"]
    assert cos(v.get_many(unseen), full.get_many(unseen)).mean() > 0.6
    # transferred rows are a fit already: no refit by default, and the store says so
    assert v.compression["refit"] is False and v.metadata["ngram_source"] == "fitted"
    again = store.open(compress(v, tmp_path / "again.store", size="150kB", pq_subvectors=25))
    assert again.compression["refit"] is False  # the provenance survives a second pass
    forced = store.open(compress(src, tmp_path / "forced.store", size="200kB",
                                 pq_subvectors=25, refit=True))
    assert forced.compression["refit"] is True
    # the reason: refitting transferred rows to the dropped words moves unknown words away
    probe = [f"{w}ness" for w in words[500:800]] + [f"re{w}s" for w in words[500:800]]
    plain = store.open(compress(src, tmp_path / "plain.store", size="200kB", pq_subvectors=25))
    assert (cos(plain.get_many(probe), full.get_many(probe)).mean()
            > cos(forced.get_many(probe), full.get_many(probe)).mean())
    # dropped words come back only as well as the fit did: words get more of the room
    fasttexts = store.open(compress(src, tmp_path / "ws.store", size="200kB", pq_subvectors=25,
                                    word_share=0.04))
    assert plain.compression["word_share"] == 0.3 and len(fasttexts) < len(plain)


def test_the_refit_is_on_for_fasttexts_own_ngrams(tmp_path, small):
    assert small.compression["refit"] is True and small.metadata["ngram_source"] == "fasttext"
    assert store.open(compress(LEE, tmp_path / "d.store", size="40kB")).compression[
        "word_share"] == 0.04
    converted = store.convert_fasttext(load_model(LEE), tmp_path / "lee.store", quiet=True)
    v = store.open(compress(converted, tmp_path / "c.store", size="40kB", max_ngrams=600))
    assert v.compression["refit"] is True and v.metadata["ngram_source"] == "fasttext"


def test_compressed_store_exports_to_fasttext(tmp_path, small):
    fasttext = pytest.importorskip("fasttext")
    from vecsmith.fasttext.writer import save_fasttext_bin

    out = save_fasttext_bin(small, tmp_path / "c.bin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ft = fasttext.load_model(str(out))
    words = small.words
    np.testing.assert_allclose(np.stack([ft.get_word_vector(w) for w in words]),
                               small.get_many(words), atol=2e-6)


def test_a_fresh_process_answers_a_few_words_without_the_compiler(small):
    """`v[w]` was an AttributeError on a compressed store until numba was loaded; a few words
    take the pure-Python n-gram path, the same answer as the compiled batch path."""
    import subprocess
    import sys

    code = ("import sys, json; from vecsmith import store; v = store.open(sys.argv[1]); "
            "a = v['governmentally']; b = v.get_many(['australiana', v.word(3)]); "
            "s = v.get_subwords('bushfires'); "
            "print(json.dumps([a.tolist(), b.tolist(), s[0], 'numba' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, small.path], capture_output=True,
                         text=True, check=True).stdout
    a, b, subwords, numba = json.loads(out)
    assert not numba
    np.testing.assert_array_equal(np.float32(a), small.get_many(["governmentally"])[0])
    np.testing.assert_array_equal(np.float32(b), small.get_many(["australiana", small.word(3)]))
    assert subwords and all(g.startswith("<") or g.endswith(">") or len(g) >= small.minn
                            for g in subwords)


def test_opens_in_milliseconds(small):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        v = store.open(small.path)
        times.append(time.perf_counter() - t)
    assert isinstance(v, CompressedVectors) and min(times) < 0.05


def test_bad_settings_raise_typed_errors(tmp_path):
    with pytest.raises(CompressError, match="cannot hold the codebooks"):
        compress(LEE, tmp_path / "x.store", size="1kB")
    with pytest.raises(CompressError, match=r"bits must be 1\.\.8"):
        compress(LEE, tmp_path / "x.store", bits=9)
    with pytest.raises(CompressError, match="must divide dim"):
        compress(LEE, tmp_path / "x.store", pq_subvectors=3)
    assert not (tmp_path / "x.store").exists()


def test_corrupt_compressed_stores_raise_store_format_errors(tmp_path, small):
    from safetensors.numpy import save_file

    good = {k: np.array(a) for k, a in small._store.tensors.items()}
    meta = dict(small._store.metadata)
    bad = dict(good, pq_word_codebooks=good["pq_word_codebooks"][:, :, :1].copy())
    save_file(bad, tmp_path / "a.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="do not make"):
        store.open(tmp_path / "a.store")
    codes = good["pq_word_codes"].copy()
    books = good["pq_word_codebooks"][:, :3].copy()  # codes now point past the codebook
    save_file(dict(good, pq_word_codebooks=books, pq_word_codes=codes), tmp_path / "b.store",
              metadata=meta)
    v = store.open(tmp_path / "b.store")
    with pytest.raises(StoreFormatError, match="beyond its codebook"):
        v["government"]
    keys = good["ngram_keys"][::-1].copy()
    save_file(dict(good, ngram_keys=keys), tmp_path / "c.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="not sorted bucket ids"):
        store.open(tmp_path / "c.store")["xyzzyq"]
    missing = {k: a for k, a in good.items() if k != "pq_word_scales"}
    save_file(missing, tmp_path / "d.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="lacks tensors"):
        store.open(tmp_path / "d.store")
    for report in ("[1]", "[" * 100_000, "{"):  # the report is for humans: unreadable is empty
        save_file(good, tmp_path / "e.store", metadata=dict(meta, compression=report))
        v = store.open(tmp_path / "e.store")
        assert v.compression == {} and v.describe()["words"] == len(small)


def test_decode_matches_the_layout():
    books = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    codes = np.array([[1, 3], [0, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(decode(codes, books),
                                  [[3, 4, 5, 21, 22, 23], [0, 1, 2, 12, 13, 14]])
    assert json.loads(json.dumps({"ok": 1}))


def test_cli_compress_info_and_export_bin(tmp_path):
    from typer.testing import CliRunner

    from vecsmith.cli import app

    runner = CliRunner()
    out = tmp_path / "c.store"
    res = runner.invoke(app, ["compress", str(LEE), str(out), "--size", "30kB", "--bits", "6",
                              "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert out.stat().st_size == doc["bytes"] <= 30_000 and doc["bits"] == 6
    assert doc["kept_words"] == store.open(out).compression["kept_words"]
    info = runner.invoke(app, ["info", str(out)])
    assert info.exit_code == 0 and "cosine_token_weighted" in info.output
    res = runner.invoke(app, ["export", str(out), "-o", str(tmp_path / "c.bin"), "--format",
                              "bin"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(load_model(tmp_path / "c.bin").get_word_vector("the"),
                               store.open(out)["the"], atol=1e-6)
    res = runner.invoke(app, ["compress", str(LEE), str(out), "--size", "2kB"])
    assert res.exit_code == 1 and "cannot hold" in res.output
    for bad in (["--size", "lots"], ["--format", "zip"]):  # usage errors, before any work
        res = runner.invoke(app, ["compress", str(LEE), str(tmp_path / "x.store"), *bad])
        assert res.exit_code == 2 and not (tmp_path / "x.store").exists(), res.output
    res = runner.invoke(app, ["compress", str(LEE), str(tmp_path / "nowhere" / "x.store")])
    assert res.exit_code == 2 and "does not exist" in res.output
    for stages, has in (("0", False), ("2", True)):
        res = runner.invoke(app, ["compress", str(LEE), str(out), "--size", "400kB", "--stages",
                                  stages, "--json"])
        assert res.exit_code == 0, res.output
        t = store.open(out)._store.tensors  # 400 kB holds the 10-dim rows in the dense tier
        assert ("pq_ngram_res1_codes" in t or "ngram_q16" in t) is has
        assert "pq_ngram_res3_codes" not in store.open(out)._store.tensors


def test_cli_compress_to_ftz_loads_in_the_official_tool(tmp_path):
    fasttext = pytest.importorskip("fasttext")
    from typer.testing import CliRunner

    from vecsmith.cli import app

    out = tmp_path / "c.ftz"
    res = CliRunner().invoke(app, ["compress", str(LEE), str(out), "--size", "40kB",
                                   "--format", "ftz"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in tmp_path.iterdir()] == ["c.ftz"]  # no temporary store left
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ft = fasttext.load_model(str(out))
    assert ft.is_quantized()
    np.testing.assert_array_equal(ft.get_word_vector("xyzzyq"),
                                  load_model(out).get_word_vector("xyzzyq"))


def test_residual_plan_spends_the_room_on_the_heaviest_rows():
    from vecsmith.store.compress import _residual_plan

    words = 1.0 / np.arange(1, 1001)  # Zipf token shares, most frequent first
    grams = np.random.default_rng(0).random(5000)
    n_w, at = _residual_plan(words, grams, room=200_000, m=10, books_bytes=5_000, max_stages=3)
    cost = sum(n * 10 + 5_000 for n in n_w) + sum(len(a) * 14 + 5_000 for a in at)
    assert n_w and at and cost <= 200_000
    assert all(a >= b for a, b in itertools.pairwise(n_w))  # prefixes, shrinking
    for a, b in itertools.pairwise(at):  # each stage refines rows of the one before
        assert np.all(np.diff(a) > 0) and np.isin(b, a).all()
    heavy = np.argsort(-grams)[: len(at[0])]  # the n-gram rows chosen are the heaviest
    np.testing.assert_array_equal(np.sort(heavy), at[0])
    assert _residual_plan(words, grams, room=4_000, m=10, books_bytes=5_000,
                          max_stages=3) == ([], [])


def test_residual_stages_and_dense_words_beat_one_code_at_the_same_size(tmp_path, lee):
    _m, words, vecs = lee
    full = load_model(LEE)
    unseen = [*OOV, "australianness", "governmentalism", "prime-ministerial", "bushfire"]
    ref = full.get_word_vectors(unseen)
    one = store.open(compress(LEE, tmp_path / "one.store", size="3MB", max_stages=0))
    many = store.open(compress(LEE, tmp_path / "many.store", size="3MB", dense_tier=False))
    assert (tmp_path / "many.store").stat().st_size <= 3_000_000
    rep = many.compression
    assert rep["dense_word_rows"] == len(words) and rep["residual_ngram_rows"]
    # every word is stored exactly; unknown words come closer to the source
    np.testing.assert_allclose(many.get_many(words), vecs, rtol=1e-6, atol=1e-7)
    assert cos(one.get_many(words), vecs).mean() < 0.9999
    assert cos(many.get_many(unseen), ref).mean() > cos(one.get_many(unseen), ref).mean()
    # the reader's rows are the base code plus the stages' centroids (decoded by hand here)
    t = many._store.tensors
    rows = np.asarray(t["ngram_res1_rows"])[:5]
    hand = decode(np.asarray(t["pq_ngram_codes"])[rows],
                  np.asarray(t["pq_ngram_codebooks"], np.float32))
    for st in range(1, 9):
        if f"ngram_res{st}_rows" not in t:
            break
        at = np.asarray(t[f"ngram_res{st}_rows"])
        pos = np.searchsorted(at, rows)
        hit = (pos < len(at)) & (at[np.minimum(pos, len(at) - 1)] == rows)
        hand[hit] += decode(np.asarray(t[f"pq_ngram_res{st}_codes"])[pos[hit]],
                            np.asarray(t[f"pq_ngram_res{st}_codebooks"], np.float32))
    np.testing.assert_allclose(many.ngram_rows(rows), hand, rtol=1e-6, atol=1e-7)
    assert many.most_similar("government", k=3)[0][0] == full.get_nearest_neighbors(
        "government", k=1)[0][1]


def test_bad_residual_stages_raise_store_format_errors(tmp_path):
    from safetensors.numpy import save_file

    v = store.open(compress(LEE, tmp_path / "s.store", size="200kB", residual_share=0.5,
                            dense_tier=False))  # (at 400 kB every word is stored exactly)
    good = {k: np.array(a) for k, a in v._store.tensors.items()}
    meta = dict(v._store.metadata)
    assert "pq_ngram_res1_codes" in good and "pq_word_res1_codes" in good
    rows = good["ngram_res1_rows"][::-1].copy()
    save_file(dict(good, ngram_res1_rows=rows), tmp_path / "a.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="not sorted positions"):
        store.open(tmp_path / "a.store")["xyzzyq"]
    more = np.concatenate([good["pq_word_res1_codes"]] * (len(v) // 2 + 1))
    save_file(dict(good, pq_word_res1_codes=more), tmp_path / "b.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="does not fit the word rows"):
        store.open(tmp_path / "b.store")
    dense = np.zeros((3, v.dim + 1), np.float32)
    save_file(dict(good, word_dense=dense), tmp_path / "c.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="'word_dense'"):
        store.open(tmp_path / "c.store")
    save_file(dict(good, ngram_res1_rows=good["ngram_res1_rows"].astype(np.int64)),
              tmp_path / "d.store", metadata=meta)
    with pytest.raises(StoreFormatError, match="does not fit the n-gram rows"):
        store.open(tmp_path / "d.store")
