"""vecsmith's reader against the official fastText on the reference models packages ship."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    LEGACY,
    OFFICIAL_READABLE,
    load_official,
    official_predict,
    official_vectors,
)

from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model


def vocab_bytes(m) -> list[bytes]:
    return [m.word_bytes(i) for i in range(m.nwords)]


def bit_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("name", OFFICIAL_READABLE)
def test_word_vectors_bit_identical(name, oov):
    path = gensim_test_file(name)
    m, o = load_model(path), load_official(path)
    words = vocab_bytes(m) + oov + [b"</s>", b""]
    assert bit_equal(m.get_word_vectors(words), official_vectors(o, words))
    # The single-word form is the batch form.
    assert bit_equal(m.get_word_vector(words[3]), m.get_word_vectors([words[3]])[0])


def test_batch_into_a_reused_array(oov):
    """`out=`: every element is written (a dirty array gives the official bits, on the
    threaded path too), the array itself comes back, and a wrong one is refused."""
    path = gensim_test_file(OFFICIAL_READABLE[0])
    m, o = load_model(path), load_official(path)
    words = (vocab_bytes(m) + oov)[:3000]
    assert len(words) > 1024  # big enough for the threaded path
    dirty = np.full((len(words), m.get_dimension()), np.nan, dtype=np.float32)
    dirty[::7] = -0.0
    got = m.get_word_vectors(words, out=dirty)
    assert got is dirty and bit_equal(got, official_vectors(o, words))
    for bad in (np.zeros((len(words), m.get_dimension()), np.float64),
                np.zeros((len(words) - 1, m.get_dimension()), np.float32),
                np.zeros((m.get_dimension(), len(words)), np.float32).T):
        with pytest.raises(ValueError, match="out must be"):
            m.get_word_vectors(words, out=bad)


def test_invalid_utf8_words_keep_their_bytes():
    """pang_lee's dictionary holds words that are not valid UTF-8: bytes are kept and hashed."""
    path = gensim_test_file("pang_lee_polarity_fasttext.bin")
    m, o = load_model(path), load_official(path)
    invalid = [w for w in vocab_bytes(m) if not _valid_utf8(w)]
    assert invalid, "the reference model should contain invalid UTF-8 words"
    assert bit_equal(m.get_word_vectors(invalid), official_vectors(o, invalid))
    # Decoded words (surrogateescape) find themselves again.
    for i, w in enumerate(m.words):
        assert m.get_word_id(w) == i
    with pytest.raises(UnicodeDecodeError, match="can't decode"):
        m.get_words(on_unicode_error="strict")
    replaced = m.get_words(on_unicode_error="replace")
    assert len(replaced) == m.nwords and any("\ufffd" in w for w in replaced)


def _valid_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("name", OFFICIAL_READABLE)
def test_dictionary_and_subwords(name):
    path = gensim_test_file(name)
    m, o = load_model(path), load_official(path)
    assert m.words == o.get_words(on_unicode_error="surrogateescape")
    assert m.labels == o.get_labels(on_unicode_error="surrogateescape")
    _words, counts = m.get_words(include_freq=True)
    assert np.array_equal(counts, o.get_words(include_freq=True,
                                              on_unicode_error="surrogateescape")[1])
    assert m.get_dimension() == o.get_dimension()
    assert m.is_quantized() == o.is_quantized()
    probes = [*m.words[:200], "zebra", "тестик", "🚑🚒", "a", "</s>"]
    for w in probes:
        raw = w.encode("utf-8", "surrogateescape")
        assert m.get_word_id(w) == o.f.getWordId(raw)
        s_ref, ids_ref = o.f.getSubwords(raw, "surrogateescape")
        s, ids = m.get_subwords(w)
        assert s == list(s_ref) and np.array_equal(ids, ids_ref), w
        if m.args.bucket:
            assert m.get_subword_id(w) == o.f.getSubwordId(raw)
    ids = m.get_word_ids(m.words)
    assert np.array_equal(ids, np.arange(m.nwords))
    assert m.words[0] in m and "definitely-not-a-word-xyz" not in m


