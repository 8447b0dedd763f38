"""SubwordEmbedding against the store it is built from, the fastText reader, the official
fastText, and torch's own optimizers and dense autograd."""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vecsmith import store, transfer  # noqa: E402
from vecsmith.datasets import gensim_test_file, lid176_path  # noqa: E402
from vecsmith.fasttext import load_model  # noqa: E402
from vecsmith.nn import SubwordEmbedding  # noqa: E402
from vecsmith.optim import SMORMS3, DenseSparseOptimizer  # noqa: E402


def oov_words(n=300, seed=0):
    rng = random.Random(seed)
    pools = ["abcdefghijklmnopqrstuvwxyz", "абвгдежзийклмнопрстуфхцчшщыэюя", "äöüßéèàç",
             "日本語漢字", "😀🚑"]
    return ["".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 12)))
            for _ in range(n)]


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nn")
    out = {}
    for dtype in ("float32", "float16"):
        out[dtype] = store.convert_fasttext(gensim_test_file("lee_fasttext_new.bin"),
                                            folder / f"lee.{dtype}.store", dtype=dtype,
                                            quiet=True)
    # lid.176.ftz: quantized and pruned, so the store keeps a prune map (ngram_keys/rows)
    out["pruned"] = store.convert_fasttext(lid176_path(), folder / "lid.store", dtype="float32",
                                           quiet=True, search_index=False)
    return out


@pytest.fixture(scope="module")
def words(paths):
    v = store.open(paths["float32"])
    return v.words[::7] + oov_words() + ["", "a", "</s>", "night", "nightz", b"\xff\xfeab"]


# -- equality with the store ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["float32", "float16", "pruned"])
def test_words_bit_identical_to_get_many(paths, words, kind):
    v = store.open(paths[kind])
    emb = SubwordEmbedding.from_store(paths[kind])
    got = emb(words)
    assert got.dtype == torch.float32 and got.shape == (len(words), v.dim)
    assert same_bits(got.numpy(), v.get_many(words))
    known = v.word_ids(words) >= 0
    assert known.any() and (~known).any()


def test_trainable_tables_start_bit_identical(paths, words):
    v = store.open(paths["float16"])
    for kw in ({"freeze": False}, {"freeze": False, "train": "ngrams"},
               {"freeze": False, "seen": words[::3]}):
        emb = SubwordEmbedding.from_store(paths["float16"], **kw)
        assert same_bits(emb(words).detach().numpy(), v.get_many(words)), kw


