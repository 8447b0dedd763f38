"""Word → language with an online linear SVM over character 1–4-grams (vecsmith.linear).

Trains one pass over 40,000 English and German words from `wordfreq`, reports progressive
and held-out accuracy, saves the model, reloads it and continues training bit-identically.

  .venv/bin/python examples/linear_language_id.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import wordfreq

from vecsmith.linear import OnlineLinearClassifier

en = wordfreq.top_n_list("en", 40000)
de = wordfreq.top_n_list("de", 40000)
shared = set(en) & set(de)
words = [w for w in en if w not in shared][:25000] + [w for w in de if w not in shared][:25000]
labels = np.array(["en"] * 25000 + ["de"] * 25000)
order = np.random.default_rng(0).permutation(len(words))
words, labels = [words[i] for i in order], labels[order]
train, more, test = slice(0, 30000), slice(30000, 40000), slice(40000, 50000)

clf = OnlineLinearClassifier(ngram_range=(1, 4))  # hinge loss, per-feature adaptive rate
prog = clf.progressive_fit(words[train], labels[train], classes=["de", "en"])
print(f"progressive accuracy (each word scored before training on it): {prog.accuracy:.3f}")
print(f"held-out accuracy: {clf.score(words[test], labels[test]):.3f}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "lang.lin"
    clf.save(path)  # JSON config + safetensors, learner state included, atomic
    resumed = OnlineLinearClassifier.load(path)
    clf.partial_fit(words[more], labels[more])
    resumed.partial_fit(words[more], labels[more])
    same = np.array_equal(clf.weights_, resumed.weights_)
    print(f"save -> load -> continue equals uninterrupted training bit for bit: {same}")

print("most German n-grams:", [f for f, _ in clf.top_features(10, label="de")])
print("guesses:", dict(zip(["fahrrad", "bicycle", "häuschen"],
                           clf.predict(["fahrrad", "bicycle", "häuschen"]).tolist())))
