"""Training loop, early stopping, metrics and optimizer choice on small separable tasks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vecsmith.rnn import (
    CharRNNClassifier,
    TrainConfig,
    classification_report,
    evaluate,
    make_optimizer,
    train_classifier,
)
from vecsmith.rnn.train import stratified_split


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread, and the shared 2-core box stays usable."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def toy(n=1200, seed=0):
    """Label = the last character (x or y) after a random prefix: needs the whole sequence read
    to its own end, so wrong length handling fails it."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        prefix = "".join(rng.choice("abcxy") for _ in range(rng.randint(0, 9)))
        lab = "xy"[i % 2]
        texts.append(prefix + lab)
        labels.append(lab)
    return texts, labels


@pytest.mark.parametrize("cell", ["gru", "layernorm-gru"])
def test_learns_separable_toy_task(cell):
    texts, labels = toy()
    cfg = TrainConfig(epochs=6, batch_size=64, lr=1e-2, quiet=True, seed=0)
    result = train_classifier(texts, labels, config=cfg, cell=cell, hidden_size=16,
                              embedding_dim=8)
    assert result.val_report is not None and result.val_report.accuracy >= 0.97
    test_texts, test_labels = toy(300, seed=1)
    assert evaluate(result.model, test_texts, test_labels).accuracy >= 0.97
    assert result.history and all("val_loss" in h for h in result.history)


def test_right_to_left_reading_is_learnable_too():
    texts, labels = toy()
    cfg = TrainConfig(epochs=6, batch_size=64, lr=1e-2, quiet=True)
    result = train_classifier(texts, labels, config=cfg, hidden_size=16, embedding_dim=8,
                              reverse=True, bidirectional=True)
    assert result.val_report.accuracy >= 0.97


def test_early_stopping_restores_best_weights():
    texts, labels = toy(400)
    cfg = TrainConfig(epochs=50, batch_size=50, lr=0.5, patience=2, quiet=True)
    result = train_classifier(texts, labels, config=cfg, hidden_size=8, embedding_dim=4)
    assert result.stopped_early
    assert len(result.history) < 50
    best = min(h["val_loss"] for h in result.history)
    best_entry = next(h for h in result.history if h["val_loss"] == best)
    assert result.best_step == best_entry["step"]
    # restored weights give the best validation loss again
    from vecsmith.rnn.train import _batched_loss
    _, va = stratified_split(labels, cfg.val_fraction, cfg.seed)
    ids = result.model.vocab.encode_batch([texts[i] for i in va])
    y = torch.tensor([result.model.labels.index(labels[i]) for i in va])
    loss, _ = _batched_loss(result.model, ids, y, 1024)
    assert loss == pytest.approx(best, rel=1e-5)


def test_time_budget_stops_training():
    texts, labels = toy(2000)
    cfg = TrainConfig(epochs=1000, batch_size=16, max_seconds=0.5, quiet=True)
    result = train_classifier(texts, labels, config=cfg, hidden_size=8, embedding_dim=4)
    assert result.seconds < 5
    assert not result.stopped_early


def test_seeded_training_is_deterministic():
    texts, labels = toy(300)
    cfg = TrainConfig(epochs=2, batch_size=32, quiet=True, seed=7)
    a = train_classifier(texts, labels, config=cfg, hidden_size=8, dropout=0.2).model
    b = train_classifier(texts, labels, config=cfg, hidden_size=8, dropout=0.2).model
    for t1, t2 in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(t1, t2)


def test_explicit_validation_and_errors():
    texts, labels = toy(200)
    cfg = TrainConfig(epochs=1, quiet=True)
    res = train_classifier(texts, labels, config=cfg, val=(texts[:20], labels[:20]),
                           hidden_size=4)
    assert res.val_report.n == 20
    with pytest.raises(ValueError, match="200 texts but 199 labels"):
        train_classifier(texts, labels[:-1], config=cfg)
    with pytest.raises(ValueError, match="no training data"):
        train_classifier([], [], config=cfg)
    model = CharRNNClassifier.build(texts, ["x", "y"], hidden_size=4)
    with pytest.raises(ValueError, match="does not know"):
        train_classifier(texts[:4], ["x", "y", "q", "x"], model=model, config=cfg)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("nope", model.parameters(), 0.1)


def test_smorms3_when_available():
    pytest.importorskip("vecsmith.optim")
    texts, labels = toy(600)
    cfg = TrainConfig(epochs=4, batch_size=32, lr=5e-3, optimizer="smorms3", quiet=True)
    res = train_classifier(texts, labels, config=cfg, hidden_size=16, embedding_dim=8)
    assert res.val_report.accuracy >= 0.9


def test_classification_report_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labs = ["a", "b", "c", "d"]
    gold = [labs[i] for i in rng.integers(0, 4, 300)]
    pred = [g if rng.random() < 0.7 else labs[rng.integers(0, 3)] for g in gold]
    rep = classification_report(gold, pred, labels=labs)
    p, r, f, s = sk.precision_recall_fscore_support(gold, pred, labels=labs, zero_division=0)
    np.testing.assert_allclose(rep.precision, p)
    np.testing.assert_allclose(rep.recall, r)
    np.testing.assert_allclose(rep.f1, f)
    np.testing.assert_array_equal(rep.support, s)
    np.testing.assert_array_equal(rep.confusion, sk.confusion_matrix(gold, pred, labels=labs))
    assert rep.accuracy == pytest.approx(sk.accuracy_score(gold, pred))
    assert rep.macro_precision == pytest.approx(p.mean())
    d = rep.to_dict()
    assert d["per_class"]["a"]["support"] == int(s[0])
    # a class never predicted has precision 0, not NaN
    rep2 = classification_report(["a", "b"], ["a", "a"], labels=["a", "b"])
    assert rep2.precision.tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="1 gold labels but 2 predictions"):
        classification_report(["a"], ["a", "b"])


def test_stratified_split_keeps_every_label():
    labels = ["a"] * 50 + ["b"] * 10 + ["c"] * 2
    tr, va = stratified_split(labels, 0.2, 0)
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == len(labels)
    got = [labels[i] for i in va]
    assert got.count("a") == 10 and got.count("b") == 2 and got.count("c") == 1
