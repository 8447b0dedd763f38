"""Whatever text comes in, the parser returns well-formed CSR or raises FeatureFormatError."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vecsmith.linear import FeatureFormatError, Featurizer, OnlineLinearClassifier

ALPHABET = st.sampled_from([*list("ab|: \t.-+e0123456789xyzü日"), "\r", "1e", "-1"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)


def check_batch(batch, n, n_features):
    assert batch.indptr.shape == (n + 1,)
    assert batch.indptr[0] == 0 and np.all(np.diff(batch.indptr) >= 0)
    assert len(batch.indices) == len(batch.values) == batch.indptr[-1]
    if len(batch.indices):
        assert batch.indices.min() >= 0 and batch.indices.max() < n_features


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_parser_never_crashes(texts, lookup, cross):
    f = Featurizer(bits=10, lookup=lookup, cross=["ab", "aa"] if cross else [])
    texts = [t.replace("\n", " ") for t in texts]
    try:
        batch = f.transform(texts, grow=True)
    except FeatureFormatError:
        return
    check_batch(batch, len(texts), f.n_features)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=6))
def test_words_and_token_lists_never_crash(words):
    words = [w.replace("\n", " ") for w in words]
    f = Featurizer(bits=12, ngram_range=(1, 4))
    check_batch(f.transform(words), len(words), f.n_features)
    g = Featurizer(bits=12, lookup=True)
    check_batch(g.transform([words], grow=True), 1, g.n_features)
    clf = OnlineLinearClassifier(lookup=True)
    clf.partial_fit([words, words[:1]], [0, 1], classes=[0, 1])
    assert np.all(np.isfinite(clf.decision_function([words])))


# -- .lin files from outside: seeded mutants, each loaded under an address-space limit ------

import json  # noqa: E402
import random  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from vecsmith.linear import LinearModelFormatError  # noqa: E402

SAMPLES = ["|a x y:0.5 |b z", "|a q", "hello world"]
CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import scipy.sparse as sp
from vecsmith.linear import LinearModelFormatError, OnlineLinearClassifier

SAMPLES = json.loads(sys.argv[1])

def use(model):
    if model.input_kind_ == "sparse":
        X = sp.random(3, max(model.n_features_, 1), density=0.5, format="csr", random_state=0)
    else:
        X = SAMPLES
    model.decision_function(X)
    model.predict(X)

use(OnlineLinearClassifier.load(sys.argv[2]))  # imports and compiled kernels, before limits
pagesize = os.sysconf("SC_PAGE_SIZE")
_, hard = resource.getrlimit(resource.RLIMIT_AS)
for line in sys.stdin:
    path = line.strip()
    vm = int(open("/proc/self/statm").read().split()[0]) * pagesize
    limit = vm + os.path.getsize(path) + 512 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    t0 = time.perf_counter()
    try:
        use(OnlineLinearClassifier.load(path))
        out = "ok"
    except LinearModelFormatError:
        out = "format_error"
    except BaseException as exc:
        out = f"BAD {type(exc).__name__}: {str(exc)[:200]}"
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    if time.perf_counter() - t0 > 10:
        out = "BAD slow"
    print(json.dumps([path, out]), flush=True)
"""