def test_from_fasttext_matches_reader_and_official(words):
    fasttext = pytest.importorskip("fasttext")
    path = gensim_test_file("lee_fasttext_new.bin")
    emb = SubwordEmbedding.from_fasttext(path)
    model = load_model(path)
    text = [w for w in words if isinstance(w, str) and w]
    got = emb(text).numpy()
    assert same_bits(got, model.get_word_vectors(text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = fasttext.load_model(str(path))
    ref = np.stack([official.get_word_vector(w) for w in text])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_from_fasttext_quantized_ftz():
    emb = SubwordEmbedding.from_fasttext(lid176_path())
    model = load_model(lid176_path())
    text = ["hello", "Bonjour", "Straßenbahn", "zzqxj", "東京"]
    assert same_bits(emb(text).numpy(), model.get_word_vectors(text))


def test_from_vectors_with_transfer_table(tmp_path):
    rng = np.random.default_rng(0)
    vocab = ["alpha", "beta", "gamma"]
    vecs = rng.standard_normal((3, 8)).astype(np.float32)
    table = rng.standard_normal((97, 8)).astype(np.float32)
    emb = SubwordEmbedding.from_vectors(vocab, vecs, ngrams=(table, {"minn": 2, "maxn": 4,
                                                                     "bucket": 97}),
                                        cache=tmp_path / "t.store")
    v = store.open(tmp_path / "t.store")
    q = ["beta", "betamax", "gam"]
    assert same_bits(emb(q).numpy(), v.get_many(q))
    assert same_bits(emb(["alpha"]).numpy(), vecs[:1])
    fitted = transfer.SubwordTable(table=table, minn=2, maxn=4, bucket=97)
    again = SubwordEmbedding.from_vectors(vocab, vecs, ngrams=fitted)  # a temporary store
    assert same_bits(again(q).numpy(), v.get_many(q))
    assert same_bits(SubwordEmbedding.from_store(v)(q).numpy(), v.get_many(q))  # a Vectors


def test_frozen_tables_are_the_map_not_a_copy(paths):
    sf = store.read_store(paths["float16"])
    emb = SubwordEmbedding.from_store(sf)
    assert emb.words_table.dtype == torch.float16 and emb.ngrams_table.dtype == torch.float16
    assert emb.words_table.data_ptr() == sf.tensors["vectors"].ctypes.data
    assert emb.ngrams_table.data_ptr() == sf.tensors["ngrams"].ctypes.data
    assert list(emb.parameters()) == [] and emb.state_dict() == {}


# -- token lists, bags, sentence vectors, cached vocabulary ---------------------------------

def test_token_lists_padding_and_reductions(paths):
    v = store.open(paths["float32"])
    emb = SubwordEmbedding.from_store(paths["float32"])
    batch = [["the", "nightz", "of"], [], ["qqqq"]]
    padded = emb(batch)
    assert padded.shape == (3, 3, v.dim)
    assert same_bits(padded[0].numpy(), v.get_many(batch[0]))
    assert not padded[1].any() and not padded[2, 1:].any()
    mean = emb(batch, reduce="mean").numpy()
    np.testing.assert_allclose(mean[0], v.get_many(batch[0]).mean(0), rtol=1e-6, atol=1e-7)
    assert not mean[1].any()
    flat = ["the", "nightz", "of", "qqqq"]
    bags = emb(flat, offsets=[0, 3, 3])
    assert torch.equal(bags, emb(batch, reduce="mean"))
    assert torch.equal(emb(flat, offsets=torch.tensor([0, 3, 3]), reduce="sum"),
                       emb(batch, reduce="sum"))


def test_sentence_vector_is_fasttexts(paths):
    path = gensim_test_file("lee_fasttext_new.bin")
    model = load_model(path)
    emb = SubwordEmbedding.from_fasttext(path)
    texts = ["the government said on tuesday", "unseenwordy morphologicalness", "x"]
    got = emb([t.split() for t in texts], reduce="sentence").numpy()
    ref = np.stack([model.get_sentence_vector(t) for t in texts])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_cached_vocabulary_indices(paths, words):
    emb = SubwordEmbedding.from_store(paths["pruned"])
    emb.set_vocabulary(words)
    ids = torch.tensor([5, 0, len(words) - 1, 5, 300])
    assert torch.equal(emb(ids), emb([words[i] for i in ids.tolist()]))
    grid = torch.tensor([[3, -1, -1], [7, 8, -1]])
    out = emb(grid)
    assert out.shape == (2, 3, emb.dim) and not out[0, 1:].any()
    assert torch.equal(out[1, :2], emb([words[7], words[8]]))
    assert torch.equal(emb(grid, reduce="mean"), emb([[words[3]], [words[7], words[8]]],
                                                     reduce="mean"))
    assert torch.equal(emb(ids, offsets=[0, 2]), emb([words[i] for i in ids.tolist()],
                                                     offsets=[0, 2]))


# -- gradients ------------------------------------------------------------------------------

def dense_reference(emb, words, words_table, ngrams_table):
    """The store's rule written plainly in torch over dense tables (autograd's dense grads)."""
    rows = emb.rows(words)
    out = []
    for i, wid in enumerate(rows.word_ids):
        if wid >= 0:
            out.append(words_table[int(wid)])
        else:
            r = torch.from_numpy(rows.ngram_rows[rows.ngram_offsets[i]:rows.ngram_offsets[i + 1]])
            out.append(ngrams_table[r].mean(0) if len(r) else ngrams_table.new_zeros(emb.dim))
    return torch.stack(out), rows


@pytest.mark.parametrize("train", ["all", "ngrams", "words"])
def test_sparse_gradients_touch_only_used_rows(paths, words, train):
    emb = SubwordEmbedding.from_store(paths["float32"], freeze=False, train=train)
    weights = torch.randn(len(words), emb.dim, generator=torch.Generator().manual_seed(1))
    (emb(words) * weights).sum().backward()
    wt = emb.table("words")
    nt = emb.table("ngrams")
    W = torch.tensor(wt, requires_grad=True)
    N = torch.tensor(nt, requires_grad=True)
    ref, rows = dense_reference(emb, words, W, N)
    (ref * weights).sum().backward()
    params = dict(emb.named_parameters())
    assert set(params) == {"words_table", "ngrams_table"} if train == "all" else \
        set(params) == {f"{train}_table"}
    for name, dense in (("words_table", W.grad), ("ngrams_table", N.grad)):
        if name not in params:
            continue
        g = params[name].grad
        assert g.is_sparse
        used = np.unique(rows.word_ids[rows.word_ids >= 0] if name == "words_table"
                         else rows.ngram_rows)
        assert np.array_equal(np.unique(g.coalesce().indices()[0].numpy()), used)
        np.testing.assert_allclose(g.to_dense().numpy(), dense.numpy(), rtol=1e-5, atol=1e-6)


def test_seen_rows_only(paths, words, tmp_path):
    v = store.open(paths["float32"])
    seen = [w for w in words[:40]] + ["nightz"]
    emb = SubwordEmbedding.from_store(paths["float32"], freeze=False, seen=seen)
    rows = emb.rows(seen)
    assert emb.words_seen.shape[0] == len(np.unique(rows.word_ids[rows.word_ids >= 0]))
    assert emb.ngrams_seen.shape[0] == len(np.unique(rows.ngram_rows))
    opt = DenseSparseOptimizer(emb.parameters(), lr=0.1)
    emb(seen + words[100:]).sum().backward()
    assert emb.words_seen.grad.is_sparse and emb.ngrams_seen.grad.is_sparse
    opt.step()
    unseen = [w for w in words[100:] if emb.rows([w]).word_ids[0] >= 0]
    assert unseen and same_bits(emb(unseen).detach().numpy(), v.get_many(unseen))
    assert not same_bits(emb(seen).detach().numpy(), v.get_many(seen))
    tuned = store.open(emb.save_store(tmp_path / "seen.store"))
    assert same_bits(tuned.get_many(words), emb(words).detach().numpy())


def test_smorms3_alone_trains_embedding_and_head(paths):
    emb = SubwordEmbedding.from_store(paths["float32"], freeze=False)
    model = torch.nn.Sequential(emb, torch.nn.Linear(emb.dim, 2))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = SMORMS3(model.parameters(), lr=1e-2)
    batch = ["night", "nightz", "qqqq"]
    torch.nn.functional.cross_entropy(model(batch), torch.tensor([0, 1, 1])).backward()
    opt.step()
    rows = emb.rows(batch)
    changed = (model[0].words_table != before["0.words_table"]).any(1)
    assert np.array_equal(np.flatnonzero(changed.numpy()), np.unique(rows.word_ids[rows.word_ids >= 0]))
    changed = (model[0].ngrams_table != before["0.ngrams_table"]).any(1)
    assert np.array_equal(np.flatnonzero(changed.numpy()), np.unique(rows.ngram_rows))
    assert not torch.equal(model[1].weight, before["1.weight"])


def test_one_dense_sparse_step_equals_adam_plus_sparse_adam(paths, words):
    def build():
        torch.manual_seed(0)
        return torch.nn.ModuleDict({
            "emb": SubwordEmbedding.from_store(paths["float16"], freeze=False),
            "head": torch.nn.Linear(10, 3)})

    def loss(m):
        x = m["emb"]([w.split() for w in ["the night", "nightz of", "qqq"]], reduce="mean")
        return torch.nn.functional.cross_entropy(m["head"](x), torch.tensor([0, 1, 2]))

    a, b = build(), build()
    one = DenseSparseOptimizer(a.parameters(), lr=0.01)
    adam = torch.optim.Adam(b["head"].parameters(), lr=0.01)
    sparse = torch.optim.SparseAdam(list(b["emb"].parameters()), lr=0.01)
    for _ in range(3):
        one.zero_grad()
        loss(a).backward()
        one.step()
        adam.zero_grad()
        sparse.zero_grad()
        loss(b).backward()
        adam.step()
        sparse.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(a["emb"].ngrams_table, build()["emb"].ngrams_table)


# -- saving ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["float32", "pruned"])
def test_save_store_round_trip(paths, words, kind, tmp_path):
    emb = SubwordEmbedding.from_store(paths[kind], freeze=False)
    opt = DenseSparseOptimizer(emb.parameters(), lr=0.05)
    emb(words).pow(2).sum().backward()
    opt.step()
    out = emb.save_store(tmp_path / "tuned.store")
    assert os.listdir(tmp_path) == ["tuned.store"]  # written atomically: no temporary left
    tuned = store.open(out)
    assert same_bits(tuned.get_many(words), emb(words).detach().numpy())
    assert not same_bits(tuned.get_many(words), store.open(paths[kind]).get_many(words))
    src = store.read_store(paths[kind])
    for name in ("vocab_blob", "word_table", "ngram_keys", "ngram_rows"):
        if name in src.tensors:
            assert np.array_equal(tuned._store.tensors[name], src.tensors[name])
    assert tuned.most_similar(words[0], k=3)  # search index rebuilt and consistent
    half = store.open(emb.save_store(tmp_path / "half.store", dtype="float16"))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.get_many(words), tuned.get_many(words), rtol=2e-3,
                               atol=2e-3)


def test_save_over_the_source_while_mapped(paths, tmp_path):
    target = tmp_path / "s.store"
    target.write_bytes(open(paths["float16"], "rb").read())
    emb = SubwordEmbedding.from_store(target, freeze=False, train="ngrams")
    before = emb(["nightz"]).detach().clone()
    emb.save_store(target)
    assert torch.equal(emb(["nightz"]), before)
    assert same_bits(store.open(target).get_many(["nightz"]), before.numpy())


# -- bad inputs -----------------------------------------------------------------------------

def test_bad_inputs(paths, tmp_path):
    emb = SubwordEmbedding.from_store(paths["float32"])
    with pytest.raises(TypeError, match="word 1 is int"):
        emb(["a", 3])
    with pytest.raises(TypeError, match="word 0 is NoneType"):
        emb([None])
    with pytest.raises(TypeError, match="wrap it in a list"):
        emb("night")
    with pytest.raises(TypeError, match="token 1 is float"):
        emb([["a", 1.5]])
    with pytest.raises(TypeError, match="batch entry 1 is a str, not a token list"):
        emb([["a"], "b"])
    with pytest.raises(TypeError, match="word 0 is list"):
        emb([["a"]], offsets=[0])
    with pytest.raises(ValueError, match="reduce must be one of"):
        emb(["a"], reduce="max")
    with pytest.raises(ValueError, match="reduce needs token lists or offsets"):
        emb(["a"], reduce="mean")
    with pytest.raises(ValueError, match="offsets must start at 0"):
        emb(["a", "b"], offsets=[1])
    with pytest.raises(RuntimeError, match="set_vocabulary"):
        emb(torch.tensor([0]))
    emb.set_vocabulary(["a", "b"])
    with pytest.raises(IndexError, match="outside the cached vocabulary of 2"):
        emb(torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="int64/int32"):
        emb(torch.tensor([0.0]))
    with pytest.raises(ValueError, match="train must be one of"):
        SubwordEmbedding.from_store(paths["float32"], freeze=False, train="rows")
    with pytest.raises(ValueError, match="needs freeze=False"):
        SubwordEmbedding.from_store(paths["float32"], seen=["a"])
    # defined results: empty batches and empty strings
    assert emb([]).shape == (0, emb.dim)
    assert emb([[]]).shape == (1, 0, emb.dim)
    assert not emb([[]], reduce="mean").any() and emb([[]], reduce="mean").shape == (1, emb.dim)
    assert emb([], offsets=[]).shape == (0, emb.dim)
    assert same_bits(emb([""]).numpy(), store.open(paths["float32"]).get_many([""]))
    assert not emb([""]).any()  # "<>" has no n-gram of 3..6 characters: zeros, as fastText


def test_store_without_ngrams_refuses_unknown_words(tmp_path):
    vecs = np.eye(3, dtype=np.float32)
    emb = SubwordEmbedding.from_vectors(["a", "b", "c"], vecs, freeze=False)
    assert same_bits(emb(["c", "a"]).detach().numpy(), vecs[[2, 0]])
    with pytest.raises(KeyError, match=r"not in vocabulary: \['zz'\]"):
        emb(["a", "zz"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda(paths, words, tmp_path):
    v = store.open(paths["float16"])
    for kw in ({}, {"freeze": False}, {"freeze": False, "seen": words[:50]}):
        emb = SubwordEmbedding.from_store(paths["float16"], **kw).to("cuda")
        got = emb(words)
        assert got.device.type == "cuda"
        np.testing.assert_allclose(got.detach().cpu().numpy(), v.get_many(words), rtol=1e-6,
                                   atol=1e-6)
        emb.set_vocabulary(words)
        ids = torch.arange(len(words), device="cuda")
        torch.testing.assert_close(emb(ids), got)
        torch.testing.assert_close(emb([words[:3], words[3:5]], reduce="sentence").cpu(),
                                   emb.cpu()([words[:3], words[3:5]], reduce="sentence"))
        emb.to("cuda")
        if kw:
            emb(words).sum().backward()
            assert all(p.grad.is_sparse for p in emb.parameters())
            DenseSparseOptimizer(emb.parameters(), lr=0.1).step()
            saved = store.open(emb.save_store(tmp_path / "cuda.store", dtype="float32"))
            assert same_bits(saved.get_many(words), emb.cpu()(words).detach().numpy())


def test_batched_outputs_carry_the_same_gradients(paths):
    """Padding, bags and sentence vectors are differentiable views of the per-word vectors."""
    emb = SubwordEmbedding.from_store(paths["float32"], freeze=False)
    batch = [["the", "nightz"], [], ["qqqq", "of", "the"]]
    flat = [w for t in batch for w in t]

    def grads(loss):
        for p in emb.parameters():
            p.grad = None
        loss.backward()
        return [p.grad.to_dense() for p in emb.parameters()]

    w = torch.randn(3, 3, emb.dim, generator=torch.Generator().manual_seed(0))
    vecs = emb(flat)
    ref = vecs[0] @ w[0, 0] + vecs[1] @ w[0, 1] + sum(vecs[2 + k] @ w[2, k] for k in range(3))
    for a, b in zip(grads((emb(batch) * w).sum()), grads(ref)):
        torch.testing.assert_close(a, b)
    ref = (emb(flat[:2]).mean(0) @ w[0, 0]) + (emb(flat[2:]).mean(0) @ w[2, 0])
    for a, b in zip(grads((emb(batch, reduce="mean") * w[:, 0]).sum()), grads(ref)):
        torch.testing.assert_close(a, b)
    unit = torch.nn.functional.normalize(emb(flat), dim=1)
    ref = (unit[:2].mean(0) @ w[0, 0]) + (unit[2:].mean(0) @ w[2, 0])
    for a, b in zip(grads((emb(batch, reduce="sentence") * w[:, 0]).sum()), grads(ref)):
        torch.testing.assert_close(a, b)
