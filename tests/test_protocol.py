"""The reader and the store answer the same questions through `VectorSource`."""

from __future__ import annotations

import numpy as np

from vecsmith import store
from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model
from vecsmith.protocol import VectorSource


def test_reader_and_store_share_one_face(tmp_path):
    path = gensim_test_file("lee_fasttext_new.bin")
    m = load_model(path)
    v = store.open(store.convert_fasttext(m, tmp_path / "lee.store", dtype="float32",
                                          quiet=True))
    assert isinstance(m, VectorSource) and isinstance(v, VectorSource)
    assert not isinstance(np.zeros(3), VectorSource)
    assert m.words == v.words and m.dim == v.dim
    words = ["the", "government", "zzyzx", "naïveté"]
    assert [w in m for w in words] == [w in v for w in words] == [True, True, False, False]
    assert np.array_equal(m.get_word_vectors(words), v.get_word_vectors(words))
    assert np.array_equal(m["zzyzx"], v["zzyzx"])
    assert m.describe()["kind"] == "fasttext" and v.describe()["kind"] == "store"
    for d in (m.describe(), v.describe()):
        assert {"kind", "path", "dim", "words", "subwords"} <= d.keys()
        assert d["dim"] == m.dim and d["subwords"]["minn"] == m.args.minn
    near_m = m.most_similar("government", k=5, exclude=["the"])
    near_v = v.most_similar("government", k=5, exclude=["the"])
    assert [w for w, _ in near_m] == [w for w, _ in near_v]
    assert "government" not in dict(near_m) and "the" not in dict(near_m)
    assert np.allclose([s for _, s in near_m], [s for _, s in near_v], atol=1e-5)
    assert [w for w, _ in m.analogy("king", "man", "woman", k=3)] == \
        [w for w, _ in v.analogy("king", "man", "woman", k=3)]
    assert m.most_similar(m["government"], k=1)[0][0] == "government"