def _split(raw: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


_ODD_VALUES = ["abc", "", [], {}, None, True, -1, 0, 1.5, 2**31, 2**64, -(2**63), 1e308,
               float("nan"), [1, 2, 3], {"a": 1}, "x" * 300]


def _config_mutant(raw: bytes, rng: random.Random) -> bytes:
    """Change one config value (top level or a param) to another JSON type or an extreme."""
    header, data = _split(raw)
    cfg = json.loads(header["__metadata__"]["vecsmith.linear"])
    target = cfg["params"] if rng.random() < 0.5 else cfg
    key = rng.choice(sorted(target))
    if rng.random() < 0.1:
        del target[key]
    else:
        target[key] = rng.choice(_ODD_VALUES)
    header["__metadata__"]["vecsmith.linear"] = json.dumps(cfg)
    return _join(header, data)


def _header_mutant(raw: bytes, rng: random.Random) -> bytes:
    """Set a tensor's shape, offsets or dtype (safetensors header) to an extreme."""
    header, data = _split(raw)
    name = rng.choice(sorted(k for k in header if k != "__metadata__"))
    field = rng.choice(["shape", "data_offsets", "dtype"])
    if field == "dtype":
        header[name]["dtype"] = rng.choice(["F64", "F16", "I8", "U64", "BOOL", "XX"])
    else:
        value = list(header[name][field])
        if value:
            value[rng.randrange(len(value))] = rng.choice([0, 1, 2**31, 2**62, 2**64 - 1])
        header[name][field] = value
    return _join(header, data)


SIZE_FIELDS = [("params", "bits"), (None, "n_features"), (None, "t"), ("params", "batch_size"),
               ("params", "max_iter"), ("params", "ngram_range")]
EXTREMES = [31, 32, 40, 2**31, 2**40, 2**63, -5, [1, 2**40]]


def _size_mutants(raw: bytes) -> list[tuple[str, bytes]]:
    """Every declared size of the config set to every extreme."""
    out = []
    for part, key in SIZE_FIELDS:
        for value in EXTREMES:
            header, data = _split(raw)
            cfg = json.loads(header["__metadata__"]["vecsmith.linear"])
            (cfg[part] if part else cfg)[key] = value
            header["__metadata__"]["vecsmith.linear"] = json.dumps(cfg)
            out.append((f"{key}={value}", _join(header, data)))
    return out


def _mutants(raw: bytes, seed: int, per_kind: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    out = _size_mutants(raw)
    for i in range(per_kind):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(b))
            b[pos] ^= 1 << rng.randrange(8)
        out.append((f"flip{i}", bytes(b)))
        out.append((f"trunc{i}", raw[: rng.randrange(len(raw))]))
        out.append((f"garbage{i}", raw + rng.randbytes(rng.randint(1, 4096))))
        size = rng.choice([0, 1, 7, len(raw), 2**32, 2**63 - 1, 2**64 - 1])
        out.append((f"size{i}", struct.pack("<Q", size) + raw[8:]))
        out.append((f"config{i}", _config_mutant(raw, rng)))
        out.append((f"header{i}", _header_mutant(raw, rng)))
    return out


def _base_models(folder) -> list:
    from vecsmith.linear import OnlineLinearClassifier

    rng = np.random.default_rng(0)
    X = [f"|a t{rng.integers(30)} u{rng.integers(9)}:0.5 |b v{rng.integers(20)}"
         for _ in range(300)]
    y3 = rng.integers(0, 3, 300)
    made = [
        ("hashed", OnlineLinearClassifier(bits=10).fit(X, y3 % 2)),
        ("lookup", OnlineLinearClassifier(lookup=True, cross=("ab",), average=True).fit(X, y3)),
        ("ngrams", OnlineLinearClassifier(ngram_range=(1, 3), bits=9, learning_rate="constant")
         .fit([x[3:9] for x in X], np.array(["p", "q", "r"])[y3])),
    ]
    paths = []
    for name, model in made:
        p = folder / f"{name}.lin"
        model.save(p)
        paths.append(p)
    model = made[1][1]
    model.save(folder / "lookup_po.lin", predict_only=True)
    paths.append(folder / "lookup_po.lin")
    return paths


def test_mutated_model_files_load_or_raise_the_typed_error(tmp_path):
    """Seeded mutants of four models: each either loads and predicts, or raises
    LinearModelFormatError, within 512 MB over its file size and 10 s (child process)."""
    files = []
    for k, base in enumerate(_base_models(tmp_path)):
        raw = base.read_bytes()
        for name, data in _mutants(raw, seed=k, per_kind=12):
            p = tmp_path / f"{base.stem}_{name.replace(' ', '')}.lin"
            p.write_bytes(data)
            files.append(str(p))
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(SAMPLES), str(base)],
                          input="\n".join(files) + "\n", capture_output=True, text=True,
                          timeout=600)
    results = dict(json.loads(line) for line in proc.stdout.splitlines())
    missing = [f for f in files if f not in results]
    assert not missing, f"child died at {missing[0]}: rc {proc.returncode} {proc.stderr[-800:]}"
    bad = {f: r for f, r in results.items() if r.startswith("BAD")}
    assert not bad, list(bad.items())[:5]
    outcomes = list(results.values())
    assert outcomes.count("format_error") > len(files) // 2  # the mutants really are broken
    assert "ok" in outcomes  # ... and the harness can tell a good file from a bad one


