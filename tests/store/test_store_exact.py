"""Exact checks on one small store against the official fastText (see benchmarks/mutants.py):
OOV averaging, the query word's exclusion and the analogy's signs, on a store that converts in
a second, so a planted bug in the store's lookups or search fails fast."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from vecsmith import store
from vecsmith.datasets import gensim_test_file

fasttext = pytest.importorskip("fasttext")
fasttext_pybind = pytest.importorskip("fasttext_pybind")
MODEL = "lee_fasttext_new.bin"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    path = tmp_path_factory.mktemp("exact") / "lee.store"
    store.convert_fasttext(gensim_test_file(MODEL), path, dtype="float32", quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = fasttext.load_model(str(gensim_test_file(MODEL)))
    return store.open(path), official


def _official_vector(o, word: str) -> np.ndarray:
    vec = fasttext_pybind.Vector(o.get_dimension())
    o.f.getWordVector(vec, word.encode("utf-8"))
    return np.array(vec, dtype=np.float32)


def test_oov_vectors_are_the_official_mean_of_ngram_rows(pair):
    v, o = pair
    rng = random.Random(1)
    words = ["".join(rng.choice("abcdefghijklmnoprstuвгдж") for _ in range(rng.randint(1, 14)))
             for _ in range(300)]
    words = [w for w in words if w not in v] + ["governmentality", "x"]
    got = v.get_many(words)
    ref = np.stack([_official_vector(o, w) for w in words])
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    assert np.abs(got).sum() > 0


def test_the_query_word_is_not_its_own_neighbour(pair):
    v, o = pair
    for w in [*v.words[2:40:4], "governmentality"]:
        got = v.most_similar(w, 5, device="cpu")
        assert w not in [x for x, _ in got]
        ref = o.get_nearest_neighbors(w, 5)
        np.testing.assert_allclose([s for _, s in got], [s for s, _ in ref], atol=1e-5)


def test_analogy_is_a_minus_b_plus_c(pair):
    v, o = pair
    words = v.words
    for a, b, c in [(words[5], words[7], words[9]), (words[20], words[11], words[31])]:
        got = v.analogy(a, b, c, 5, device="cpu")
        ref = o.get_analogies(a, b, c, 5)
        np.testing.assert_allclose([s for _, s in got], [s for s, _ in ref], atol=1e-5)
        assert got[0][0] == ref[0][1] or abs(ref[0][0] - ref[1][0]) < 1e-5
