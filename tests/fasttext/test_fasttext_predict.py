"""Batched compiled `predict`: bit-equal to the official binding, ties in its heap order."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from conftest import fasttext, load_official, official_predict
from test_fasttext_reference import lid_sentences

from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model

LOSSES = {
    "softmax": dict(loss="softmax"),
    "hs": dict(loss="hs"),
    "ova": dict(loss="ova"),
    "ns": dict(loss="ns"),
    "bigrams": dict(loss="softmax", minn=2, maxn=5, wordNgrams=3, bucket=5000),
}


def _pang_lee_texts(n: int = 200) -> list[str]:
    lines = gensim_test_file("pang_lee_polarity.cor").read_text(
        encoding="utf-8", errors="replace").splitlines()
    return [" ".join(ln.split()[1:]) for ln in lines[:n]] + [
        "unseen wordz here", "", "  \t spaced  out ", "__label__pos only a label"]


def _many_label_corpus(path, n_labels: int = 12, lines: int = 1500) -> None:
    """Labels set by the first word's position in a word list: deterministic (no hash())."""
    rng = random.Random(3)
    words = gensim_test_file("lee_background.cor").read_text(encoding="utf-8").split()
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            start = rng.randrange(len(words) - 12)
            chunk = words[start : start + rng.randint(3, 12)]
            f.write(f"__label__c{len(chunk[0]) % n_labels} {' '.join(chunk)}\n")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One small supervised model per loss, trained by the official code (a few seconds)."""
    folder = tmp_path_factory.mktemp("predict_models")
    corpus = str(folder / "many.txt")
    _many_label_corpus(corpus)
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in LOSSES.items():
            m = fasttext.train_supervised(input=corpus, dim=8, epoch=3, thread=1, verbose=0,
                                          **{"minn": 0, "maxn": 0, **kw})
            paths[name] = str(folder / f"{name}.bin")
            m.save_model(paths[name])
        m = fasttext.train_supervised(input=corpus, dim=8, epoch=3, thread=1, verbose=0,
                                      minn=2, maxn=4, wordNgrams=2, bucket=3000)
        m.quantize(input=corpus, retrain=False, cutoff=300, qnorm=True, dsub=2)
        paths["ftz"] = str(folder / "q.ftz")
        m.save_model(paths["ftz"])
    paths["_corpus"] = corpus
    return paths


def assert_same_as_official(m, o, texts, k, threshold=0.0):
    labels, probs = m.predict(texts, k=k, threshold=threshold)
    assert len(labels) == len(probs) == len(texts)
    for text, got_l, got_p in zip(texts, labels, probs):
        ref_l, ref_p = official_predict(o, text, k, threshold)
        assert got_l == ref_l, text
        assert got_p.dtype == np.float64
        np.testing.assert_array_equal(got_p, ref_p, err_msg=text)


def test_lid176_batch_equals_official_bit_for_bit(lid_path):
    m, o = load_model(lid_path), load_official(lid_path)
    texts = [*lid_sentences(2000, seed=7), "", "   ", "日本語のテキスト", "x" * 3000]
    assert_same_as_official(m, o, texts, 3)
    assert_same_as_official(m, o, texts[:300], -1, threshold=0.01)
    assert_same_as_official(m, o, texts[:300], 1, threshold=0.5)


def test_gensim_supervised_equals_official():
    path = gensim_test_file("pang_lee_polarity_fasttext.bin")
    m, o = load_model(path), load_official(path)
    assert_same_as_official(m, o, _pang_lee_texts(), 2)
    assert_same_as_official(m, o, _pang_lee_texts(50), 1, threshold=0.5)


@pytest.mark.parametrize("name", [*LOSSES, "ftz"])
def test_every_loss_equals_official(models, name):
    m, o = load_model(models[name]), load_official(models[name])
    lines = open(models["_corpus"], encoding="utf-8").read().splitlines()[:300]
    texts = [ln.split(" ", 1)[1] for ln in lines] + _pang_lee_texts(30)
    assert_same_as_official(m, o, texts, 3)
    assert_same_as_official(m, o, texts[:50], -1, threshold=0.05)


def test_single_text_shape_and_batch_agree(lid_path):
    m = load_model(lid_path)
    texts = lid_sentences(50, seed=3)
    labels, probs = m.predict(texts, k=2)
    for text, lab, p in zip(texts, labels, probs):
        one_l, one_p = m.predict(text, k=2)
        assert isinstance(one_l, tuple) and list(one_l) == lab
        np.testing.assert_array_equal(one_p, p)
    assert m.predict([], k=2) == ([], [])


def test_threads_give_the_same_answers(lid_path):
    m = load_model(lid_path)
    texts = lid_sentences(9000, seed=11)
    one = m.predict(texts, k=3, threads=1)
    many = m.predict(texts, k=3, threads=4)
    assert one[0] == many[0]
    assert all(np.array_equal(a, b) for a, b in zip(one[1], many[1]))


def test_bad_arguments(lid_path):
    m = load_model(lid_path)
    with pytest.raises(ValueError, match="one line at a time"):
        m.predict(["fine", "two\nlines"], k=1)
    with pytest.raises(ValueError, match="one line at a time"):
        m.predict("two\nlines", k=1)
    with pytest.raises(ValueError, match="k needs to be 1 or higher"):
        m.predict("hello", k=0)
    unsup = load_model(gensim_test_file("lee_fasttext_new.bin"))
    with pytest.raises(ValueError, match="needs a supervised model"):
        unsup.predict("hello")


# -- ties: several labels with exactly the same score --------------------------------------


def _with_output(src: str, dst, edit) -> None:
    """Copy a dense model, rewriting its output matrix with `edit(matrix) -> matrix`."""
    out = load_model(src)._file.output
    data = bytearray(open(src, "rb").read())
    mat = np.frombuffer(bytes(data[out.offset : out.offset + out.data.nbytes]),
                        np.float32).reshape(out.data.shape)
    new = np.ascontiguousarray(edit(mat.copy()), dtype=np.float32)
    data[out.offset : out.offset + new.nbytes] = new.tobytes()
    with open(dst, "wb") as f:
        f.write(bytes(data))


def _tie_edits():
    def all_zero(w):
        return np.zeros_like(w)

    def pairs_equal(w):  # labels 2j and 2j+1 score the same
        w[1::2] = w[0::2][: len(w[1::2])]
        return w

    def one_row_everywhere(w):
        w[:] = w[0]
        return w

    return {"all_zero": all_zero, "pairs_equal": pairs_equal, "same_row": one_row_everywhere}


@pytest.mark.parametrize("name", ["softmax", "ova", "hs"])
@pytest.mark.parametrize("edit", list(_tie_edits()))
def test_ties_come_in_the_official_heap_order(models, tmp_path, name, edit):
    path = tmp_path / f"{name}_{edit}.bin"
    _with_output(models[name], path, _tie_edits()[edit])
    m, o = load_model(path), load_official(path)
    texts = ["the government said", "unseen wordz", "", "a b c d e f"]
    labels, probs = m.predict(texts, k=-1)
    if name != "hs":
        # the construction really ties: equal probabilities exist in every answer
        assert all(len(np.unique(p)) < len(p) for p in probs)
        if edit == "all_zero":
            # ... and the official order is the heap's, not the label order
            assert labels[0] != sorted(labels[0], key=m.labels.index)
    for k in (1, 2, 3, 5, -1):
        assert_same_as_official(m, o, texts, k)


def test_nan_output_is_a_value_error_like_the_official_exception(models, tmp_path):
    path = tmp_path / "nan.bin"
    _with_output(models["softmax"], path, lambda w: np.full_like(w, np.nan))
    m, o = load_model(path), load_official(path)
    with pytest.raises(RuntimeError, match="NaN"):
        official_predict(o, "hello", 1)
    with pytest.raises(ValueError, match="text 0: the model's output is NaN"):
        m.predict(["hello", "world"], k=1)
