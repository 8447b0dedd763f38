"""The `.lin` model file: one safetensors file with a JSON config in its header.

A file from outside is untrusted. `load_model` checks the config's every key, type and range
and every tensor's name, dtype, shape and values before it builds anything, so a malformed
file raises :class:`LinearModelFormatError` (never KeyError, TypeError, OverflowError or
RecursionError) and no declared size makes it allocate more than the file itself holds.
Non-finite values (NaN, inf) in weights or learner state are refused: a model with them
predicts a constant, which is never what a saved model meant.

Layout: tensors ``weights`` (n, K) float32 and ``intercept`` (K,) float64; a full model
adds ``adagrad_intercept``, ``avg_intercept_acc`` (K,) float64, ``adagrad`` (n, K) float32
(adaptive rate), ``avg_acc`` (n, K) float64 (averaging) and ``named_bits`` (which hashed
slots have a name); lookup mode adds ``lookup_keys`` / ``lookup_ids`` (n,) int64; feature
names are ``name_ids`` int64, ``name_offsets`` int64 and ``name_bytes`` uint8 (UTF-8).
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from vecsmith._atomic import atomic_path

from ._lazy import load, parse_kernels
from .constants import LOSSES, MAX_BITS, SCHEDULES

if TYPE_CHECKING:  # pragma: no cover
    from .online import OnlineLinearClassifier

FORMAT = "vecsmith.linear"
FORMAT_VERSION = 1
META_KEY = "vecsmith.linear"
MAX_COUNT = 2**62  # t, seeds, iteration counts: anything above is corruption
MAX_NGRAM = 1024  # longest character n-gram a config may ask for
INPUT_KINDS = (None, "features", "sparse")
TENSORS = {"weights", "intercept", "adagrad_intercept", "avg_intercept_acc", "adagrad",
           "avg_acc", "named_bits", "lookup_keys", "lookup_ids", "name_ids", "name_offsets",
           "name_bytes"}


class LinearModelFormatError(ValueError):
    """A saved linear model is malformed, truncated or from another format."""


# -- writing -------------------------------------------------------------------------------


def save_model(model: OnlineLinearClassifier, path: str | os.PathLike,
               predict_only: bool = False) -> None:
    """Write `model` atomically (see the module docstring for the layout)."""
    save_file = load("safetensors.numpy", "saving linear models").save_file
    n = model.n_features_
    f = model.featurizer_
    tensors: dict[str, np.ndarray] = {}
    if predict_only:
        W, b = model._predict_weights()
        tensors["weights"] = np.ascontiguousarray(W[:n])
        tensors["intercept"] = np.asarray(b, np.float64)
    else:
        tensors["weights"] = np.ascontiguousarray(model.weights_[:n])
        tensors["intercept"] = model.intercept_
        tensors["adagrad_intercept"] = model.adagrad_intercept_
        tensors["avg_intercept_acc"] = model.avg_intercept_acc_
        if model.adagrad_.shape[0]:
            tensors["adagrad"] = np.ascontiguousarray(model.adagrad_[:n])
        if model.avg_acc_.shape[0]:
            tensors["avg_acc"] = np.ascontiguousarray(model.avg_acc_[:n])
        if f._named.shape[0]:
            tensors["named_bits"] = np.packbits(f._named)
    if f.lookup and model.input_kind_ != "sparse":
        tensors["lookup_keys"] = np.fromiter(f.table.keys(), np.int64, len(f.table))
        tensors["lookup_ids"] = np.fromiter(f.table.values(), np.int64, len(f.table))
    if f._name_chunks and model.input_kind_ != "sparse":
        ids, offsets, raw = f.name_arrays()
        tensors["name_ids"] = ids
        tensors["name_offsets"] = offsets
        tensors["name_bytes"] = raw if len(raw) else np.zeros(1, np.uint8)
    classes = model.classes_
    config = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": {k: (list(v) if isinstance(v, tuple) else v)
                   for k, v in model.get_params().items()},
        "classes": classes.tolist(),
        "classes_dtype": classes.dtype.str if classes.dtype.kind != "O" else "str",
        "t": int(model.t_[0]),
        "input_kind": model.input_kind_,
        "n_features": int(n),
        "predict_only": bool(predict_only or getattr(model, "predict_only_", False)),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(config)})


# -- reading: the config -------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v)) and abs(float(v)) < 1e300)


def _int_in(lo: int, hi: int):
    return lambda v: _is_int(v) and lo <= v <= hi


def _ngram_range(v: Any) -> bool:
    return v is None or (isinstance(v, list) and len(v) == 2
                         and all(_is_int(x) and 1 <= x <= MAX_NGRAM for x in v) and v[0] <= v[1])


_PARAMS = {  # constructor parameter -> what a valid saved value looks like
    "loss": lambda v: v in LOSSES,
    "learning_rate": lambda v: v in SCHEDULES,
    "eta0": lambda v: _is_number(v) and v > 0,
    "power_t": lambda v: _is_number(v) and v >= 0,
    "eta_floor": lambda v: _is_number(v) and v >= 0,
    "alpha": lambda v: _is_number(v) and v >= 0,
    "average": lambda v: isinstance(v, bool) or (_is_int(v) and 0 <= v < MAX_COUNT),
    "fit_intercept": lambda v: isinstance(v, bool),
    "safe": lambda v: isinstance(v, bool),
    "bits": _int_in(1, MAX_BITS),
    "lookup": lambda v: isinstance(v, bool),
    "cross": lambda v: isinstance(v, list) and all(
        isinstance(c, str) and len(c.encode("utf-8", "surrogatepass")) == 2 for c in v),
    "ngram_range": _ngram_range,
    "hash_seed": _int_in(-MAX_COUNT, MAX_COUNT),
    "keep_names": lambda v: isinstance(v, bool),
    "max_iter": _int_in(1, MAX_COUNT),
    "shuffle": lambda v: isinstance(v, bool),
    "random_state": lambda v: v is None or _int_in(0, 2**32 - 1)(v),
    "batch_size": _int_in(1, MAX_COUNT),
}


def _fail(path, what: str) -> LinearModelFormatError:
    return LinearModelFormatError(f"{path}: {what}")


def _parse_config(path, meta: dict) -> dict:
    if META_KEY not in meta:
        raise _fail(path, "not a vecsmith.linear model (no config)")
    try:
        config = json.loads(meta[META_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _fail(path, f"config is not JSON or nested too deeply ({type(exc).__name__})"
                    ) from None
    if not isinstance(config, dict):
        raise _fail(path, f"config is a JSON {type(config).__name__}, expected an object")
    if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
        raise _fail(path, f"format {str(config.get('format'))[:40]!r} "
                          f"v{str(config.get('version'))[:20]}, expected {FORMAT} "
                          f"v{FORMAT_VERSION}")
    required = {"params": dict, "classes": list, "classes_dtype": str, "t": int,
                "input_kind": (str, type(None)), "n_features": int, "predict_only": bool}
    for key, kind in required.items():
        if key not in config:
            raise _fail(path, f"config has no {key!r}")
        if not isinstance(config[key], kind) or (kind is int and isinstance(config[key], bool)):
            raise _fail(path, f"config {key!r} is a JSON {type(config[key]).__name__}")
    if config["input_kind"] not in INPUT_KINDS:
        raise _fail(path, f"input_kind {config['input_kind'][:40]!r} is not one of "
                          f"{INPUT_KINDS}")
    if not 0 <= config["t"] < MAX_COUNT or not 0 <= config["n_features"] < MAX_COUNT:
        raise _fail(path, "t or n_features out of range")
    params = config["params"]
    unknown = sorted(set(params) - set(_PARAMS))[:3]
    missing = sorted(set(_PARAMS) - set(params))[:3]
    if unknown or missing:
        raise _fail(path, f"params: unknown {unknown}, missing {missing}")
    for key, valid in _PARAMS.items():
        if not valid(params[key]):
            raise _fail(path, f"param {key!r} = {str(params[key])[:40]!r} is not valid")
    return config


def _parse_classes(path, config: dict) -> np.ndarray:
    raw, cdt = config["classes"], config["classes_dtype"]
    if cdt == "str":
        dtype = None
        ok = all(isinstance(c, str) for c in raw)
    else:
        try:
            dtype = np.dtype(cdt)
        except (TypeError, ValueError):
            raise _fail(path, f"classes_dtype {cdt[:20]!r} is not a numpy dtype") from None
        ok = dtype.kind in "biuU" or (dtype.kind == "f" and dtype.itemsize <= 8)
        ok = ok and dtype.itemsize <= 4096 and all(
            isinstance(c, str) if dtype.kind == "U" else _is_number(c) or isinstance(c, bool)
            for c in raw)
    if not ok:
        raise _fail(path, f"classes do not match classes_dtype {cdt[:20]!r}")
    try:
        classes = np.asarray(raw, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise _fail(path, "classes do not fit classes_dtype") from None
    if classes.ndim != 1 or len(classes) < 2 or classes.tolist() != raw:
        raise _fail(path, "classes must be a list of at least two scalars that fit their dtype")
    if not np.array_equal(np.unique(classes), classes):
        raise _fail(path, "classes must be distinct and sorted, as the model stores them")
    return classes


# -- reading: the tensors ------------------------------------------------------------------


def _read_tensors(path) -> tuple[dict, dict[str, np.ndarray]]:
    safe_open = load("safetensors", "loading linear models").safe_open
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if META_KEY not in meta:
                raise _fail(path, "not a vecsmith.linear model (no config)")
            names = list(fh.keys())
            extra = sorted(set(names) - TENSORS)[:3]
            if extra:
                raise _fail(path, f"unexpected tensors {extra}")
            tensors = {k: fh.get_tensor(k) for k in names}
    except LinearModelFormatError:
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # safetensors raises its own, OSError, ValueError, TypeError...
        raise _fail(path, f"not a safetensors file ({type(exc).__name__}: "
                          f"{str(exc)[:120]})") from None
    return meta, tensors


def _tensor(path, tensors, name, shape, dtype, *, nonneg=False) -> np.ndarray:
    a = tensors.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        got = "missing" if a is None else f"{a.shape} {a.dtype}"
        raise _fail(path, f"tensor {name!r} is {got}, expected {shape} {np.dtype(dtype)}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise _fail(path, f"tensor {name!r} holds non-finite values (NaN or inf)")
    if nonneg and a.size and a.min() < 0:
        raise _fail(path, f"tensor {name!r} holds negative values")
    return np.array(a, copy=True)


def load_model(cls: type[OnlineLinearClassifier], path: str | os.PathLike
               ) -> OnlineLinearClassifier:
    """Read a model written by `save_model`; LinearModelFormatError for anything malformed."""
    meta, tensors = _read_tensors(path)
    config = _parse_config(path, meta)
    classes = _parse_classes(path, config)
    params = dict(config["params"])
    for key in ("cross", "ngram_range"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    model = cls(**params)
    try:
        model._check_params()
    except ValueError as exc:
        raise _fail(path, f"bad parameters ({exc})") from None
    n, kind = config["n_features"], config["input_kind"]
    K = 1 if len(classes) == 2 else len(classes)
    rows = n if (model.lookup or kind == "sparse") else 2 ** model.bits
    if rows != n:
        raise _fail(path, f"{n} weight rows, expected 2**bits = {rows}")
    # Sizes are now those of tensors the file holds: nothing below allocates more than it.
    W = _tensor(path, tensors, "weights", (n, K), np.float32)
    predict_only = config["predict_only"]
    model.classes_ = classes
    model.input_kind_ = kind
    model.predict_only_ = predict_only
    model.weights_ = W
    model._n_rows = n
    model.intercept_ = _tensor(path, tensors, "intercept", (K,), np.float64)
    adaptive = model.learning_rate == "adaptive" and not predict_only
    averaged = bool(model.average) and not predict_only
    model.adagrad_ = (_tensor(path, tensors, "adagrad", (n, K), np.float32, nonneg=True)
                      if adaptive else np.zeros((0, K), np.float32))
    model.avg_acc_ = (_tensor(path, tensors, "avg_acc", (n, K), np.float64)
                      if averaged else np.zeros((0, K), np.float64))
    if predict_only:
        model.adagrad_intercept_ = np.zeros(K, np.float64)
        model.avg_intercept_acc_ = np.zeros(K, np.float64)
    else:
        model.adagrad_intercept_ = _tensor(path, tensors, "adagrad_intercept", (K,),
                                           np.float64, nonneg=True)
        model.avg_intercept_acc_ = _tensor(path, tensors, "avg_intercept_acc", (K,),
                                           np.float64)
    model.t_ = np.array([config["t"]], np.int64)
    model.featurizer_ = _featurizer(path, model, tensors, n, kind)
    model._avg_cache = None
    return model


def _featurizer(path, model, tensors, n: int, kind):
    """The featurizer with its lookup table and feature names, checked against n rows."""
    from .features import Featurizer

    try:
        f = Featurizer(model.bits, model.lookup, model.cross, model.ngram_range,
                       model.hash_seed, model.keep_names)
    except ValueError as exc:
        raise _fail(path, f"bad feature settings ({exc})") from None
    if model.lookup and kind != "sparse":
        keys = _tensor(path, tensors, "lookup_keys", (n,), np.int64)
        ids = _tensor(path, tensors, "lookup_ids", (n,), np.int64)
        if n and (ids.min() < 0 or ids.max() >= n or len(np.unique(ids)) != n
                  or len(np.unique(keys)) != n):
            raise _fail(path, f"lookup table is not {n} distinct keys with ids 0..{n - 1}")
        parse_kernels().fill_table(f.table, keys, ids)
    named = f._named.shape[0]
    if "named_bits" in tensors and named:
        _tensor(path, tensors, "named_bits", ((named + 7) // 8,), np.uint8)
        f._named = np.unpackbits(tensors["named_bits"])[:named].astype(np.bool_)
    if "name_ids" in tensors:
        ids = tensors["name_ids"]
        if ids.ndim != 1 or ids.dtype != np.int64:
            raise _fail(path, "tensor 'name_ids' is not 1-D int64")
        off = _tensor(path, tensors, "name_offsets", (len(ids) + 1,), np.int64)
        raw = tensors.get("name_bytes")
        if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
            raise _fail(path, "tensor 'name_bytes' is missing or not 1-D uint8")
        if off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] > len(raw):
            raise _fail(path, "feature name offsets are not increasing within name_bytes")
        if len(ids) and (ids.min() < 0 or ids.max() >= max(n, 1)):
            raise _fail(path, f"feature name ids are not in 0..{n - 1}")
        f.add_names(ids.copy(), off, raw.copy())
        if named and "named_bits" not in tensors:
            f._named[ids] = True
    return f
