"""Triplet loss mining against brute force, P×K sampling, StemEmbedder training and queries."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vecsmith.rnn import StemEmbedder, StemTrainConfig, triplet_loss
from vecsmith.rnn.triplet import (
    PKSampler,
    char_ngram_jaccard,
    group_by_stem,
    recall_at_k,
    train_stem_embedder,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread, and the shared 2-core box stays usable."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def brute_force(emb, labels, margin, mining):
    d = 1 - emb @ emb.T
    losses = []
    n = len(labels)
    for a in range(n):
        pos = [p for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [q for q in range(n) if labels[q] != labels[a]]
        if not pos or not neg:
            continue
        if mining == "batch-hard":
            losses.append(max(0.0, max(d[a, p] for p in pos) - min(d[a, q] for q in neg) + margin))
            continue
        for p in pos:
            semi = [d[a, q] for q in neg if d[a, q] > d[a, p]]
            dn = min(semi) if semi else max(d[a, q] for q in neg)
            losses.append(max(0.0, d[a, p] - dn + margin))
    return float(np.mean(losses))


@pytest.mark.parametrize("mining", ["batch-hard", "semi-hard"])
def test_triplet_loss_matches_brute_force(mining):
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(12, 5, dtype=torch.double), dim=1)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4])
    loss, active = triplet_loss(emb, labels, 0.3, mining)
    assert float(loss) == pytest.approx(brute_force(emb.numpy(), labels.tolist(), 0.3, mining))
    assert 0.0 < active <= 1.0
    loss_wide, _ = triplet_loss(emb, labels, 1.5, mining)
    assert float(loss_wide) > float(loss)
    with pytest.raises(ValueError, match="margin must be > 0"):
        triplet_loss(emb, labels, 0.0, mining)
    with pytest.raises(ValueError, match="mining must be one of"):
        triplet_loss(emb, labels, 0.3, "random")


def test_triplet_loss_zero_when_separated():
    emb = torch.eye(4).repeat_interleave(2, 0)
    labels = torch.arange(4).repeat_interleave(2)
    for mining in ("batch-hard", "semi-hard"):
        loss, active = triplet_loss(emb, labels, 0.3, mining)
        assert float(loss) == 0.0 and active == 0.0


def test_pk_sampler_prefix_pairs():
    groups = {f"{p}{s}": [f"{p}{s}{e}" for e in ("", "s", "ing", "ed")][: 2 + (i % 3)]
              for i, (p, s) in enumerate(itertools.product(["abc", "xyz", "qrs"],
                                                           ["a", "b", "c", "d"]))}
    groups["lonely"] = ["lonely"]
    sampler = PKSampler(groups, p=6, k=3, prefix_negatives=1.0, prefix_len=3, seed=0)
    assert "lonely" not in sampler.stems
    words, labels = sampler.sample()
    assert len(set(labels)) == 6
    counts = np.bincount(labels)
    assert counts.max() <= 3 and counts.min() >= 2
    stems_in = {}
    for w, lab in zip(words, labels, strict=True):
        stems_in.setdefault(lab, w[:3])
    prefixes = list(stems_in.values())
    assert all(prefixes.count(p) >= 2 for p in prefixes)  # every stem has a prefix mate
    with pytest.raises(ValueError, match="at least two stems"):
        PKSampler({"a": ["a"]}, 2, 2, 0.5, 3, 0)


def test_recall_at_k_and_jaccard():
    sim = np.array([[1, .9, .1, .0], [.9, 1, .2, .3], [.1, .2, 1, .8], [0, .3, .8, 1]])
    assert recall_at_k(sim, ["a", "a", "b", "b"], k=1) == 1.0
    assert recall_at_k(sim, ["a", "b", "a", "b"], k=1) == 0.0
    words = ["walk", "walking", "talk", "x"]
    jac = char_ngram_jaccard(words)
    for i, j in itertools.product(range(4), repeat=2):
        gi = {f"<{words[i]}>"[t:t + 3] for t in range(len(words[i]))}
        gj = {f"<{words[j]}>"[t:t + 3] for t in range(len(words[j]))}
        assert jac[i, j] == pytest.approx(len(gi & gj) / len(gi | gj))


def synthetic_groups(n_prefixes=20, seed=0):
    """Stems that come in families sharing a 4-letter prefix, each stem with 3-4 forms."""
    rng = random.Random(seed)
    suffixes = ["", "s", "ed", "ing", "er", "ly"]
    groups = {}
    prefixes = set()
    while len(prefixes) < n_prefixes:
        prefixes.add("".join(rng.choice("bcdfgklmnprst") + rng.choice("aeiou") for _ in range(2)))
    for prefix in sorted(prefixes):
        ends = set()
        while len(ends) < 3:
            ends.add(rng.choice("bcdfgklmnprst") + rng.choice("aeiou"))
        for end in sorted(ends):
            stem = prefix + end
            groups[stem] = [stem + s for s in rng.sample(suffixes, rng.randint(3, 4))]
    return groups


def prefix_groups(seed=0):
    """64 groups = the first two letters; the tails are random, so an untrained left-to-right
    encoder (whose final state is dominated by the tail) cannot group them."""
    rng = random.Random(seed)
    groups = {}
    for a, b in itertools.product("abcdefgh", repeat=2):
        forms = set()
        while len(forms) < 4:
            forms.add(a + b + "".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 5))))
        groups[a + b] = sorted(forms)
    return groups


def test_stem_embedder_learns_held_out_groups():
    groups = prefix_groups()
    stems = sorted(groups)
    random.Random(1).shuffle(stems)
    train = {s: groups[s] for s in stems[:48]}
    words = [w for s in stems[48:] for w in groups[s]]
    labels = [s for s in stems[48:] for _ in groups[s]]
    settings = {"hidden_size": 32, "embedding_dim": 16, "dim": 16, "reverse": False}
    torch.manual_seed(0)
    untrained = StemEmbedder(StemEmbedder.fit(words[:8], labels[:8], config=StemTrainConfig(
        steps=1, val_fraction=0.0, quiet=True), **settings).model.vocab, **settings)
    cfg = StemTrainConfig(steps=200, p=16, k=3, lr=1e-2, val_fraction=0.0, quiet=True,
                          eval_every=200)
    model = train_stem_embedder(train, cfg, **settings).model
    vec0 = untrained.embed(words)
    before = recall_at_k(vec0 @ vec0.T, labels, 3)
    vec = model.embed(words)
    after = recall_at_k(vec @ vec.T, labels, 3)
    surface = recall_at_k(char_ngram_jaccard(words), labels, 3)
    assert before < 0.3 and after > 0.85 and after > surface
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)


def test_index_queries_save_load(tmp_path):
    groups = synthetic_groups(6, seed=3)
    res = train_stem_embedder(groups, StemTrainConfig(steps=30, p=8, k=3, quiet=True,
                                                      eval_every=10, patience=100),
                              hidden_size=16, embedding_dim=8, dim=8)
    model = res.model
    assert res.best_recall is not None and res.history[-1]["step"] == 30
    words = [w for ws in groups.values() for w in ws]
    index = model.index(words)
    hits = index.most_similar(words[0], k=5)
    assert len(hits) == 5 and words[0] not in [w for w, _ in hits]
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    many = index.most_similar(["zzzunseen", words[1]], k=3)
    assert len(many) == 2 and all(len(h) == 3 for h in many)
    assert index["zzzunseen"].shape == (8,) and words[0] in index
    path = model.save(tmp_path / "stems")
    back = StemEmbedder.load(path)
    for t1, t2 in zip(model.state_dict().values(), back.state_dict().values(), strict=True):
        assert torch.equal(t1, t2)
    assert np.array_equal(model.embed(words), back.embed(words))
    assert back.config.reverse  # right-to-left is the default for stems
    batch = model.embed(words)
    single = np.concatenate([model.embed([w]) for w in words[:5]])
    np.testing.assert_allclose(batch[:5], single, atol=1e-6)


def test_group_by_snowball_stem():
    pytest.importorskip("snowballstemmer")
    groups = group_by_stem(["running", "runs", "run", "university", "universal"])
    assert sorted(groups["run"]) == ["run", "running", "runs"]
    assert groups["universiti"] == ["university"]  # Snowball 3.x English rules
    with pytest.raises(ValueError, match="2 words but 1 stems"):
        StemEmbedder.fit(["a", "b"], ["x"])
