"""OnlineLinearClassifier: estimator contract, update rule against a reference, behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from vecsmith.linear import NotFittedError, OnlineLinearClassifier


def reference_train(samples, labels, K, *, loss="hinge", schedule="adaptive", eta0=0.2,
                    power_t=0.5, floor=0.0, alpha=0.0, average=False, safe=True,
                    weights=None, avg_start=0):
    """Plain-Python transcription of the documented update rule (kernels module docstring)."""
    W: dict = {}
    G: dict = {}
    U: dict = {}
    b = [0.0] * K
    Gb = [0.0] * K
    Ub = [0.0] * K
    t = 0
    for s, (x, lab) in enumerate(zip(samples, labels)):
        t += 1
        scores = [b[k] + sum(W.get((i, k), 0.0) * v for i, v in x) for k in range(K)]
        eta_t = eta0 / t**power_t if schedule == "invscaling" else eta0
        for k in range(K):
            y = (1.0 if lab == 1 else -1.0) if K == 1 else (1.0 if lab == k else -1.0)
            m = y * scores[k]
            if loss == "hinge":
                g = -y if m < 1 else 0.0
            else:
                g = -y / (1 + math.exp(m))
            g *= 1.0 if weights is None else weights[s]
            if g == 0 and alpha == 0:
                continue

            def rate(acc, gi, eta_t=eta_t):
                if schedule == "adaptive":
                    return max(eta0 / math.sqrt(acc + gi * gi), floor)
                return eta_t

            clip = 1.0
            if safe and loss == "hinge" and g != 0:
                dp = sum(rate(G.get((i, k), 0.0), g * v + alpha * W.get((i, k), 0.0))
                         * (g * v + alpha * W.get((i, k), 0.0)) * v * -y for i, v in x)
                dp += rate(Gb[k], g) * g * -y
                if dp > 1 - m and dp > 0:
                    clip = (1 - m) / dp
            for i, v in x:
                gi = g * v + alpha * W.get((i, k), 0.0)
                if gi == 0:
                    continue
                eta = rate(G.get((i, k), 0.0), gi)
                G[(i, k)] = G.get((i, k), 0.0) + gi * gi
                step = eta * gi * clip
                W[(i, k)] = W.get((i, k), 0.0) - step
                U[(i, k)] = U.get((i, k), 0.0) + max(t - 1 - avg_start, 0) * step
            if g != 0:
                eta = rate(Gb[k], g)
                Gb[k] += g * g
                b[k] -= eta * g * clip
                Ub[k] += max(t - 1 - avg_start, 0) * eta * g * clip
    if average:
        W = {key: w + U.get(key, 0.0) / (t - avg_start) for key, w in W.items()}
        b = [bk + ub / (t - avg_start) for bk, ub in zip(b, Ub)]
    return W, b


def random_problem(n=300, d=40, K=2, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=(d, K))
    samples, labels = [], []
    for _ in range(n):
        idx = rng.choice(d, size=rng.integers(1, 6), replace=False)
        vals = rng.uniform(0.5, 2.0, size=len(idx)).round(3)
        samples.append(list(zip(idx.tolist(), vals.tolist())))
        score = np.array([sum(true[i, k] * v for i, v in zip(idx, vals)) for k in range(K)])
        labels.append(int(score[0] > 0) if K == 2 else int(np.argmax(score)))
    return samples, np.array(labels)


def to_csr(samples, d):
    rows, cols, vals = [], [], []
    for r, x in enumerate(samples):
        for i, v in x:
            rows.append(r)
            cols.append(i)
            vals.append(v)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(samples), d))


@pytest.mark.parametrize("cfg", [
    {},
    {"loss": "logistic"},
    {"schedule": "constant", "eta0": 0.05},
    {"schedule": "invscaling", "eta0": 0.3, "power_t": 0.25},
    {"schedule": "adaptive", "floor": 0.1},
    {"alpha": 0.01},
    {"average": True},
    {"safe": False, "schedule": "constant", "eta0": 0.1, "average": True, "alpha": 0.001},
    {"K": 3},
    {"K": 3, "loss": "logistic", "average": True},
    {"average": True, "avg_start": 60},
    {"weights": True},
])
def test_update_rule_matches_reference(cfg):
    cfg = dict(cfg)
    K = cfg.pop("K", 2)
    samples, labels = random_problem(n=150, K=K, seed=len(str(cfg)))
    weights = None
    if cfg.pop("weights", False):
        weights = np.random.default_rng(1).uniform(0.1, 3.0, len(labels))
    heads = 1 if K == 2 else K
    average = cfg.get("average", False)
    if cfg.get("avg_start"):
        average = cfg["avg_start"]
    W_ref, b_ref = reference_train(samples, labels, heads, weights=weights, **cfg)
    clf = OnlineLinearClassifier(
        loss=cfg.get("loss", "hinge"), learning_rate=cfg.get("schedule", "adaptive"),
        eta0=cfg.get("eta0", 0.2), power_t=cfg.get("power_t", 0.5), eta_floor=cfg.get("floor", 0),
        alpha=cfg.get("alpha", 0.0), average=average, safe=cfg.get("safe", True))
    clf.partial_fit(to_csr(samples, 40), labels, classes=list(range(K)), sample_weight=weights)
    coef = clf.coef_
    dense = np.zeros((heads, 40))
    for (i, k), w in W_ref.items():
        dense[k, i] = w
    np.testing.assert_allclose(coef, dense, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(clf._predict_weights()[1], b_ref, rtol=1e-6, atol=1e-9)


def test_sklearn_contract_and_clone():
    clf = OnlineLinearClassifier(eta0=0.3, cross=("ab",), ngram_range=None)
    params = clf.get_params()
    assert params["eta0"] == 0.3 and params["cross"] == ("ab",)
    assert not [k for k in vars(clf) if k.endswith("_")]  # __init__ only stores parameters
    with pytest.raises(NotFittedError, match="OnlineLinearClassifier instance is not fitted"):
        clf.predict(["| x"])
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    assert NotFittedError is SklearnNotFitted  # the name users import is scikit-learn's own
    clf.fit(["|a x", "|a y"] * 10, [0, 1] * 10)
    c = clone(clf)
    assert c.get_params() == clf.get_params() and not hasattr(c, "classes_")
    assert clf.fit(["|a x"] * 2 + ["|a y"] * 2, [1, 1, 0, 0]) is clf
    assert clf.score(["|a x", "|a y"], [1, 0]) == 1.0


def test_works_in_pipeline_and_grid_search():
    from sklearn.model_selection import GridSearchCV

    samples, labels = random_problem(n=400, seed=3)
    X = to_csr(samples, 40)
    gs = GridSearchCV(OnlineLinearClassifier(max_iter=3), {"eta0": [0.05, 0.5]}, cv=2)
    gs.fit(X, labels)
    assert gs.best_score_ > 0.75


def test_learns_binary_and_multiclass_text():
    rng = np.random.default_rng(0)
    vocab = {c: [f"{c}{i}" for i in range(30)] for c in "xyz"}
    X, y = [], []
    for _ in range(3000):
        c = "xyz"[rng.integers(3)]
        toks = [*list(rng.choice(vocab[c], 3)), f"noise{rng.integers(50)}"]
        X.append(toks)
        y.append(c)
    clf = OnlineLinearClassifier()
    prog = clf.progressive_fit(X[:2500], y[:2500], classes=["x", "y", "z"])
    assert prog.accuracy > 0.9
    assert clf.score(X[2500:], y[2500:]) > 0.97
    assert clf.decision_function(X[:5]).shape == (5, 3)
    yb = [c == "x" for c in y]
    clf2 = OnlineLinearClassifier(loss="logistic").fit(X, yb)
    assert clf2.decision_function(X[:5]).shape == (5,)
    proba = clf2.predict_proba(X[:50])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean((proba[:, 1] > 0.5) == np.array(yb[:50])) > 0.95
    with pytest.raises(AttributeError, match="predict_proba needs loss='logistic'"):
        clf.predict_proba(X[:2])
    names = [f for f, _ in clf.top_features(5, label="x")]
    assert all(n.startswith(" ^x") for n in names)


def test_progressive_predictions_are_made_before_the_update():
    clf = OnlineLinearClassifier()
    prog = clf.progressive_fit([["a"], ["a"]], [1, 1], classes=[0, 1])
    assert prog.predictions[0] == 0  # an empty model scores 0 -> negative class
    assert prog.losses[0] == 1.0  # hinge loss at score 0
    assert prog.predictions[1] == 1 and prog.losses[1] < 1.0


def test_safe_hinge_step_lands_on_the_margin():
    clf = OnlineLinearClassifier(eta0=10.0)
    clf.partial_fit([["a", "b", "c"]], [1], classes=[0, 1])
    assert clf.decision_function([["a", "b", "c"]])[0] == pytest.approx(1.0, rel=1e-6)


def test_eta_floor_follows_drift():
    rng = np.random.default_rng(0)
    X = [[f"f{rng.integers(20)}", f"g{rng.integers(20)}"] for _ in range(20000)]
    truth = np.array([int(x[0][1:]) % 2 for x in X])
    y = np.where(np.arange(len(X)) < 10000, truth, 1 - truth)  # labelling flips halfway

    def late_accuracy(**kw):
        clf = OnlineLinearClassifier(**kw)
        prog = clf.progressive_fit(X, y, classes=[0, 1])
        return np.mean(prog.predictions[10000:12000] == y[10000:12000])

    assert late_accuracy(eta_floor=0.05) > late_accuracy(eta_floor=0.0) + 0.05


def test_l2_shrinks_weights():
    samples, labels = random_problem(n=500, seed=5)
    X = to_csr(samples, 40)
    kw = {"learning_rate": "constant", "eta0": 0.05, "max_iter": 3}
    w0 = np.abs(OnlineLinearClassifier(**kw).fit(X, labels).coef_).sum()
    w1 = np.abs(OnlineLinearClassifier(alpha=0.5, **kw).fit(X, labels).coef_).sum()
    assert w1 < 0.8 * w0


def test_fit_passes_and_shuffle_are_seeded():
    samples, labels = random_problem(n=300, seed=2)
    X = to_csr(samples, 40)
    a = OnlineLinearClassifier(max_iter=3, random_state=7).fit(X, labels).coef_
    b = OnlineLinearClassifier(max_iter=3, random_state=7).fit(X, labels).coef_
    c = OnlineLinearClassifier(max_iter=3, random_state=8).fit(X, labels).coef_
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_lookup_mode_grows_and_ignores_unseen_at_prediction():
    clf = OnlineLinearClassifier(lookup=True)
    clf.partial_fit([["a"], ["b"]], [1, 0], classes=[0, 1])
    assert clf.n_features_ == 2
    clf.partial_fit([["c"], ["d"]], [1, 0])
    assert clf.n_features_ == 4 and clf.coef_.shape == (1, 4)
    before = clf.n_features_
    clf.decision_function([["never", "seen"]])
    assert clf.n_features_ == before


def test_cross_features_solve_xor():
    X = [{"a": [p], "b": [q]} for p in "01" for q in "01"] * 200
    y = [int(d["a"][0] != d["b"][0]) for d in X]
    plain = OnlineLinearClassifier(max_iter=5).fit(X, y).score(X, y)
    crossed = OnlineLinearClassifier(max_iter=5, cross=("ab",)).fit(X, y).score(X, y)
    assert plain <= 0.75 and crossed == 1.0


def test_input_validation():
    clf = OnlineLinearClassifier()
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit([["a"]], [1])
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit([["a"]], [5], classes=[0, 1])
    with pytest.raises(ValueError, match="labels"):
        OnlineLinearClassifier().partial_fit([["a"], ["b"]], [1], classes=[0, 1])
    with pytest.raises(ValueError, match="loss must be one of"):
        OnlineLinearClassifier(loss="squared").fit([["a"], ["b"]], [0, 1])
    with pytest.raises(ValueError, match="learning_rate must be one of"):
        OnlineLinearClassifier(learning_rate="optimal").fit([["a"], ["b"]], [0, 1])
    with pytest.raises(ValueError, match="need at least two classes"):
        OnlineLinearClassifier().fit([["a"], ["b"]], [0, 0])
    with pytest.raises(ValueError, match="sample_weight"):
        OnlineLinearClassifier().fit([["a"], ["b"]], [0, 1], sample_weight=[1, -1])
    clf = OnlineLinearClassifier().fit([["a"], ["b"]], [0, 1])
    with pytest.raises(ValueError, match="input"):
        clf.partial_fit(sp.csr_matrix(np.eye(2)), [0, 1])
    with pytest.raises(TypeError, match="X must be a sequence of samples"):
        clf.predict("| a b")


@pytest.mark.parametrize("average", [True, 20])
def test_averaged_weights_equal_the_mean_of_the_iterates(average):
    samples, labels = random_problem(n=80, seed=11)
    X = to_csr(samples, 40)
    clf = OnlineLinearClassifier(average=average, learning_rate="constant", eta0=0.1)
    iterates = []
    for i in range(80):
        clf.partial_fit(X[i:i + 1], labels[i:i + 1], classes=[0, 1])
        iterates.append(clf.weights_[:40, 0].astype(np.float64).copy())
    start = 0 if average is True else average
    expected = np.mean(iterates[start:], axis=0)
    np.testing.assert_allclose(clf.coef_[0], expected, rtol=1e-5, atol=1e-6)


def test_dense_numeric_matrix_is_read_like_its_sparse_form():
    samples, labels = random_problem(n=200, seed=4)
    X = to_csr(samples, 40)
    a = OnlineLinearClassifier().fit(X, labels)
    b = OnlineLinearClassifier().fit(X.toarray(), labels)
    assert np.array_equal(a.coef_, b.coef_)
    assert np.array_equal(a.predict(X), b.predict(X.toarray()))


def textbook_hinge_sgd(samples, labels, eta, steps_on_margin=False):
    """Plain SGD on the hinge loss max(0, 1 - y w.x), written from the textbook rule:
    w <- w + eta * y * x when y w.x < 1, else w is left alone (also exactly at the margin).
    Floats here are exact (powers of two), so float32 and float64 agree."""
    w: dict[int, float] = {}
    for x, label in zip(samples, labels):
        y = 1.0 if label == 1 else -1.0
        margin = y * sum(w.get(i, 0.0) * v for i, v in x.items())
        if margin < 1.0 or (steps_on_margin and margin == 1.0):
            for i, v in x.items():
                w[i] = w.get(i, 0.0) + eta * y * v
    return w


def test_hinge_update_stops_exactly_at_the_margin():
    # repeated samples walk their margin up in exact steps until it is exactly 1
    samples = [{0: 1.0}] * 3 + [{1: 1.0}, {1: 2.0}] + [{2: 0.25}] * 100 + [{3: 0.5, 4: 0.5}] * 50
    labels = [1, 1, 1, 0, 0] + [1] * 100 + [0] * 50
    ref = textbook_hinge_sgd(samples, labels, eta=0.5)
    assert ref == {0: 1.0, 1: -0.5, 2: 4.0, 3: -1.0, 4: -1.0}  # each ends on its margin
    assert textbook_hinge_sgd(samples, labels, 0.5, steps_on_margin=True) != ref
    clf = OnlineLinearClassifier(learning_rate="constant", eta0=0.5, safe=False,
                                 fit_intercept=False)
    prog = clf.progressive_fit(to_csr([list(x.items()) for x in samples], 5), labels,
                               classes=[0, 1])
    assert clf.coef_[0].tolist() == [ref[i] for i in range(5)]
    # the progressive hinge loss of a sample on its margin is exactly 0
    assert prog.losses[2] == 0.0 and prog.losses[4] == 0.0 and prog.losses[-1] == 0.0
