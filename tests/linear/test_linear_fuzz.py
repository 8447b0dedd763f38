"""Whatever text comes in, the parser returns well-formed CSR or raises FeatureFormatError."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vecsmith.linear import FeatureFormatError, Featurizer, OnlineLinearClassifier

ALPHABET = st.sampled_from([*list("ab|: \t.-+e0123456789xyzü日"), "\r", "1e", "-1"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)


def check_batch(batch, n, n_features):
    assert batch.indptr.shape == (n + 1,)
    assert batch.indptr[0] == 0 and np.all(np.diff(batch.indptr) >= 0)
    assert len(batch.indices) == len(batch.values) == batch.indptr[-1]
    if len(batch.indices):
        assert batch.indices.min() >= 0 and batch.indices.max() < n_features


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_parser_never_crashes(texts, lookup, cross):
    f = Featurizer(bits=10, lookup=lookup, cross=["ab", "aa"] if cross else [])
    texts = [t.replace("\n", " ") for t in texts]
    try:
        batch = f.transform(texts, grow=True)
    except FeatureFormatError:
        return
    check_batch(batch, len(texts), f.n_features)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=6))
def test_words_and_token_lists_never_crash(words):
    words = [w.replace("\n", " ") for w in words]
    f = Featurizer(bits=12, ngram_range=(1, 4))
    check_batch(f.transform(words), len(words), f.n_features)
    g = Featurizer(bits=12, lookup=True)
    check_batch(g.transform([words], grow=True), 1, g.n_features)
    clf = OnlineLinearClassifier(lookup=True)
    clf.partial_fit([words, words[:1]], [0, 1], classes=[0, 1])
    assert np.all(np.isfinite(clf.decision_function([words])))
