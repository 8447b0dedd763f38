"""Save/load: bit-identical continuation, predict-only export, atomic writes, bad files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from vecsmith.linear import LinearModelFormatError, OnlineLinearClassifier


def stream(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        c = rng.integers(3)
        toks = [f"t{c}_{rng.integers(40)}" for _ in range(3)] + [f"n{rng.integers(100)}"]
        X.append(f"|a {toks[0]} {toks[1]}:0.5 |b {toks[2]} {toks[3]}")
        y.append(["red", "green", "blue"][c])
    return X, np.array(y)


CONFIGS = [
    {},
    {"lookup": True, "cross": ("ab",)},
    {"average": True, "learning_rate": "constant", "eta0": 0.05, "alpha": 1e-3},
    {"loss": "logistic", "learning_rate": "invscaling", "bits": 12},
    {"eta_floor": 0.01, "average": True, "lookup": True},
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("binary", [False, True])
def test_save_load_continue_is_bit_identical(tmp_path, cfg, binary):
    X, y = stream()
    if binary:
        y = np.where(y == "red", "red", "other")
    classes = np.unique(y)
    a = OnlineLinearClassifier(**cfg)
    a.partial_fit(X[:2000], y[:2000], classes=classes)
    a.save(tmp_path / "m.lin")
    a.partial_fit(X[2000:], y[2000:])

    b = OnlineLinearClassifier.load(tmp_path / "m.lin")
    assert b.get_params() == a.get_params()
    b.partial_fit(X[2000:], y[2000:])

    n = a.n_features_
    assert n == b.n_features_
    assert np.array_equal(a.weights_[:n], b.weights_[:n])
    assert np.array_equal(a.intercept_, b.intercept_)
    assert np.array_equal(a.adagrad_[:n], b.adagrad_[:n])
    assert np.array_equal(a.avg_acc_[:n], b.avg_acc_[:n])
    assert int(a.t_[0]) == int(b.t_[0])
    assert np.array_equal(a.decision_function(X[:500]), b.decision_function(X[:500]))
    assert a.featurizer_.names == b.featurizer_.names


def test_predict_only_export(tmp_path):
    X, y = stream()
    m = OnlineLinearClassifier(average=True, learning_rate="constant", eta0=0.05)
    m.fit(X, y)
    m.save(tmp_path / "full.lin")
    m.save(tmp_path / "small.lin", predict_only=True)
    full = (tmp_path / "full.lin").stat().st_size
    small = (tmp_path / "small.lin").stat().st_size
    assert small < 0.5 * full  # no float64 averaging accumulators, no learner state
    p = OnlineLinearClassifier.load(tmp_path / "small.lin")
    np.testing.assert_allclose(p.decision_function(X), m.decision_function(X), rtol=1e-6,
                               atol=1e-6)
    assert np.array_equal(p.predict(X), m.predict(X))
    assert p.top_features(3, label="red") == m.top_features(3, label="red")
    with pytest.raises(ValueError, match="predict-only"):
        p.partial_fit(X[:10], y[:10])


def test_file_is_safetensors_with_json_config_and_no_pickle(tmp_path):
    X, y = stream(200)
    OnlineLinearClassifier(lookup=True).fit(X, y).save(tmp_path / "m.lin")
    raw = (tmp_path / "m.lin").read_bytes()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    config = json.loads(header["__metadata__"]["vecsmith.linear"])
    assert config["format"] == "vecsmith.linear" and config["params"]["lookup"] is True
    assert config["classes"] == ["blue", "green", "red"]
    assert b"\x80\x04" not in raw[:8 + hlen]  # no pickle protocol marker in the header
    assert "weights" in header and "lookup_keys" in header


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    X, y = stream(200)
    m = OnlineLinearClassifier().fit(X, y)
    path = tmp_path / "m.lin"
    m.save(path)
    before = path.read_bytes()

    import safetensors.numpy

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.lin"]


def test_bad_files_raise_format_error(tmp_path):
    bad = tmp_path / "bad.lin"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(LinearModelFormatError, match="not a safetensors file"):
        OnlineLinearClassifier.load(bad)
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(bad))
    with pytest.raises(LinearModelFormatError, match="no config"):
        OnlineLinearClassifier.load(bad)
    X, y = stream(200)
    good = tmp_path / "good.lin"
    OnlineLinearClassifier(lookup=True).fit(X, y).save(good)
    raw = good.read_bytes()
    good.with_name("trunc.lin").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(LinearModelFormatError, match="not a safetensors file"):
        OnlineLinearClassifier.load(good.with_name("trunc.lin"))
    # a config that lies about the weight table size
    from safetensors import safe_open

    with safe_open(str(good), framework="numpy") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    cfg = json.loads(meta["vecsmith.linear"])
    cfg["n_features"] += 5
    save_file(tensors, str(bad), metadata={"vecsmith.linear": json.dumps(cfg)})
    with pytest.raises(LinearModelFormatError, match="tensor 'weights' is"):
        OnlineLinearClassifier.load(bad)
    cfg["n_features"] -= 5
    cfg["version"] = 99
    save_file(tensors, str(bad), metadata={"vecsmith.linear": json.dumps(cfg)})
    with pytest.raises(LinearModelFormatError, match="v99"):
        OnlineLinearClassifier.load(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.lin"):
        OnlineLinearClassifier.load(tmp_path / "missing.lin")


def test_integer_and_bool_classes_round_trip(tmp_path):
    X, _ = stream(300)
    y = np.arange(300) % 2 == 0
    m = OnlineLinearClassifier().fit(X, y)
    m.save(tmp_path / "b.lin")
    m2 = OnlineLinearClassifier.load(tmp_path / "b.lin")
    assert m2.classes_.dtype == np.bool_ and np.array_equal(m2.predict(X), m.predict(X))
    yi = np.arange(300) % 3 + 10
    m = OnlineLinearClassifier().fit(X, yi)
    m.save(tmp_path / "i.lin")
    assert OnlineLinearClassifier.load(tmp_path / "i.lin").classes_.tolist() == [10, 11, 12]


@pytest.mark.parametrize("lookup", [False, True])
def test_sparse_input_round_trip(tmp_path, lookup):
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = sp.random(300, 50, density=0.1, format="csr", random_state=1, dtype=np.float32)
    y = rng.integers(0, 2, 300)
    m = OnlineLinearClassifier(lookup=lookup, average=True)
    m.partial_fit(X[:200], y[:200], classes=[0, 1])
    m.save(tmp_path / "s.lin")
    m.partial_fit(X[200:], y[200:])
    r = OnlineLinearClassifier.load(tmp_path / "s.lin")
    r.partial_fit(X[200:], y[200:])
    assert m.coef_.shape == r.coef_.shape == (1, 50)
    assert np.array_equal(m.coef_, r.coef_)
    assert np.array_equal(m.decision_function(X), r.decision_function(X))
