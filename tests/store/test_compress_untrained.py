"""Rows training never moved: fastText's seeded initial values regenerated bit for bit
(`vecsmith.fasttext.init_rows`), and compressed stores that mark them instead of storing them,
checked against models trained here by the official `fasttext`."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

from vecsmith import store
from vecsmith._batch import pack_words
from vecsmith.fasttext import load_model
from vecsmith.fasttext.init_rows import InitLayout, find_layout, init_rows, untrained_rows
from vecsmith.store import StoreFormatError
from vecsmith.store.compress import compress
from vecsmith.subwords import compiled

fasttext = pytest.importorskip("fasttext")
pytest.importorskip("faiss")
BUCKET = 3004  # with the 151 words: block borders fall inside rows (dim 9)


def _train(folder, thread: int, seed: int = 0):
    """A small cbow model (dim 9: rows cross block borders) trained by the official tool."""
    rng = random.Random(1)
    vocab = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 8)))
             for _ in range(150)]
    corpus = folder / "c.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(vocab) for _ in range(12))
                                for _ in range(300)) + "\n")
    out = folder / f"m{thread}_{seed}.bin"
    # fasttext 0.9.2's train_unsupervised has no seed keyword: build its arguments the way
    # it does, with the seed set
    from fasttext_pybind import train

    from fasttext import FastText as official

    args = dict(official.unsupervised_default, input=str(corpus), model="cbow", dim=9, minn=3,
                maxn=3, bucket=BUCKET, minCount=1, epoch=1, thread=thread, seed=seed,
                verbose=0)
    a = official._build_args(args, set(args))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ft = official._FastText(args=a)
    train(ft.f, a)
    ft.f.saveModel(str(out))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("init")
    return {(t, s): _train(folder, t, s) for t, s in ((1, 0), (3, 0), (3, 7))}


def _unused(m):
    a = m.args
    blob, offs = pack_words(m.words)
    ids, _ = compiled().word_bucket_ids(blob, offs, a.minn, a.maxn, a.bucket, False)
    return np.setdiff1d(np.arange(a.bucket), ids)


def _rows(m):
    mat = m.get_input_matrix()
    return lambda b: np.asarray(mat[m.nwords + np.asarray(b, np.int64)], np.float32)


def _oov_of_untrained(m, untrained: np.ndarray, n: int = 20) -> list[str]:
    """Unknown words all of whose n-grams are untrained rows."""
    rng = random.Random(5)
    a, out = m.args, []
    for _ in range(20000):
        w = "".join(rng.choice("ijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7)))
        blob, offs = pack_words([w])
        ids, _ = compiled().word_bucket_ids(blob, offs, a.minn, a.maxn, a.bucket, False)
        if len(ids) and np.isin(ids, untrained).all() and w not in out:
            out.append(w)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("thread", [1, 3])
def test_every_untouched_row_is_fasttexts_init_bit_for_bit(trained, thread):
    m = load_model(trained[(thread, 0)])
    unused, rows = _unused(m), _rows(m)
    lay = find_layout(rows, unused, m.nwords, m.args.bucket, m.args.dim)
    assert lay == InitLayout(m.nwords + BUCKET, m.nwords, 9, 0, thread)
    got = untrained_rows(rows, unused, lay)
    drawn = unused[unused < lay.drawn_buckets]
    np.testing.assert_array_equal(got, drawn)  # every untouched drawn row matches exactly
    np.testing.assert_array_equal(lay.rows(drawn), rows(drawn))
    rest = unused[unused >= lay.drawn_buckets]
    assert len(rest) and not rows(rest).any()  # blocks past -thread are never drawn
    # the row where the drawn blocks end: values up to the border, zeros after
    size = lay.matrix_rows * 9
    border = thread * (size // 10)
    r = border // 9
    assert border % 9  # dim 9 puts the border inside a row
    row = init_rows([r], lay.matrix_rows, 9, 0, thread)[0]
    assert row[: border - r * 9].all() and not row[border - r * 9 :].any()
    if r - m.nwords in unused:
        np.testing.assert_array_equal(row, rows([r - m.nwords])[0])


def test_rows_inside_the_drawn_blocks_cross_block_borders_exactly(trained):
    m = load_model(trained[(3, 0)])
    size = (m.nwords + BUCKET) * 9
    unused = _unused(m)
    crossing = [r - m.nwords for b in (1, 2) for r in [b * (size // 10) // 9]
                if r - m.nwords in unused]
    assert crossing, "no untouched row crosses a border in this model"
    lay = InitLayout(m.nwords + BUCKET, m.nwords, 9, 0, 3)
    np.testing.assert_array_equal(lay.rows(crossing), _rows(m)(crossing))


def test_another_seed_is_found_only_with_that_seed(trained):
    m = load_model(trained[(3, 7)])
    unused, rows = _unused(m), _rows(m)
    assert find_layout(rows, unused, m.nwords, BUCKET, 9) is None
    assert find_layout(rows, unused, m.nwords, BUCKET, 9, seed=7).blocks == 3


def test_rows_come_the_same_in_chunks():
    rows = np.arange(3, 40) * 5
    np.testing.assert_array_equal(init_rows(rows, 400, 9, 3, 7, chunk=4),
                                  init_rows(rows, 400, 9, 3, 7))


def test_layout_json_is_checked():
    lay = InitLayout(100, 10, 9, 0, 3)
    assert InitLayout.from_json(lay.to_json()) == lay
    for bad in ('{"rule": "other"}', "[1]", lay.to_json().replace('"blocks":3', '"blocks":12'),
                lay.to_json().replace('"dim":9', '"dim":9.5'), "{"):
        with pytest.raises(ValueError):
            InitLayout.from_json(bad)


@pytest.fixture(scope="module")
def compressed(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cu")
    src = trained[(3, 0)]
    with_init = store.open(compress(src, folder / "a.store", size=None, max_words=60,
                                    max_ngrams=400))
    without = store.open(compress(src, folder / "b.store", size=None, max_words=60,
                                  max_ngrams=400, untrained=False))
    return load_model(src), with_init, without


def test_unknown_words_of_untrained_ngrams_come_back_as_fasttexts(compressed):
    m, v, without = compressed
    unused = _unused(m)
    lay = v._init
    untrained = untrained_rows(_rows(m), unused, lay)
    assert v.compression["untrained_ngrams"] == len(untrained) > 0
    assert "regenerated" in v.describe()["subwords"]["untrained_ngrams"]
    words = _oov_of_untrained(m, untrained)
    assert len(words) >= 5
    ft = fasttext.load_model(str(m.path))
    official = np.stack([ft.get_word_vector(w) for w in words])
    np.testing.assert_allclose(v.get_many(words), official, rtol=1e-6, atol=1e-9)
    assert not without.get_many(words, missing="zero").any()  # dropped: nothing to average
    np.testing.assert_array_equal(v.bucket_rows(untrained), lay.rows(untrained))
    # the rows really are not stored: none of them is among the kept keys
    assert not np.isin(untrained, v.kept_buckets).any()
    # vocabulary and trained n-grams read the same with or without the bitmap
    np.testing.assert_array_equal(v.get_many(m.words[:60]), without.get_many(m.words[:60]))


def test_ngram_vectors_list_what_an_unknown_word_averages(compressed):
    m, v, _ = compressed
    untrained = untrained_rows(_rows(m), _unused(m), v._init)
    for word in _oov_of_untrained(m, untrained, 3):
        strings, ids = v.get_subwords(word)
        assert strings and np.isin(ids, untrained).all()
        rows = np.stack([r for _, r in v.get_ngram_vectors([word])])
        np.testing.assert_array_equal(rows, v._init.rows(ids))
        np.testing.assert_allclose(rows.mean(axis=0), v[word], rtol=1e-6, atol=1e-9)


def test_exported_bin_keeps_the_untrained_rows(compressed, tmp_path):
    from vecsmith.fasttext.writer import save_fasttext_bin

    m, v, _ = compressed
    untrained = untrained_rows(_rows(m), _unused(m), v._init)
    words = _oov_of_untrained(m, untrained, 5)
    out = save_fasttext_bin(v, tmp_path / "e.bin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ft = fasttext.load_model(str(out))
    np.testing.assert_allclose(np.stack([ft.get_word_vector(w) for w in words]),
                               v.get_many(words), rtol=1e-6, atol=1e-9)


def test_a_size_bound_counts_the_bitmap(trained, tmp_path):
    out = compress(trained[(3, 0)], tmp_path / "s.store", size="120kB")
    v = store.open(out)
    assert out.stat().st_size <= 120_000 and v._init is not None
    assert v.describe()["tensor_bytes"]["ngram_init"] == (v._init.drawn_buckets + 7) // 8


def test_corrupt_untrained_marks_raise_store_format_errors(compressed, tmp_path):
    from safetensors.numpy import save_file

    v = compressed[1]
    good = {k: np.array(a) for k, a in v._store.tensors.items()}
    meta = dict(v._store.metadata)

    def opened(name, tensors=good, **changes):
        save_file(tensors, tmp_path / name, metadata=dict(meta, **changes))
        return store.open(tmp_path / name)

    bits = good["ngram_init"]
    cases = [
        ("a", dict(good, ngram_init=bits[:-1].copy()), {}, "is not uint8"),
        ("b", dict(good, ngram_init=bits.astype(np.int16)), {}, "is not uint8"),
        ("c", {k: a for k, a in good.items() if k != "ngram_init"}, {}, "together"),
        ("d", good, {"init_rows": "{"}, "metadata 'init_rows'"),
        ("e", good, {"init_rows": meta["init_rows"].replace('"seed":0', '"seed":-1')},
         "out of range"),
        ("h", good, {"init_rows": "[" * 100_000}, "metadata 'init_rows'"),  # too deep
        ("i", dict(good, ngram_init=_padding_set(bits, v._init.drawn_buckets)), {},
         "past the .* drawn"),
        ("f", good, {"init_rows": InitLayout(v._init.matrix_rows + 1, v._init.word_rows, 9, 0,
                                             3).to_json()}, "buckets of 9 dims"),
    ]
    for name, tensors, changes, match in cases:
        with pytest.raises(StoreFormatError, match=match):
            opened(f"{name}.store", tensors, **changes)
    lacking = {k: x for k, x in meta.items() if k != "init_rows"}
    save_file(good, tmp_path / "g.store", metadata=lacking)
    with pytest.raises(StoreFormatError, match="together"):
        store.open(tmp_path / "g.store")


def _padding_set(bits: np.ndarray, n_bits: int) -> np.ndarray:
    """The bitmap with a bit set past the last drawn bucket (in the last byte's padding)."""
    assert n_bits % 8, "this model's drawn buckets fill whole bytes"
    out = bits.copy()
    out[-1] |= np.uint8(0x80)
    return out


def test_cli_marks_or_drops_untrained_rows(trained, tmp_path):
    from typer.testing import CliRunner

    from vecsmith.cli import app

    runner = CliRunner()
    for flag, marked in (("--untrained", True), ("--drop-untrained", False)):
        out = tmp_path / f"{flag}.store"
        res = runner.invoke(app, ["compress", str(trained[(3, 0)]), str(out), "--size", "120kB",
                                  flag, "--json"])
        assert res.exit_code == 0, res.output
        assert (json.loads(res.stdout)["untrained_ngrams"] > 0) is marked
        assert ("ngram_init" in store.open(out)._store.tensors) is marked
    res = runner.invoke(app, ["compress", str(trained[(3, 0)]), str(tmp_path / "m.ftz"),
                              "--format", "ftz", "--size", "none", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["untrained_ngrams"] == 0  # no marks
    info = runner.invoke(app, ["info", str(tmp_path / "--untrained.store")])
    assert info.exit_code == 0 and "fasttext-uniform" in info.output  # the layout, in the metadata


def test_opening_a_store_with_untrained_marks_stays_light(compressed):
    """The layout is checked at open: that imports `vecsmith.fasttext.init_rows` only, not the
    fastText reader (the package loads its names lazily), nor numba."""
    import subprocess
    import sys

    code = ("import sys; from vecsmith import store; v = store.open(sys.argv[1]); "
            "assert v._init is not None; "
            "print(sorted(m for m in ('vecsmith.fasttext.model', 'vecsmith.fasttext.format', "
            "'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, compressed[1].path], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
