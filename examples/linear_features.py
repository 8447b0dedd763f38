"""Namespaces, cross features and feature values, VW-style, with an exact lookup table.

Samples can be VW feature strings, dicts or token lists; `cross=("ua",)` adds every pair of a
`user` feature with an `ad` feature (like VW's `-q ua`), which a linear model needs to learn
interactions. Prints the learned top features by name.

  .venv/bin/python examples/linear_features.py
"""

from __future__ import annotations

import numpy as np

from vecsmith.linear import OnlineLinearClassifier, read_vw

rng = np.random.default_rng(0)
users = ["kid", "student", "retiree"]
ads = ["toys", "books", "cruises"]
likes = {("kid", "toys"), ("student", "books"), ("retiree", "cruises")}

lines = []
for _ in range(3000):
    u, a = rng.choice(users), rng.choice(ads)
    label = 1 if (u, a) in likes else -1
    lines.append(f"{label} |user {u} age:{rng.uniform(0.1, 0.9):.2f} |ad {a}")

texts, labels, weights = read_vw(lines)  # VW lines → feature texts, labels, importances
for cross in [(), ("ua",)]:
    clf = OnlineLinearClassifier(lookup=True, cross=cross)
    prog = clf.progressive_fit(texts, labels, classes=["-1", "1"], sample_weight=weights)
    print(f"cross={cross}: progressive accuracy {prog.accuracy:.3f}")
print("top features for '1':", clf.top_features(4, label="1"))

# the same sample in the three input forms gives the same features
same = [
    "|user kid age:0.5 |ad toys",
    {"user": {"kid": 1.0, "age": 0.5}, "ad": ["toys"]},
]
print("dict and VW string agree:", np.array_equal(clf.decision_function(same[:1]),
                                                  clf.decision_function(same[1:])))
print("token list in the default namespace:", clf.decision_function([["kid", "toys"]]))
