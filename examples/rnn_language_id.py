"""Train a word → language classifier on wordfreq lists, evaluate it, save and reload it.

    python examples/rnn_language_id.py
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter

import torch
import wordfreq

from vecsmith.rnn import CharRNNClassifier, TrainConfig, evaluate, train_classifier

torch.set_num_threads(1)  # small models: one thread is fastest, especially on a busy machine
langs = ["en", "de", "fr", "es", "pl", "tr"]
lists = {lang: [w for w in wordfreq.top_n_list(lang, 5000) if w.isalpha()] for lang in langs}
count = Counter(w for ws in lists.values() for w in set(ws))
data = [(w, lang) for lang, ws in lists.items() for w in ws if count[w] == 1]  # unambiguous
random.Random(0).shuffle(data)
test, train = data[:2000], data[2000:]

result = train_classifier(
    [w for w, _ in train], [lang for _, lang in train],
    config=TrainConfig(epochs=30, batch_size=128, max_seconds=30, patience=3),
    cell="gru", hidden_size=128, reverse=True, dropout=0.1,  # read right to left
)
model = result.model
report = evaluate(model, [w for w, _ in test], [lang for _, lang in test])
print(f"accuracy {report.accuracy:.3f}  macro precision {report.macro_precision:.3f}")
print({lab: round(float(p), 3) for lab, p in zip(model.labels, report.precision, strict=True)})

# inputs of any lengths in any order, empty strings included; outputs come back in order
words = ["Schmetterling", "", "papillon", "mariposa", "butterfly"]
for word, label, p in zip(words, model.predict(words), model.predict_proba(words).max(1),
                          strict=True):
    print(f"{word!r:16} {label} {p:.2f}")

with tempfile.TemporaryDirectory() as tmp:
    model.save(f"{tmp}/langid")  # one weights.safetensors, config in its metadata
    again = CharRNNClassifier.load(f"{tmp}/langid")
    assert torch.equal(again(words), model(words))  # bit-identical
