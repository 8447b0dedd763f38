"""Exact checks that a planted bug in the subword scheme fails (see benchmarks/mutants.py):
settings the reference models do not use, against the official fastText as oracle."""

from __future__ import annotations

import warnings

import numpy as np
from conftest import fasttext, load_official, official_vectors

from vecsmith import subwords
from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model


def test_minn_1_leaves_out_the_bracket_unigrams(tmp_path):
    """With minn = 1, fastText skips the n-grams "<" and ">" alone (but keeps every other
    single character, multi-byte ones included). The gensim models all have minn >= 3."""
    corpus = tmp_path / "corpus.txt"
    text = gensim_test_file("lee_background.cor").read_text(encoding="utf-8").split()[:4000]
    corpus.write_text(" ".join(text) + "\nпривет мир é ü 日本 a b\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fasttext.train_unsupervised(str(corpus), minn=1, maxn=3, dim=8, bucket=5000,
                                            epoch=1, minCount=1, thread=1, verbose=0)
    path = tmp_path / "minn1.bin"
    model.save_model(str(path))
    m, o = load_model(path), load_official(path)
    probes = ["a", "b", "the", "zebra", "привет", "приветик", "é", "日本語", "x", ""]
    for w in probes:
        raw = w.encode("utf-8")
        s_ref, ids_ref = o.f.getSubwords(raw, "strict")
        s, ids = m.get_subwords(w)
        assert s == list(s_ref) and np.array_equal(ids, ids_ref), w
    assert "<" not in m.get_subwords("zebra")[0] and ">" not in m.get_subwords("zebra")[0]
    # a few words take the numpy path, a batch above SMALL_BATCH the compiled kernels: both
    for words in (probes, probes * (subwords.SMALL_BATCH // len(probes) + 1)):
        got = m.get_word_vectors(words)
        ref = official_vectors(o, [w.encode("utf-8") for w in words])
        assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