def _rewrite_config(src, dst, edit) -> None:
    header, data = _split(src.read_bytes())
    cfg = json.loads(header["__metadata__"]["vecsmith.linear"])
    edit(cfg)
    header["__metadata__"]["vecsmith.linear"] = json.dumps(cfg)
    dst.write_bytes(_join(header, data))


@pytest.fixture(scope="module")
def base_files(tmp_path_factory):
    return _base_models(tmp_path_factory.mktemp("lin"))


TARGETED = [
    # the case: a small file whose bits ask for 2**31 rows per head
    ("bits31", lambda c: c["params"].update(bits=31), "weight rows, expected 2\\*\\*bits"),
    ("n_features_huge", lambda c: c.update(n_features=2**40), "weight rows|weights"),
    ("t_overflow", lambda c: c.update(t=2**70), "out of range"),
    ("missing_classes", lambda c: c.pop("classes"), "has no 'classes'"),
    ("classes_dict", lambda c: c.update(classes={"a": 1}), "'classes' is a JSON dict"),
    ("classes_nested", lambda c: c.update(classes=[[1], [2]]), "classes"),
    ("classes_dtype_bad", lambda c: c.update(classes_dtype="zz9"), "numpy dtype"),
    ("classes_unsorted", lambda c: c.update(classes=c["classes"][::-1]), "sorted"),
    ("params_list", lambda c: c.update(params=[1, 2]), "'params' is a JSON list"),
    ("param_type", lambda c: c["params"].update(eta0="fast"), "param 'eta0'"),
    ("param_unknown", lambda c: c["params"].update(evil=1), "unknown \\['evil'\\]"),
    ("param_missing", lambda c: c["params"].pop("loss"), "missing \\['loss'\\]"),
    ("ngram_huge", lambda c: c["params"].update(ngram_range=[1, 10**30]), "ngram_range"),
    ("input_kind", lambda c: c.update(input_kind="pickle"), "input_kind"),
    ("predict_only_str", lambda c: c.update(predict_only="yes"), "'predict_only' is a JSON str"),
    ("version_str", lambda c: c.update(version="1"), "expected vecsmith.linear v1"),
]


@pytest.mark.parametrize("name,edit,message", TARGETED, ids=[t[0] for t in TARGETED])
def test_targeted_corruptions_are_typed(base_files, tmp_path, name, edit, message):
    src = base_files[1] if name != "bits31" else base_files[0]
    dst = tmp_path / f"{name}.lin"
    _rewrite_config(src, dst, edit)
    from vecsmith.linear import OnlineLinearClassifier

    with pytest.raises(LinearModelFormatError, match=message):
        OnlineLinearClassifier.load(dst)


def test_deeply_nested_config_is_typed(base_files, tmp_path):
    header, data = _split(base_files[0].read_bytes())
    header["__metadata__"]["vecsmith.linear"] = "[" * 200_000 + "]" * 200_000
    dst = tmp_path / "deep.lin"
    dst.write_bytes(_join(header, data))
    from vecsmith.linear import OnlineLinearClassifier

    with pytest.raises(LinearModelFormatError, match="nested too deeply"):
        OnlineLinearClassifier.load(dst)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(tmp_path, bad):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from vecsmith.linear import OnlineLinearClassifier

    m = OnlineLinearClassifier(bits=8).fit(SAMPLES * 4, [0, 1, 1] * 4)
    m.save(tmp_path / "m.lin")
    with safe_open(str(tmp_path / "m.lin"), framework="numpy") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    tensors["weights"][3, 0] = bad
    save_file(tensors, str(tmp_path / "bad.lin"), metadata=meta)
    with pytest.raises(LinearModelFormatError, match="'weights' holds non-finite"):
        OnlineLinearClassifier.load(tmp_path / "bad.lin")


def test_ova_model_with_nan_weights_predicts_without_index_error():
    from vecsmith.linear import OnlineLinearClassifier

    m = OnlineLinearClassifier(bits=8).fit(SAMPLES * 4, [0, 1, 2] * 4)
    m.weights_[:] = np.nan
    m.intercept_[:] = np.nan
    assert m.predict(SAMPLES).tolist() == [0, 0, 0]  # argmax of all-NaN rows: the first class
    assert m.decision_function(SAMPLES).shape == (3, 3)
