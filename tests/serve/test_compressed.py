"""A compressed store (`vecsmith compress`, product-quantized rows) is served like any store:
its kind and search in /models, vectors (OOV words from the kept n-grams), neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from vecsmith import store

WORDS = ["the", "government", "zzqxkingly", "mandarins", "über"]


@pytest.fixture(scope="module")
def pq(pq_path):
    return store.open(pq_path)


def test_models_shows_a_compressed_store(pq_server, pq):
    _, _, body = pq_server.get("/models")
    by_name = {m["name"]: m for m in body["models"]}
    got = by_name["leepq"]
    assert got["kind"] == "compressed_store" and got["dtype"] == "pq"
    assert got["words"] == len(pq) and got["dim"] == pq.dim and got["embeds_unknown_words"]
    assert "asymmetric distance on the word codes" in got["search"]
    assert by_name["lee32"]["kind"] == "store" and "search" not in by_name["lee32"]


def test_vectors_equal_the_library_oov_included(pq_server, pq):
    status, _, body = pq_server.post("/vectors", {"model": "leepq", "words": WORDS})
    assert status == 200
    want = pq.get_many(WORDS)
    assert np.asarray(body["vectors"], np.float32).tobytes() == want.tobytes()
    assert body["oov"] == [bool(i < 0) for i in pq.word_ids(WORDS)]
    assert body["oov"][2] and not body["oov"][0]
    # the unknown word is built from kept n-grams, not zeros
    assert np.abs(want[2]).sum() > 0


def test_similar_equals_the_library(pq_server, pq):
    for word in ("government", "zzqxkingly"):
        for k in (1, 10, 40):
            status, _, body = pq_server.post("/similar", {"model": "leepq", "word": word,
                                                          "k": k})
            assert status == 200
            want = pq.most_similar(word, k=k, device="cpu")
            assert [(n["word"], n["score"]) for n in body["neighbours"]] == want
            assert body["oov"] == (word == "zzqxkingly")
    vec = pq["the"].tolist()
    _, _, body = pq_server.post("/similar", {"model": "leepq", "vector": vec, "k": 5})
    assert [(n["word"], n["score"]) for n in body["neighbours"]] == \
        pq.most_similar(np.asarray(vec, np.float32), k=5, device="cpu")


def test_similar_restricted_to_frequent_words(pq_server, pq):
    _, _, body = pq_server.post("/similar", {"model": "leepq", "word": "government", "k": 5,
                                             "restrict": 300})
    got = [n["word"] for n in body["neighbours"]]
    assert pq.word_ids(["government"])[0] < 300  # itself among them, and left out
    assert "government" not in got and len(got) == 5 and all(pq.word_ids([w])[0] < 300 for w in got)
    # the 300 most frequent words, scored from the codes by brute force
    q = pq["government"] / np.linalg.norm(pq["government"])
    scores = pq.cosines(q.astype(np.float32), 0, 300)
    scores[pq.word_ids(["government"])[0]] = -np.inf
    assert got == [pq.word(int(i)) for i in np.argsort(-scores, kind="stable")[:5]]


def test_embeddings_and_analogy(pq_server, pq):
    status, _, body = pq_server.post("/v1/embeddings", {"model": "leepq",
                                                        "input": ["zzqxkingly", "the cat"]})
    assert status == 200 and len(body["data"]) == 2
    assert np.asarray(body["data"][0]["embedding"], np.float32).tobytes() == \
        pq["zzqxkingly"].tobytes()
    status, _, body = pq_server.post("/analogy", {"model": "leepq", "a": "king", "b": "man",
                                                  "c": "woman", "k": 3})
    assert status == 200
    assert [(n["word"], n["score"]) for n in body["neighbours"]] == \
        pq.analogy("king", "man", "woman", k=3, device="cpu")