@pytest.mark.parametrize("name", OFFICIAL_READABLE)
def test_input_and_output_matrices(name):
    path = gensim_test_file(name)
    m, o = load_model(path), load_official(path)
    inp = m.get_input_matrix()
    assert isinstance(inp, np.memmap) or isinstance(inp.base, np.memmap) or not inp.flags.owndata
    assert np.array_equal(inp, o.get_input_matrix())
    assert np.array_equal(m.get_output_matrix(), o.get_output_matrix())
    for i in (0, inp.shape[0] // 2, inp.shape[0] - 1):
        assert np.array_equal(m.get_input_vector(i), inp[i])
    with pytest.raises(IndexError, match="out of range"):
        m.get_input_vector(inp.shape[0])


def test_fb_ngrams_reproduced():
    """gensim's fb-ngrams.txt: `print-ngrams` output of crime-and-punishment.bin."""
    m = load_model(gensim_test_file("crime-and-punishment.bin"))
    blocks = gensim_test_file("fb-ngrams.txt").read_text(encoding="utf-8").split("<start>\n")[1:]
    assert len(blocks) >= 6
    for block in blocks:
        lines = block.split("\n<end>")[0].split("\n")
        word, expected = lines[0], lines[1:]
        if word == "atnthe":  # the shell that made the file ate the backslash of 'at\nthe'
            continue
        expected_pairs = [(ln.rsplit(" ", m.get_dimension() + 1)[0],
                           [float(x) for x in ln.split(" ")[-m.get_dimension() - 1 : -1]])
                          for ln in expected]
        if word not in m:  # fastText <= 0.9.1 printed the OOV word itself with zeros first
            assert expected_pairs[0] == (word, [0.0] * m.get_dimension())
            expected_pairs = expected_pairs[1:]
        got = m.get_ngram_vectors([word])
        assert [s for s, _ in got] == [s for s, _ in expected_pairs]
        for (_, v), (_, ref) in zip(got, expected_pairs):
            assert [f"{x:.5g}" for x in v] == [f"{x:.5g}" for x in ref]


def test_legacy_models_match_gensim_and_their_vec():
    """Pre-2017 files (no magic): the official code refuses them; gensim is the reference, and
    lee_fasttext.vec holds the vectors the original tool wrote."""
    from gensim.models.fasttext import load_facebook_vectors

    for name in LEGACY:
        path = gensim_test_file(name)
        m, g = load_model(path), load_facebook_vectors(str(path))
        assert m.version == 0
        words = [w for w in g.index_to_key if "\\x" not in w]  # gensim escapes invalid bytes
        words += ["zzqx", "тестик", "neuronové"]
        # gensim divides by the count where fastText multiplies by its reciprocal: 1 ulp apart.
        np.testing.assert_allclose(m.get_word_vectors(words), np.stack([g[w] for w in words]),
                                   rtol=2e-6, atol=1e-6)
    m = load_model(gensim_test_file("lee_fasttext.bin"))
    lines = gensim_test_file("lee_fasttext.vec").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        word, *values = line.rstrip(" ").split(" ")
        got = [f"{x:.5g}" for x in m.get_word_vector(word)]
        assert got == [f"{float(x):.5g}" for x in values], word


def test_cp852_bytes_hash_as_bytes():
    """cp852_fasttext.bin stores cp852-encoded (invalid UTF-8) words: they are looked up by
    their bytes, and their decoded names map back to the same ids."""
    m = load_model(gensim_test_file("cp852_fasttext.bin"))
    raw = [m.word_bytes(i) for i in range(m.nwords)]
    assert any(not _valid_utf8(w) for w in raw)
    assert np.array_equal(m.get_word_ids(raw), np.arange(m.nwords))
    assert np.array_equal(m.get_word_ids(m.words), np.arange(m.nwords))
    který = "který".encode("cp852")
    assert m.get_word_id(který) >= 0


@pytest.mark.parametrize("name", ["lee_fasttext_new.bin", "crime-and-punishment.bin"])
def test_nearest_neighbours_and_analogies(name):
    path = gensim_test_file(name)
    m, o = load_model(path), load_official(path)
    for w in [*m.words[1:40:3], "unseenwordxyz", "правительство"]:
        _same_ranking(m.get_nearest_neighbors(w, 10), o.get_nearest_neighbors(w, 10))
    words = m.words
    for a, b, c in [(words[5], words[7], words[9]), (words[20], words[3], "zzz")]:
        _same_ranking(m.get_analogies(a, b, c, 8), o.get_analogies(a, b, c, 8))


def _same_ranking(got, ref, tol=1e-5):
    assert len(got) == len(ref)
    np.testing.assert_allclose([s for s, _ in got], [s for s, _ in ref], atol=tol)
    # Ties (scores within tol) may come in either order; compare the words of each tie group.
    i = 0
    while i < len(ref):
        j = i
        while j + 1 < len(ref) and abs(ref[j + 1][0] - ref[i][0]) <= tol:
            j += 1
        if j + 1 == len(ref):  # a tie at the cut-off can swap which words make the list
            break
        assert {w for _, w in got[i : j + 1]} == {w for _, w in ref[i : j + 1]}
        i = j + 1


def test_sentence_vectors():
    for name in ["lee_fasttext_new.bin", "pang_lee_polarity_fasttext.bin"]:
        path = gensim_test_file(name)
        m, o = load_model(path), load_official(path)
        for text in ["the government said", "an unseen wordd here", "", "  spaced\tout  ",
                     "a film that is both funny and sad"]:
            np.testing.assert_allclose(m.get_sentence_vector(text), o.get_sentence_vector(text),
                                       rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError, match="one line at a time"):
            m.get_sentence_vector("two\nlines")


def test_supervised_predictions_pang_lee():
    path = gensim_test_file("pang_lee_polarity_fasttext.bin")
    m, o = load_model(path), load_official(path)
    corpus = gensim_test_file("pang_lee_polarity.cor").read_text(encoding="utf-8",
                                                                 errors="replace")
    lines = [" ".join(ln.split()[1:]) for ln in corpus.splitlines()[:300]]
    for text in lines:
        labels, probs = m.predict(text, k=2)
        ref_labels, ref_probs = official_predict(o, text, 2)
        np.testing.assert_allclose(probs, ref_probs, atol=1e-5)
        if abs(ref_probs[0] - ref_probs[-1]) > 1e-5:
            assert list(labels) == ref_labels


def test_lid176_quantized_model(lid_path, oov):
    m, o = load_model(lid_path), load_official(lid_path)
    assert m.is_quantized() and m.pruneidx_size > 0
    words = vocab_bytes(m) + oov[:2000]
    got, ref = m.get_word_vectors(words), official_vectors(o, words)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    for i in range(0, m._file.input.shape[0], 97):
        np.testing.assert_allclose(m.get_input_vector(i), np.array(o.get_input_vector(i)),
                                   rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="quantized Matrix"):
        m.get_input_matrix()
    # Pruned: only kept n-grams have ids; the official lists misalign, ours stay aligned.
    for w in ["hello", "bonjour", "здравствуйте", "こんにちは"]:
        s, ids = m.get_subwords(w)
        _, ids_ref = o.f.getSubwords(w, "strict")
        assert np.array_equal(ids, ids_ref) and len(s) == len(ids)


def lid_sentences(n: int = 1200, seed: int = 1) -> list[str]:
    """Sentences in many languages from wordfreq's frequency lists."""
    import random

    import wordfreq

    langs = ["en", "fr", "de", "es", "it", "pt", "nl", "sv", "pl", "cs", "ru", "uk", "bg", "el",
             "tr", "fi", "hu", "ro", "ar", "fa", "he", "hi", "ja", "zh", "ko", "id", "vi",
             "da", "nb", "ca"]
    rng = random.Random(seed)
    lists = {lang: wordfreq.top_n_list(lang, 3000) for lang in langs}
    out = []
    for i in range(n):
        words = lists[langs[i % len(langs)]]
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))))
    return out


def test_lid176_predict_matches_official(lid_path):
    m, o = load_model(lid_path), load_official(lid_path)
    sentences = lid_sentences()
    assert len(sentences) >= 1000
    batch_labels, batch_probs = m.predict(sentences, k=3)
    mismatched = 0
    for text, labels, probs in zip(sentences, batch_labels, batch_probs):
        ref_labels, ref_probs = official_predict(o, text, 3)
        np.testing.assert_allclose(probs, ref_probs, atol=1e-5, err_msg=text)
        if list(labels) != ref_labels:
            # only acceptable where two probabilities tie within the tolerance
            assert np.min(np.abs(np.diff(ref_probs))) < 1e-5, text
            mismatched += 1
    assert mismatched <= 5
    labels, probs = m.predict("bonjour tout le monde", k=5, threshold=0.05)
    ref_labels, ref_probs = official_predict(o, "bonjour tout le monde", 5, 0.05)
    assert list(labels) == ref_labels
    np.testing.assert_allclose(probs, ref_probs, atol=1e-5)
