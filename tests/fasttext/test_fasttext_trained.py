"""Models trained here with the official fastText, in every configuration, read correctly."""

from __future__ import annotations

import os
import random
import warnings
import zlib

import numpy as np
import pytest
from conftest import fasttext, load_official, official_predict, official_vectors

from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model

UNSUPERVISED = {
    "skipgram": dict(model="skipgram"),
    "cbow": dict(model="cbow"),
    "cbow_no_subwords": dict(model="cbow", minn=0, maxn=0),
    "skipgram_tiny_buckets": dict(model="skipgram", bucket=7, minn=2, maxn=4),
    "skipgram_hs": dict(model="skipgram", loss="hs"),
}
SUPERVISED = {
    "sup_softmax": dict(loss="softmax"),
    "sup_hs": dict(loss="hs"),
    "sup_ns": dict(loss="ns"),
    "sup_ova": dict(loss="ova"),
    "sup_subwords_bigrams": dict(loss="softmax", minn=2, maxn=5, wordNgrams=3, bucket=5000),
    "sup_no_buckets": dict(loss="softmax", wordNgrams=1, minn=0, maxn=0),
}
# Quantization needs >= 256 rows per matrix, hence many labels for -qout.
QUANTIZED = {
    "ftz_plain": dict(train=dict(loss="softmax", minn=2, maxn=4, wordNgrams=2, bucket=4000),
                      quant=dict(dsub=2)),
    "ftz_cutoff_qnorm": dict(train=dict(loss="softmax", minn=2, maxn=4, wordNgrams=2,
                                        bucket=4000),
                             quant=dict(cutoff=400, qnorm=True, dsub=3)),
    "ftz_cutoff_qnorm_qout": dict(train=dict(loss="hs", minn=2, maxn=4, bucket=4000),
                                  quant=dict(cutoff=500, qnorm=True, qout=True, dsub=4)),
}


def _quiet(fn, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(**kw)


def many_label_corpus(path, n_labels=300, lines=3000, seed=3):
    """Sentences whose label is set by their first word, over 300 labels (for -qout)."""
    rng = random.Random(seed)
    text = gensim_test_file("lee_background.cor").read_text(encoding="utf-8").split()
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            start = rng.randrange(len(text) - 12)
            words = text[start : start + rng.randint(3, 12)]
            # crc32, not hash(): str hashes are salted per process, so the labels would change per run
            label = zlib.crc32(words[0].encode("utf-8")) % n_labels
            f.write(f"__label__c{label} {' '.join(words)}\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train every configuration once (about 20 s on two cores)."""
    folder = tmp_path_factory.mktemp("ft_models")
    unsup_corpus = str(gensim_test_file("lee_background.cor"))
    sup_corpus = str(gensim_test_file("pang_lee_polarity.cor"))
    many = str(folder / "many_labels.txt")
    many_label_corpus(many)
    base = dict(dim=12, epoch=2, thread=1, verbose=0)
    paths = {}
    for name, kw in UNSUPERVISED.items():
        m = _quiet(fasttext.train_unsupervised, input=unsup_corpus, minCount=2,
                   **{**base, "bucket": 20000, **kw})
        paths[name] = str(folder / f"{name}.bin")
        m.save_model(paths[name])
    for name, kw in SUPERVISED.items():
        m = _quiet(fasttext.train_supervised, input=sup_corpus, **{**base, "epoch": 5, **kw})
        paths[name] = str(folder / f"{name}.bin")
        m.save_model(paths[name])
    for name, spec in QUANTIZED.items():
        m = _quiet(fasttext.train_supervised, input=many, **{**base, **spec["train"]})
        m.quantize(input=many, retrain=False, **spec["quant"])
        paths[name] = str(folder / f"{name}.ftz")
        m.save_model(paths[name])
    paths["_many_corpus"] = many
    return paths


def _probe_words(m, n_oov=300):
    """Every word, OOV strings, `</s>` and labels whose id has an input row to read."""
    rng = random.Random(5)
    vocab = [m.word_bytes(i) for i in range(m.nwords)]
    letters = "abcdefghijklmnopqrstuvwxyzéжд"
    oov = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 10))).encode()
           for _ in range(n_oov)]
    rows = m._file.input.shape[0]
    labels = [m.word_bytes(i) for i in range(m.nwords, m.nwords + m.nlabels)]
    # A label's id past the input matrix makes fastText read out of bounds (garbage);
    # vecsmith answers as for an unknown word instead.
    beyond = labels[rows - m.nwords :] if rows - m.nwords < len(labels) else []
    for w in beyond[:5]:
        _, ids = m.get_subwords(w)
        assert np.array_equal(m.get_word_vector(w), m.rows_mean(ids[1:]))
    return vocab + oov + labels[: max(0, rows - m.nwords)][:3] + [b"</s>"]


