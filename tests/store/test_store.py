"""Compact stores against the fastText reader and the official implementation."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from vecsmith import store
from vecsmith.cli import app
from vecsmith.datasets import gensim_test_file, lid176_path
from vecsmith.fasttext import load_model
from vecsmith.neighbours import rank
from vecsmith.store import StoreFormatError

REFERENCE = ["lee_fasttext_new.bin", "crime-and-punishment.bin", "pang_lee_polarity_fasttext.bin",
             "lee_fasttext.bin"]


def oov_words(n=1500, seed=0):
    rng = random.Random(seed)
    pools = ["abcdefghijklmnopqrstuvwxyz", "абвгдежзийклмнопрстуфхцчшщыэюя", "äöüßéèàç",
             "日本語漢字テスト", "😀😃🚑🚒"]
    return ["".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 12)))
            for _ in range(n)]


def model_path(name):
    return lid176_path() if name == "lid.176.ftz" else gensim_test_file(name)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stores")
    out = {}
    for name in [*REFERENCE, "lid.176.ftz"]:
        for dtype in ("float32", "float16"):
            path = folder / f"{name}.{dtype}.store"
            store.convert_fasttext(model_path(name), path, dtype=dtype, quiet=True)
            out[name, dtype] = path
    return out


@pytest.mark.parametrize("name", [*REFERENCE, "lid.176.ftz"])
def test_float32_store_is_bit_identical(stores, name):
    m, v = load_model(model_path(name)), store.open(stores[name, "float32"])
    words = m.words + oov_words()
    got, ref = v.get_many(words), m.get_word_vectors(words)
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    assert v.words == m.words and len(v) == m.nwords and v.dim == m.get_dimension()
    for w in words[:: max(1, len(words) // 200)]:
        assert np.array_equal(v[w], m.get_word_vector(w))
    assert (m.words[3] in v) and ("zzz-not-a-word" not in v)


@pytest.mark.parametrize("name", REFERENCE)
def test_float16_store_quality(stores, name):
    m, v32, v16 = (load_model(model_path(name)), store.open(stores[name, "float32"]),
                   store.open(stores[name, "float16"]))
    words = m.words + oov_words(500)
    a, b = v16.get_many(words), m.get_word_vectors(words)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = nb > 0
    cos = (a[ok] * b[ok]).sum(1) / (na[ok] * nb[ok])
    assert cos.min() >= 0.9999
    # cosine and ranking cannot see a scale error: norms and values within float16 rounding
    # (eps 2**-10; measured at most 4e-4 of the norm on these four models)
    assert np.max(np.abs(na[ok] - nb[ok]) / nb[ok]) <= 1e-3
    assert np.max(np.abs(a[ok] - b[ok]).max(1) / nb[ok]) <= 1e-3
    assert not na[~ok].any()
    queries = m.words[: min(300, m.nwords)]
    top1 = overlap = 0
    for w in queries:
        n16 = [x for x, _ in v16.most_similar(w, 10, device="cpu")]
        n32 = [x for x, _ in v32.most_similar(w, 10, device="cpu")]
        top1 += n16[0] == n32[0]
        overlap += len(set(n16) & set(n32)) / 10
    assert top1 / len(queries) >= 0.99 and overlap / len(queries) >= 0.98


@pytest.mark.parametrize("name", ["lee_fasttext_new.bin", "crime-and-punishment.bin"])
def test_float32_neighbours_match_official(stores, name):
    fasttext = pytest.importorskip("fasttext")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        o = fasttext.load_model(str(model_path(name)))
    v = store.open(stores[name, "float32"])
    for w in [*v.words[1:60:3], "unseenwordxyz"]:
        got = v.most_similar(w, 10, device="cpu")
        ref = o.get_nearest_neighbors(w, 10)
        np.testing.assert_allclose([s for _, s in got], [s for s, _ in ref], atol=1e-5)
        for i in range(len(ref) - 1):  # same words except inside ties
            if abs(ref[i][0] - ref[i + 1][0]) > 1e-5 and (i == 0 or
                                                          abs(ref[i][0] - ref[i - 1][0]) > 1e-5):
                assert got[i][0] == ref[i][1]
    words = v.words
    a, b, c = words[5], words[7], words[9]
    got = v.analogy(a, b, c, 5)
    ref = o.get_analogies(a, b, c, 5)
    np.testing.assert_allclose([s for _, s in got], [s for s, _ in ref], atol=1e-5)


def test_query_by_vector_and_exclusions(stores):
    v = store.open(stores["lee_fasttext_new.bin", "float32"])
    q = v["government"]
    by_vec = v.most_similar(q, 3)
    assert by_vec[0][0] == "government" and abs(by_vec[0][1] - 1) < 1e-6
    by_word = v.most_similar("government", 3)
    assert "government" not in [w for w, _ in by_word]
    assert v.most_similar(q, 3, exclude=["government"]) == by_word
    with pytest.raises(ValueError, match=rf"must have shape \({v.dim},\), got \(3,\)"):
        v.most_similar(np.zeros(3), 3)
    # a zero vector (right size) has no direction: fastText divides by 1, so every cosine is 0
    assert [s for _, s in v.most_similar(np.zeros(v.dim), 3)] == [0.0, 0.0, 0.0]


def test_ngrams_for_keeps_exact_vectors(tmp_path):
    src = gensim_test_file("lee_fasttext_new.bin")
    m = load_model(src)
    wanted = ["governmentality", "australiaa", "unseenwordz", "government", "policies"]
    small = tmp_path / "small.store"
    store.convert_fasttext(m, small, dtype="float32", ngrams_for=wanted, quiet=True)
    full = tmp_path / "full.store"
    store.convert_fasttext(m, full, dtype="float32", quiet=True)
    v = store.open(small)
    assert np.array_equal(v.get_many(wanted), m.get_word_vectors(wanted))
    assert os.path.getsize(small) < os.path.getsize(full)
    assert len(v._ngrams) < m.args.bucket
    # a word outside the list still gets the n-grams it shares with the list
    _, ids = v.get_subwords("governmental")
    assert 0 < len(ids) < len(m.get_subwords("governmental")[1])
    # pruning a pruned model (.ftz) composes the two prune maps
    lid = load_model(lid176_path())
    out = tmp_path / "lid.store"
    store.convert_fasttext(lid, out, dtype="float32", ngrams_for=["bonjour", "hello"],
                           quiet=True)
    assert np.array_equal(store.open(out).get_many(["bonjour", "hello"]),
                          lid.get_word_vectors(["bonjour", "hello"]))


def test_max_words_and_no_ngrams(tmp_path):
    src = gensim_test_file("lee_fasttext_new.bin")
    m = load_model(src)
    out = tmp_path / "top.store"
    store.convert_fasttext(m, out, dtype="float32", max_words=100, no_ngrams=True, quiet=True)
    v = store.open(out)
    assert v.words == m.words[:100] and not v.has_ngrams
    assert np.array_equal(v[m.words[50]], m.get_word_vector(m.words[50]))
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v["governmentality"]
    with pytest.raises(KeyError, match="no n-grams"):
        v.get_many(["government", "governmentality"])
    assert not v.get_many(["governmentality"], missing="zero").any()
    assert v.get_ngram_vectors([m.words[50], "governmentality"]) == []  # none to list


def test_safetensors_readers_can_read_a_store(stores):
    safetensors = pytest.importorskip("safetensors")
    path = stores["lee_fasttext_new.bin", "float16"]
    v = store.open(path)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert set(f.keys()) >= {"vectors", "ngrams", "vocab_blob", "word_table"}
        assert np.array_equal(f.get_tensor("vectors"), v.vectors)
        assert f.metadata()["format"] == "vecsmith-store"


def test_text_formats_convert_and_export(tmp_path):
    vec = gensim_test_file("crime-and-punishment.vec")
    out = tmp_path / "cp.store"
    runner = CliRunner()
    r = runner.invoke(app, ["convert", str(vec), str(out), "--dtype", "float32"])
    assert r.exit_code == 0, r.output
    v = store.open(out)
    lines = vec.read_text(encoding="utf-8").splitlines()[1:]
    first = lines[0].rstrip().split(" ")
    assert v.words[0] == first[0]
    np.testing.assert_allclose(v[first[0]], [float(x) for x in first[1:]], rtol=1e-6)
    assert not v.has_ngrams
    back = tmp_path / "back.vec"
    r = runner.invoke(app, ["export", str(out), str(back)])
    assert r.exit_code == 0, r.output
    exported = back.read_text(encoding="utf-8").splitlines()
    assert exported[0] == f"{len(v)} {v.dim}"
    assert [ln.split(" ")[0] for ln in exported[1:]] == v.words
    for a, b in zip(exported[1:6], lines[:5]):
        assert [float(x) for x in a.split()[1:]] == pytest.approx(
            [float(x) for x in b.split()[1:]], rel=1e-4)


def test_cli_verbs_accept_a_store(stores):
    runner = CliRunner()
    path = str(stores["lee_fasttext_new.bin", "float32"])
    model = str(gensim_test_file("lee_fasttext_new.bin"))
    for verb in (["vectors", "government", "governmentality"], ["nn", "government", "-k", "3"],
                 ["ngrams", "where"]):
        a = runner.invoke(app, [verb[0], path, *verb[1:]])
        b = runner.invoke(app, [verb[0], model, *verb[1:]])
        assert a.exit_code == 0, a.output
        if verb[0] == "ngrams":  # a store has no raw input row for the word itself
            assert a.stdout.splitlines() == b.stdout.splitlines()[1:]
        else:
            assert a.stdout == b.stdout, (verb, a.output)
    r = runner.invoke(app, ["info", path])
    assert r.exit_code == 0 and "vecsmith-store" in r.stdout


def test_bad_stores_raise_typed_errors(tmp_path, stores):
    data = stores["lee_fasttext_new.bin", "float16"].read_bytes()
    for cut in [0, 4, 8, 9, 50, 200, len(data) // 2, len(data) - 1]:
        p = tmp_path / "cut.store"
        p.write_bytes(data[:cut])
        with pytest.raises(StoreFormatError):
            store.open(p)
    with pytest.raises(StoreFormatError, match=r"not a safetensors store|header"):
        store.open(gensim_test_file("lee_fasttext_new.bin"))
    bad = tmp_path / "bad.store"
    bad.write_bytes(data[:8] + data[8:].replace(b"vecsmith-store", b"vecsmith-stork", 1))
    with pytest.raises(StoreFormatError, match="not a vecsmith-store"):
        store.open(bad)
    # Random corruption anywhere: a typed error or a working store, never a crash.
    rng = random.Random(7)
    for _ in range(200):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
        bad.write_bytes(bytes(corrupt))
        try:  # index checks run at open or, for those that scan the index, at first use
            v = store.open(bad)
            v.get_many(["government", "governmentality", "x"])
            v.most_similar("government", 3, device="cpu")
        except StoreFormatError:
            continue


def test_a_corrupt_word_index_fails_typed_before_any_lookup(tmp_path, stores):
    """The index scan is deferred from open to first use; it must still come before any
    kernel reads the index."""
    from safetensors.numpy import load_file, save_file

    src = stores["lee_fasttext_new.bin", "float16"]
    tensors = load_file(src)
    from vecsmith.store.format import read_store

    meta = read_store(src).metadata
    for name, spoil in [("word_table", lambda t: t.__setitem__(0, 10**9)),
                        ("vocab_blob", lambda t: t.__setitem__(slice(None), 65)),
                        ("vocab_offsets", lambda t: t.__setitem__(5, t[4]))]:
        broken = {k: v.copy() for k, v in tensors.items()}
        spoil(broken[name])
        path = tmp_path / f"{name}.store"
        save_file(broken, path, metadata=meta)
        for use in (lambda v: v["government"], lambda v: v.get_many(["a", "b"]),
                    lambda v: "government" in v, lambda v: v.words,
                    lambda v: v.most_similar(np.ones(v.dim, np.float32), 3, device="cpu")):
            v = store.open(path)
            with pytest.raises(StoreFormatError, match=r"vocab|word_table"):
                use(v)


def test_word_table_hashes(tmp_path, stores):
    """Stores carry each slot's word hash; stores written without it (before it existed) get
    it computed at first use and answer identically; a mis-shaped one is a typed error."""
    from safetensors.numpy import load_file, save_file

    from vecsmith.store.format import read_store

    src = stores["lee_fasttext_new.bin", "float32"]
    tensors = load_file(src)
    meta = read_store(src).metadata
    assert tensors["word_table_hashes"].dtype == np.uint32
    new = store.open(src)
    words = [*new.words[:500], "governmentality", "zzqx", "naïveté", ""]
    old_path = tmp_path / "old.store"
    save_file({k: v for k, v in tensors.items() if k != "word_table_hashes"}, old_path,
              metadata=meta)
    old = store.open(old_path)
    assert np.array_equal(old.word_ids(words), new.word_ids(words))
    assert np.array_equal(old.get_many(words).view(np.uint32), new.get_many(words).view(np.uint32))
    assert np.array_equal(old.word_table.slot_hashes, new.word_table.slot_hashes)
    for spoil in (lambda t: t[:-1], lambda t: t.astype(np.int32)):
        broken = dict(tensors, word_table_hashes=spoil(tensors["word_table_hashes"]))
        path = tmp_path / "broken.store"
        save_file(broken, path, metadata=meta)
        with pytest.raises(StoreFormatError, match="word_table_hashes"):
            store.open(path)


def test_convert_is_atomic(tmp_path, monkeypatch):
    src = gensim_test_file("lee_fasttext_new.bin")
    out = tmp_path / "lee.store"
    store.convert_fasttext(src, out, quiet=True)
    good = out.read_bytes()
    m = load_model(src)

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(m, "vocabulary_vectors", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        store.convert_fasttext(m, out, quiet=True)
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["lee.store"]  # no temporary left behind


def test_many_processes_share_one_store(stores):
    path = stores["lee_fasttext_new.bin", "float16"]
    code = ("import sys; from vecsmith import store; v = store.open(sys.argv[1]); "
            "print(v.most_similar('government', 1, device='cpu')[0][0])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert outs == {store.open(path).most_similar("government", 1)[0][0]}


def test_faiss_backend_matches_exact_search(stores):
    pytest.importorskip("faiss")
    v = store.open(stores["lee_fasttext_new.bin", "float32"])
    for w in ["government", "governmentality", v.words[10]]:
        exact = v.most_similar(w, 8, device="cpu")
        fast = v.most_similar(w, 8, device="faiss")
        assert [x for x, _ in fast] == [x for x, _ in exact]
        np.testing.assert_allclose([s for _, s in fast], [s for _, s in exact], atol=1e-5)


def test_cuda_search_matches_cpu(stores):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    for dtype in ("float32", "float16"):
        v = store.open(stores["lee_fasttext_new.bin", dtype])
        for w in ["government", "governmentality"]:
            cpu = v.most_similar(w, 5, device="cpu")
            gpu = v.most_similar(w, 5, device="cuda")
            assert [x for x, _ in gpu][:3] == [x for x, _ in cpu][:3]
            np.testing.assert_allclose([s for _, s in gpu], [s for _, s in cpu], atol=2e-3)


def test_float16_widening_is_exact_for_every_value(tmp_path):
    """The kernel's float16 -> float32 conversion, over all 65,536 bit patterns."""
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = every[np.isfinite(every)]
    rows = np.concatenate([finite, every[np.isinf(every)], every[np.isnan(every)]]).reshape(-1, 8)
    words = [f"w{i}" for i in range(len(rows))]
    out = tmp_path / "all.store"
    store.convert_vectors(words, rows, out, dtype="float16", search_index=False)
    got = store.open(out).get_many(words).ravel()
    # rows are added to a zeroed float32 vector, as fastText does: -0.0 comes back as +0.0
    with np.errstate(invalid="ignore"):
        want = np.float32(0.0) + rows.astype(np.float32).ravel()
    n = len(finite) + 2
    assert np.array_equal(got[:n].view(np.uint32), want[:n].view(np.uint32))  # finite and inf
    assert np.isnan(got[n:]).all()


