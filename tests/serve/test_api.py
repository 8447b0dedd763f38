"""The served answers equal the library's (and the official fastText's), over real HTTP."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vecsmith import store
from vecsmith.datasets import gensim_test_file, lid176_path
from vecsmith.fasttext import load_model

WORDS = ["the", "government", "zzqxkingly", "The", "über", "", "a-b", "mandarins"]


@pytest.fixture(scope="module")
def lee32(models_dir):
    return store.open(models_dir / "lee32.store")


@pytest.fixture(scope="module")
def lee_bin():
    return load_model(gensim_test_file("lee_fasttext.bin"))


def test_health_and_models(server, lee32):
    status, _, body = server.get("/health")
    assert status == 200 and body["status"] == "ok" and body["models"] == 6
    status, _, body = server.get("/models")
    by_name = {m["name"]: m for m in body["models"]}
    assert sorted(by_name) == ["cp852_fasttext", "lee16", "lee32", "lee_fasttext", "lid",
                              "vocab"]
    assert by_name["lee32"] | {} == {**by_name["lee32"], "kind": "store", "dim": lee32.dim,
                                     "words": len(lee32), "predicts": False,
                                     "dtype": "float32"}
    assert by_name["lid"]["predicts"] and by_name["lid"]["labels"] == 176
    assert by_name["lid"]["kind"] == "fasttext" and by_name["lid"]["quantized"]
    assert not by_name["vocab"]["embeds_unknown_words"]
    assert body["limits"]["max_batch"] == 64


def test_vectors_float32_store_bit_identical(server, lee32):
    status, _, body = server.post("/vectors", {"model": "lee32", "words": WORDS})
    assert status == 200
    got = np.asarray(body["vectors"], dtype=np.float32)
    want = lee32.get_many(WORDS)
    assert got.tobytes() == want.tobytes()
    assert body["oov"] == [bool(i < 0) for i in lee32.word_ids(WORDS)]
    assert body["oov"][2] and not body["oov"][0]


@pytest.mark.parametrize("fmt, dtype", [("float32", "<f4"), ("float16", "<f2")])
def test_vectors_binary(server, lee32, fmt, dtype):
    status, headers, raw = server.post("/vectors", {"model": "lee32", "words": WORDS,
                                                    "format": fmt})
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["x-vecsmith-shape"] == f"{len(WORDS)},{lee32.dim}"
    got = np.frombuffer(raw, dtype=dtype).reshape(len(WORDS), lee32.dim)
    assert got.tobytes() == lee32.get_many(WORDS).astype(dtype).tobytes()
    assert headers["x-vecsmith-oov"] == "".join("1" if i < 0 else "0"
                                                for i in lee32.word_ids(WORDS))


def test_vectors_fasttext_bin_and_float16_store(server, lee_bin, models_dir):
    _, _, body = server.post("/vectors", {"model": "lee_fasttext", "words": WORDS})
    assert np.asarray(body["vectors"], np.float32).tobytes() == \
        lee_bin.get_word_vectors(WORDS).tobytes()
    lee16 = store.open(models_dir / "lee16.store")
    _, _, body = server.post("/vectors", {"model": "lee16", "words": WORDS})
    assert np.asarray(body["vectors"], np.float32).tobytes() == lee16.get_many(WORDS).tobytes()


def test_vectors_without_ngrams_zero_and_flagged(server, models_dir):
    vocab = store.open(models_dir / "vocab.store")
    _, _, body = server.post("/vectors", {"model": "vocab", "words": ["the", "zzqxkingly"]})
    assert body["oov"] == [False, True]
    assert np.asarray(body["vectors"][0], np.float32).tobytes() == vocab["the"].tobytes()
    assert body["vectors"][1] == [0.0] * vocab.dim


@pytest.mark.parametrize("model", ["lee32", "lee16"])
@pytest.mark.parametrize("word", ["government", "zzqxkingly"])
def test_similar_word_equals_library(server, models_dir, model, word):
    v = store.open(models_dir / f"{model}.store")
    status, _, body = server.post("/similar", {"model": model, "word": word, "k": 7})
    assert status == 200
    assert [(n["word"], n["score"]) for n in body["neighbours"]] == \
        v.most_similar(word, k=7, device="cpu")
    assert body["oov"] == (word not in v)


def test_similar_fasttext_bin_equals_library(server, lee_bin):
    _, _, body = server.post("/similar", {"model": "lee_fasttext", "word": "zzqxkingly",
                                          "k": 5})
    assert [(n["score"], n["word"]) for n in body["neighbours"]] == \
        lee_bin.get_nearest_neighbors("zzqxkingly", 5)


def test_words_that_are_not_utf8_round_trip(server):
    """cp852_fasttext.bin holds words that are not UTF-8: they travel as escaped surrogates
    (surrogateescape) and find themselves again."""
    cp852 = load_model(gensim_test_file("cp852_fasttext.bin"))
    word = next(w for w in cp852.words if any(0xDC80 <= ord(c) <= 0xDCFF for c in w))
    status, _, body = server.post("/similar", {"model": "cp852_fasttext", "word": word, "k": 5})
    assert status == 200 and body["oov"] is False
    assert [(n["score"], n["word"]) for n in body["neighbours"]] == \
        cp852.get_nearest_neighbors(word, 5)
    _, _, body = server.post("/vectors", {"model": "cp852_fasttext", "words": [word]})
    assert body["oov"] == [False]
    assert np.asarray(body["vectors"], np.float32).tobytes() == \
        cp852.get_word_vectors([word]).tobytes()


def test_similar_vector_and_restrict(server, lee32):
    q = lee32["government"] + lee32["police"]
    _, _, body = server.post("/similar", {"model": "lee32", "vector": q.tolist(), "k": 5})
    assert [(n["word"], n["score"]) for n in body["neighbours"]] == \
        lee32.most_similar(q, k=5, device="cpu")
    # restrict: brute force over the 100 most frequent rows (numpy as the oracle)
    top = lee32.vectors[:100].astype(np.float64)
    qv = lee32["police"].astype(np.float64)
    cos = top @ qv / (np.linalg.norm(top, axis=1) * np.linalg.norm(qv))
    cos[lee32.word_id("police")] = -np.inf if lee32.word_id("police") < 100 else 0
    want = [lee32.word(int(i)) for i in np.argsort(-cos)[:6]]
    for model in ("lee32", "lee_fasttext"):
        _, _, body = server.post("/similar", {"model": model, "word": "police", "k": 6,
                                              "restrict": 100})
        assert [n["word"] for n in body["neighbours"]] == want
        assert [n["score"] for n in body["neighbours"]] == pytest.approx(
            np.sort(cos)[::-1][:6], abs=1e-5)


def test_fasttext_vector_query_and_growing_restrict(server, lee32, lee_bin):
    """A `.bin` answers vector queries through the protocol's `most_similar`, and `restrict`
    over more rows than an earlier request still searches all of them."""
    q = lee_bin["government"] + lee_bin["police"]
    _, _, body = server.post("/similar", {"model": "lee_fasttext", "vector": q.tolist(),
                                          "k": 5})
    assert [(n["word"], n["score"]) for n in body["neighbours"]] == lee_bin.most_similar(q, k=5)
    qv = lee32["police"].astype(np.float64)
    for stop in (40, 300):
        top = lee32.vectors[:stop].astype(np.float64)
        cos = top @ qv / (np.linalg.norm(top, axis=1) * np.linalg.norm(qv))
        if lee32.word_id("police") < stop:
            cos[lee32.word_id("police")] = -np.inf
        want = [lee32.word(int(i)) for i in np.argsort(-cos, kind="stable")[:6]]
        _, _, body = server.post("/similar", {"model": "lee_fasttext", "word": "police",
                                              "k": 6, "restrict": stop})
        assert [n["word"] for n in body["neighbours"]] == want, stop


def test_analogy_equals_library(server, lee32, lee_bin):
    _, _, body = server.post("/analogy", {"model": "lee32", "a": "police", "b": "man",
                                          "c": "woman", "k": 4})
    assert [(n["word"], n["score"]) for n in body["neighbours"]] == \
        lee32.analogy("police", "man", "woman", k=4, device="cpu")
    _, _, body = server.post("/analogy", {"model": "lee_fasttext", "a": "police", "b": "man",
                                          "c": "woman", "k": 4})
    assert [(n["score"], n["word"]) for n in body["neighbours"]] == \
        lee_bin.get_analogies("police", "man", "woman", 4)


TEXTS = ["Bonjour tout le monde, comment allez-vous ?", "Das ist ein kleiner Test",
         "this is an english sentence", "これは日本語の文です", "x", ""]


def test_predict_equals_official_fasttext(server):
    fasttext = pytest.importorskip("fasttext")
    official = fasttext.load_model(str(lid176_path()))
    status, _, body = server.post("/predict", {"model": "lid", "texts": TEXTS, "k": 3})
    assert status == 200 and len(body["predictions"]) == len(TEXTS)
    all_labels, all_probs = official.predict(TEXTS, k=3)  # the list form works on numpy 2
    for row, labels, probs in zip(body["predictions"], all_labels, all_probs):
        assert [p["label"] for p in row] == list(labels)
        assert [p["probability"] for p in row] == pytest.approx(list(probs), rel=1e-4, abs=1e-6)
    assert body["predictions"][0][0]["label"] == "__label__fr"
    _, _, body = server.post("/predict", {"model": "lid", "texts": TEXTS[:2], "k": 5,
                                          "threshold": 0.5})
    assert all(p["probability"] >= 0.5 for row in body["predictions"] for p in row)


def test_embeddings_word_and_sentence(server, lee32, lee_bin):
    inputs = ["government", "the police said", "zzqxkingly"]
    for model in ("lee32", "lee_fasttext"):
        status, _, body = server.post("/v1/embeddings", {"model": model, "input": inputs})
        assert status == 200 and body["object"] == "list" and body["model"] == model
        assert [d["index"] for d in body["data"]] == [0, 1, 2]
        assert body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
        got = [np.asarray(d["embedding"], np.float32) for d in body["data"]]
        assert got[0].tobytes() == lee32["government"].tobytes()
        assert got[2].tobytes() == lee32["zzqxkingly"].tobytes()
        # a store's sentence vector is fastText's (the .bin reader, checked against the
        # official module in tests/fasttext, as the oracle)
        want = lee_bin.get_sentence_vector("the police said")
        np.testing.assert_allclose(got[1], want, rtol=1e-6, atol=1e-7)


def test_openai_client(server, lee32):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    res = client.embeddings.create(model="lee32", input=["government", "zzqxkingly"])
    assert [d.index for d in res.data] == [0, 1]
    for d, w in zip(res.data, ["government", "zzqxkingly"]):
        assert np.asarray(d.embedding, np.float32).tobytes() == lee32[w].tobytes()
    res = client.embeddings.create(model="lee32", input="government", encoding_format="float")
    assert np.asarray(res.data[0].embedding, np.float32).tobytes() == \
        lee32["government"].tobytes()
    with pytest.raises(openai.NotFoundError, match="no model named 'gpt-4'"):
        client.embeddings.create(model="gpt-4", input="x")


BAD = [
    ("/vectors", {"model": "nope", "words": ["a"]}, 404, "no model named 'nope'"),
    ("/vectors", {"model": "lee32"}, 422, "'words': Field required"),
    ("/vectors", {"model": "lee32", "words": "the"}, 422, "'words'"),
    ("/vectors", {"model": "lee32", "words": [1, 2]}, 422, r"'words\.0': Input should be a "
                                                           "valid string"),
    ("/vectors", {"model": "lee32", "words": ["a"] * 65}, 422, "65 items; the limit is 64"),
    ("/vectors", {"model": "lee32", "words": ["a" * 201]}, 422, "201 characters; the limit"),
    ("/vectors", {"model": "lee32", "words": ["a\0b"]}, 422, "NUL"),
    ("/vectors", {"model": "lee32", "words": ["\ud800"]}, 422, "lone surrogate"),
    ("/vectors", {"model": "lee32", "words": ["a"], "format": "int8"}, 422, "'format'"),
    ("/similar", {"model": "lee32", "k": 3}, 422, "exactly one of 'word' and 'vector'"),
    ("/similar", {"model": "lee32", "word": "a", "vector": [0.0] * 10}, 422, "exactly one"),
    ("/similar", {"model": "lee32", "word": "a", "k": 0}, 422, "'k' must be between 1 and 50"),
    ("/similar", {"model": "lee32", "word": "a", "k": 51}, 422, "between 1 and 50, got 51"),
    ("/similar", {"model": "lee32", "word": "a", "restrict": 0}, 422, "'restrict' must be"),
    ("/similar", {"model": "lee32", "vector": [1.0, 2.0]}, 422, "2 values; model 'lee32' has "
                                                               "dim 10"),
    ("/similar", {"model": "lee32", "vector": [1e39] * 10}, 422, "not finite"),
    ("/similar", {"model": "lee32", "vector": [0.0] * 9 + ["x"]}, 422, r"'vector\.9'"),
    ("/similar", {"model": "vocab", "word": "zzqxkingly"}, 422, "not in the vocabulary"),
    ("/analogy", {"model": "lee32", "a": "x", "b": "y"}, 422, "'c': Field required"),
    ("/analogy", {"model": "vocab", "a": "the", "b": "a", "c": "zzqx"}, 422, "zzqx"),
    ("/predict", {"model": "lee32", "texts": ["x"]}, 400, "not a supervised model"),
    ("/predict", {"model": "lid", "texts": ["a\nb"]}, 422, r"'texts\[0\]' holds a line break"),
    ("/predict", {"model": "lid", "texts": ["a"], "k": -1}, 422, "'k' must be between"),
    ("/predict", {"model": "lid", "texts": ["a"], "threshold": 2}, 422, "'threshold'"),
    ("/v1/embeddings", {"model": "lee32", "input": [1, 2]}, 422, "token arrays"),
    ("/v1/embeddings", {"model": "lee32", "input": []}, 422, "non-empty list"),
    ("/v1/embeddings", {"model": "lee32", "input": "a", "dimensions": 5}, 422,
     "'dimensions' must be 10"),
    ("/v1/embeddings", {"model": "lee32", "input": "a", "encoding_format": "hex"}, 422,
     "encoding_format"),
    ("/vectors", b"{not json", 422, "JSON decode error"),
    ("/vectors", b"[1, 2]", 422, "valid dictionary"),
    ("/vectors", b"\xff\xfe", 422, "invalid request"),
    ("/vectors", b"[" * 60_000, 400, "error parsing the body"),  # nesting past the parser
]


@pytest.mark.parametrize("path, body, status, match", BAD)
def test_bad_requests_get_4xx_saying_what(server, path, body, status, match):
    got, headers, answer = server.post(path, body)
    assert got == status, answer
    assert headers["content-type"] == "application/json"
    assert set(answer) == {"error"} and answer["error"]["type"]
    assert re.search(match, answer["error"]["message"]), answer["error"]["message"]


def test_body_limits_and_http_errors(server):
    big = {"model": "lee32", "words": ["a" * 100] * 700}  # ~ 70 KB > 64 KiB
    status, _, body = server.post("/vectors", big)
    assert status == 413 and "over the limit of 65536 bytes" in body["error"]["message"]
    status, _, body = server.post("/vectors", {"model": "lee32", "words": ["a"]},
                                  headers={"content-type": "text/plain"})
    assert status == 422 and "Content-Type: application/json" in body["error"]["message"]
    status, _, body = server.get("/vectors")
    assert status == 405 and body["error"]["type"] == "http_error"
    status, _, body = server.get("/no/such/path")
    assert status == 404 and body["error"]["message"] == "Not Found"


def test_hostile_requests_do_not_crash_the_worker(server):
    _, _, before = server.get("/health")
    rng = np.random.default_rng(0)
    for i in range(60):
        raw = rng.integers(0, 256, size=int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
        path = ["/vectors", "/similar", "/predict", "/analogy", "/v1/embeddings"][i % 5]
        status, _, _ = server.post(path, raw)
        assert 400 <= status < 500
    for word in ["<", ">", "<>", "</s>", " ", "\t", "\u200b", "🙂" * 50, "\udcff", "a b c"]:
        for model in ("lee32", "lee16", "lid", "lee_fasttext"):
            status, _, _ = server.post("/similar", {"model": model, "word": word, "k": 3})
            assert status == 200, (model, word)
            status, _, _ = server.post("/vectors", {"model": model, "words": [word]})
            assert status == 200
    status, _, _ = server.post("/predict", {"model": "lid", "texts": [" ", ""]})
    assert status == 200
    _, _, after = server.get("/health")
    assert after["pid"] == before["pid"] and server.proc.poll() is None


def test_openapi_and_page(server):
    status, _, spec = server.get("/openapi.json")
    assert status == 200
    assert {"/v1/embeddings", "/vectors", "/similar", "/analogy", "/predict", "/health",
            "/models"} <= set(spec["paths"])
    status, headers, page = server.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"/similar" in page and b"/predict" in page
    status, _, docs = server.get("/docs")
    assert status == 200 and b"openapi.json" in docs