@pytest.mark.parametrize("name", [*UNSUPERVISED, *SUPERVISED])
def test_dense_models_bit_identical(trained, name):
    m, o = load_model(trained[name]), load_official(trained[name])
    words = _probe_words(m)
    got, ref = m.get_word_vectors(words), official_vectors(o, words)
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    assert m.words == o.get_words(on_unicode_error="surrogateescape")
    for w in words[:50] + words[-50:]:
        s_ref, ids_ref = o.f.getSubwords(w, "surrogateescape")
        s, ids = m.get_subwords(w)
        assert s == list(s_ref) and np.array_equal(ids, ids_ref)


@pytest.mark.parametrize("name", list(SUPERVISED))
def test_supervised_predict_and_sentence_vectors(trained, name):
    m, o = load_model(trained[name]), load_official(trained[name])
    lines = gensim_test_file("pang_lee_polarity.cor").read_text(
        encoding="utf-8", errors="replace").splitlines()
    texts = [" ".join(ln.split()[1:]) for ln in lines[:150]] + ["unseen wordz here", ""]
    for text in texts:
        labels, probs = m.predict(text, k=2)
        ref_labels, ref_probs = official_predict(o, text, 2)
        np.testing.assert_allclose(probs, ref_probs, atol=1e-5)
        if len(ref_probs) == 2 and abs(ref_probs[0] - ref_probs[1]) > 1e-5:
            assert list(labels) == ref_labels
        np.testing.assert_allclose(m.get_sentence_vector(text), o.get_sentence_vector(text),
                                   rtol=1e-5, atol=1e-6)
    # threshold and k=-1 (all labels)
    labels, probs = m.predict(texts[0], k=-1, threshold=0.3)
    ref_labels, ref_probs = official_predict(o, texts[0], -1, 0.3)
    assert list(labels) == ref_labels


@pytest.mark.parametrize("name", list(QUANTIZED))
def test_quantized_models(trained, name):
    m, o = load_model(trained[name]), load_official(trained[name])
    spec = QUANTIZED[name]["quant"]
    assert m.is_quantized()
    assert (m.pruneidx_size >= 0) == ("cutoff" in spec)
    assert m._file.qout == spec.get("qout", False)
    words = _probe_words(m)
    got, ref = m.get_word_vectors(words), official_vectors(o, words)
    if spec.get("qnorm"):  # norms are dequantised with FMA in the -march=native build
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    else:
        assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    lines = open(trained["_many_corpus"], encoding="utf-8").read().splitlines()
    texts = [ln.split(" ", 1)[1] for ln in lines[:300]]
    for text in texts:
        labels, probs = m.predict(text, k=3)
        ref_labels, ref_probs = official_predict(o, text, 3)
        np.testing.assert_allclose(probs, ref_probs, atol=1e-5)
        if np.min(np.abs(np.diff(ref_probs))) > 1e-5:
            assert list(labels) == ref_labels


def test_version_11_supervised_reads_without_subwords(trained, tmp_path):
    """Version 11 supervised files were trained without character n-grams: maxn is forced to 0."""
    data = bytearray(open(trained["sup_subwords_bigrams"], "rb").read())
    data[4:8] = (11).to_bytes(4, "little")
    path = tmp_path / "v11.bin"
    path.write_bytes(bytes(data))
    m = load_model(path)
    assert m.version == 11 and m.args.maxn == 0
    w = m.words[4]
    assert np.array_equal(m.get_word_vector(w), m.get_input_vector(m.get_word_id(w)))
    assert os.path.getsize(path) == m._file.file_size