def test_opening_a_store_loads_no_compiler(stores):
    """Opening stays cheap: numba (and torch) load on the first lookup or search, not before."""
    code = ("import sys; from vecsmith import store; store.open(sys.argv[1]); "
            "print('numba' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(stores["lee_fasttext_new.bin",
                                                                 "float16"])],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def _rss_file_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("RssFile:")) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_release_unmaps_scanned_pages_and_keeps_the_data(tmp_path):
    """convert_fasttext unmaps source rows it is done with, so RSS does not grow with the
    model; the data must read back unchanged."""
    from vecsmith._mapping import release

    path = tmp_path / "big.bin"
    data = np.random.default_rng(0).standard_normal((16384, 1024)).astype(np.float32)  # 64 MB
    data.tofile(path)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    mat = buf.view(np.float32).reshape(data.shape)
    assert float(mat.sum()) == pytest.approx(float(data.sum()), rel=1e-4)
    before = _rss_file_mb()
    release(buf, mat[100:16000])
    assert before - _rss_file_mb() > 50
    assert np.array_equal(mat, data)
    release(buf, data[:10])  # not a view of the map: ignored
    release(None, mat[:10])


def _brute_force(v, q, k, ban=()):
    qn = (q / np.linalg.norm(q)).astype(np.float32)
    scores = v.cosines(qn, 0, len(v))
    # every row scored; equal scores in fastText's heap order (vecsmith.neighbours)
    return rank(scores, k, list(ban))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_int8_first_pass_search_is_exact(stores, tmp_path, dtype):
    """The int8 pass only chooses which rows get an exact score: results equal brute force,
    and a store written without the search tensors gives the same lists."""
    v = store.open(stores["lee_fasttext_new.bin", dtype])
    assert v._search_index is not None and v.metadata["search_index"] == "int8"
    plain_path = tmp_path / "plain.store"
    store.convert_fasttext(gensim_test_file("lee_fasttext_new.bin"), plain_path, dtype=dtype,
                           search_index=False, quiet=True)
    plain = store.open(plain_path)
    assert plain._search_index is None
    rng = np.random.default_rng(3)
    for w in ["government", "governmentality", *rng.choice(v.words, 20)]:
        got = v.most_similar(w, 10, device="cpu")
        ids, scores = _brute_force(v, v[w], 10, [v.word_id(w)])
        assert [x for x, _ in got] == [v.words[i] for i in ids]
        np.testing.assert_allclose([s for _, s in got], scores, atol=1e-6)
        assert [x for x, _ in plain.most_similar(w, 10, device="cpu")] == [x for x, _ in got]


def test_int8_search_slack_catches_what_the_first_pass_misranks(tmp_path):
    """Thousands of near-duplicates of the query, closer to each other than int8 can tell
    apart: the first pass alone would pick the wrong ones; the slack re-check must not."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal(64).astype(np.float32)
    near = base + 1e-3 * rng.standard_normal((3000, 64)).astype(np.float32)
    far = rng.standard_normal((5000, 64)).astype(np.float32)
    mat = np.concatenate([far, near])
    words = [f"w{i}" for i in range(len(mat))]
    path = tmp_path / "dups.store"
    store.convert_vectors(words, mat, path, dtype="float32")
    v = store.open(path)
    codes, scales, slack = v._search_index
    approx = scales * (codes.astype(np.float32) @ (base / np.linalg.norm(base)))
    ids, scores = _brute_force(v, base, 10)
    assert set(np.argsort(-approx)[:10]) != set(ids)  # the int8 pass alone would be wrong
    got = v.most_similar(base, 10, device="cpu")
    assert [x for x, _ in got] == [words[i] for i in ids]
    np.testing.assert_allclose([s for _, s in got], scores, atol=1e-7)
    exact = v.cosines(base / np.linalg.norm(base), 0, len(v))
    assert np.all(np.abs(approx - exact) <= slack)  # the bound holds row by row


def test_a_corrupt_search_bound_is_refused(tmp_path, stores):
    from safetensors.numpy import load_file, save_file

    from vecsmith.store.format import read_store

    src = stores["lee_fasttext_new.bin", "float16"]
    tensors = {k: v.copy() for k, v in load_file(src).items()}
    tensors["search_slack"][3] = -1.0
    path = tmp_path / "slack.store"
    save_file(tensors, path, metadata=read_store(src).metadata)
    v = store.open(path)
    assert v["government"].shape == (v.dim,)  # lookups do not need the bound
    with pytest.raises(StoreFormatError, match="search_slack"):
        v.most_similar("government", 3, device="cpu")


def test_get_many_into_a_reused_array(stores):
    """`out=`: a dirty array comes back holding exactly what a fresh lookup gives (known and
    unknown words, threaded path); a wrong array or `missing` value is refused."""
    for dtype in ("float16", "float32"):
        v = store.open(stores["lee_fasttext_new.bin", dtype])
        words = v.words[:1500] + [f"unseen{i}word" for i in range(1500)] + ["", "</s>"]
        fresh = v.get_many(words)
        dirty = np.full_like(fresh, np.nan)
        dirty[::5] = -0.0
        got = v.get_many(words, out=dirty)
        assert got is dirty and np.array_equal(got.view(np.uint32), fresh.view(np.uint32))
        assert np.array_equal(fresh[1500].view(np.uint32),
                              v["unseen0word"].view(np.uint32))
        with pytest.raises(ValueError, match="out must be"):
            v.get_many(words, out=fresh[:, :-1])
        with pytest.raises(ValueError, match="out must be"):
            v.get_many(words, out=fresh.astype(np.float64))
    with pytest.raises(ValueError, match="missing must be"):
        v.get_many(["a"], missing="skip")


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("index", [True, False])
def test_rows_holding_inf_or_nan_are_never_neighbours(tmp_path, dtype, index):
    """A model with broken rows still converts and searches: those rows never rank, the rest
    rank as brute force over the finite rows does, and a broken query is a clear error."""
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(300, 16)).astype(np.float32)
    bad = [3, 50, 51, 299]
    rows[3, 2], rows[50, 0], rows[51] = np.inf, np.nan, -np.inf
    rows[299, 7] = np.nan
    words = [f"w{i}" for i in range(len(rows))]
    out = tmp_path / f"broken-{dtype}-{index}.store"
    store.convert_vectors(words, rows, out, dtype=dtype, search_index=index)
    v = store.open(out)
    stored = v.vectors.astype(np.float32)
    good = np.setdiff1d(np.arange(len(rows)), bad)
    unit = stored[good] / np.linalg.norm(stored[good], axis=1, keepdims=True)
    backends = ["cpu"] + (["faiss"] if importlib.util.find_spec("faiss") else [])
    for q in (7, 120):
        sims = unit @ (stored[q] / np.linalg.norm(stored[q]))
        order = good[np.lexsort((good, -sims))]
        want = [words[i] for i in order if i != q][:10]
        for device in backends:
            got = v.most_similar(words[q], k=10, device=device)
            assert [w for w, _ in got] == want, (device, got)
        everything = v.most_similar(words[q], k=len(rows), device="cpu")
        assert len(everything) == len(good) - 1
        assert not {w for w, _ in everything} & {words[i] for i in bad}
    with pytest.raises(ValueError, match="inf or NaN"):
        v.most_similar("w3")
    assert np.isinf(v["w3"][2])
    result = CliRunner().invoke(app, ["nn", str(out), "w3"])
    assert result.exit_code != 0 and "inf or NaN" in result.output


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_warm_maps_the_whole_file_and_changes_no_answer(stores, tmp_path):
    """`warm()` maps every page of the file into the process at once and returns the same
    store; lookups and neighbours are unchanged. The pages counted are those of the store's
    own mapping (smaps Rss), measured in a fresh process on a 10 MB store whose page cache was
    dropped first, so a `warm()` that does nothing fails: only rows read so far are mapped."""
    from vecsmith.datasets import gensim_test_file
    from vecsmith.fasttext import load_model

    rows = np.random.default_rng(0).standard_normal((20000, 128)).astype(np.float32)
    big = store.convert_vectors([f"w{i}" for i in range(20000)], rows, tmp_path / "big.store",
                                dtype="float32", quiet=True)
    if hasattr(os, "posix_fadvise"):
        fd = os.open(big, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    child = """if True:
        import sys
        from vecsmith import store
        def mapped_kb(path):  # Rss of the mappings of this file only
            total, ours = 0, False
            with open("/proc/self/smaps") as fh:
                for line in fh:
                    head = line.split()
                    if head and "-" in head[0] and not head[0].endswith(":"):
                        ours = head[-1] == path
                    elif ours and head[0] == "Rss:":
                        total += int(head[1])
            return total
        v = store.open(sys.argv[1])
        v.get_many(["w5", "w19999"])
        before = mapped_kb(sys.argv[1])
        assert v.warm() is v
        print(before, mapped_kb(sys.argv[1]))
    """
    run = subprocess.run([sys.executable, "-c", child, str(big)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    before, after = map(int, run.stdout.split())
    size_kb = big.stat().st_size / 1024
    assert before < 0.5 * size_kb, (before, size_kb)  # else the check below proves nothing
    assert after >= 0.95 * size_kb, (before, after, size_kb)

    v = store.open(stores["lee_fasttext_new.bin", "float16"])
    words = [*v.words[:50], "unseenwordzz", "governmentality"]
    before, nn = v.get_many(words), v.most_similar("government", 5)
    assert v.warm() is v
    assert np.array_equal(v.get_many(words).view(np.uint32), before.view(np.uint32))
    assert v.most_similar("government", 5) == nn
    m = load_model(gensim_test_file("lee_fasttext_new.bin"))
    vecs = m.get_word_vectors(words)
    assert m.warm() is m
    assert np.array_equal(m.get_word_vectors(words).view(np.uint32), vecs.view(np.uint32))


def test_word_by_id_decodes_one_word(stores):
    v = store.open(stores["pang_lee_polarity_fasttext.bin", "float16"])  # has invalid UTF-8
    for i in [0, 1, len(v) // 2, len(v) - 1]:
        assert v.word(i) == v.words[i] and v.word_id(v.word(i)) == i
    with pytest.raises(IndexError, match="out of range"):
        v.word(len(v))
