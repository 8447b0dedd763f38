"""`OnlineLinearClassifier`: a linear SVM (or logistic model) learned one sample at a time.

It follows the scikit-learn estimator contract (`__init__` stores hyperparameters, learned
state ends with ``_``, `fit`/`partial_fit`/`predict`/`decision_function`/`score`, works with
`sklearn.base.clone`) and reads sparse features the way Vowpal Wabbit does: hashed or looked
up, with namespaces, cross features and feature values. The per-sample update and the batch
prediction are numba kernels (see :mod:`vecsmith.linear.kernels` for the exact formulas).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from vecsmith._atomic import atomic_path

from . import kernels
from .features import Featurizer, SparseBatch, new_table

FORMAT = "vecsmith.linear"
FORMAT_VERSION = 1

_LOSSES = {"hinge": kernels.HINGE, "logistic": kernels.LOGISTIC, "log_loss": kernels.LOGISTIC}
_SCHEDULES = {"constant": kernels.CONSTANT, "invscaling": kernels.INVSCALING,
              "adaptive": kernels.ADAPTIVE}


class LinearModelFormatError(ValueError):
    """A saved linear model is malformed, truncated or from another format."""


class NotFittedError(ValueError, AttributeError):
    """The model has not seen any training data yet."""


@dataclass
class Progressive:
    """Progressive validation: each sample's prediction and loss *before* training on it."""

    predictions: np.ndarray
    losses: np.ndarray
    labels: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels)) if len(self.labels) else 0.0

    @property
    def mean_loss(self) -> float:
        return float(np.mean(self.losses)) if len(self.losses) else 0.0


def _is_sparse(X) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(X)


class OnlineLinearClassifier(ClassifierMixin, BaseEstimator):
    """Hinge-loss (linear SVM) or logistic classifier trained by per-sample SGD on sparse features.

    Binary or one-vs-rest multi-class. Samples may be VW feature strings
    (``"|a x y:0.5 |b z"``), token lists, dicts (``{"f": 1.5}`` or ``{"ns": ["tok", ...]}``),
    words when `ngram_range` is set (character n-grams of ``" " + word + " "``), or a
    scipy.sparse matrix whose columns are the features.

    Parameters
    ----------
    loss: "hinge" (default) or "logistic".
    learning_rate: "adaptive" (per-feature AdaGrad, default), "constant" or "invscaling".
    eta0: base step size. power_t: exponent of "invscaling" (eta0 / t**power_t).
    eta_floor: lower bound on the adaptive per-feature rate; > 0 keeps following drift.
    alpha: L2 strength, applied to the weights of the features present in each sample.
    average: predict with the average of the weights over all steps (averaged SGD); an int
    n > 1 starts averaging after n samples (as scikit-learn's `average=n`).
    fit_intercept: learn a bias per head.
    safe: clip each hinge step so that y·score moves at most to the margin 1 (as VW's
    importance-invariant hinge update); it makes large `eta0` harmless.
    bits: hashed table of 2**bits weights (ignored with `lookup`).
    lookup: exact growing feature table instead of hashing.
    cross: namespace pairs to cross, VW ``-q`` style, e.g. ``("ab",)``.
    ngram_range: (lo, hi) to featurise words into character n-grams.
    hash_seed: murmur3 seed (VW ``--hash_seed``). keep_names: remember feature names for
    :meth:`top_features`.
    max_iter: passes over the data in :meth:`fit`; shuffle/random_state: order of later passes.
    batch_size: samples featurised per chunk (bounds memory on long inputs).
    """

    def __init__(self, loss: str = "hinge", learning_rate: str = "adaptive", eta0: float = 0.2,
                 power_t: float = 0.5, eta_floor: float = 0.0, alpha: float = 0.0,
                 average: bool | int = False, fit_intercept: bool = True, safe: bool = True,
                 bits: int = 18,
                 lookup: bool = False, cross: Sequence[str] = (),
                 ngram_range: tuple[int, int] | None = None, hash_seed: int = 0,
                 keep_names: bool = True, max_iter: int = 1, shuffle: bool = True,
                 random_state: int | None = 0, batch_size: int = 16384) -> None:
        self.loss = loss
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.eta_floor = eta_floor
        self.alpha = alpha
        self.average = average
        self.fit_intercept = fit_intercept
        self.safe = safe
        self.bits = bits
        self.lookup = lookup
        self.cross = cross
        self.ngram_range = ngram_range
        self.hash_seed = hash_seed
        self.keep_names = keep_names
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.batch_size = batch_size

    # ------------------------------------------------------------------ validation

    def _check_params(self) -> None:
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {sorted(_LOSSES)}, got {self.loss!r}")
        if self.learning_rate not in _SCHEDULES:
            raise ValueError(
                f"learning_rate must be one of {sorted(_SCHEDULES)}, got {self.learning_rate!r}")
        if not (self.eta0 > 0):
            raise ValueError(f"eta0 must be > 0, got {self.eta0}")
        if self.alpha < 0 or self.eta_floor < 0 or self.power_t < 0:
            raise ValueError("alpha, eta_floor and power_t must be >= 0")
        if not isinstance(self.average, (bool, np.bool_)) and int(self.average) < 0:
            raise ValueError(f"average must be a bool or an int >= 0, got {self.average!r}")
        if int(self.max_iter) < 1 or int(self.batch_size) < 1:
            raise ValueError("max_iter and batch_size must be >= 1")

    def _init_state(self, classes: np.ndarray) -> None:
        self._check_params()
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(classes) < 2:
            raise ValueError(f"need at least two classes, got {classes.tolist()!r}")
        uniq = np.unique(classes)
        if len(uniq) != len(classes):
            raise ValueError("classes must be distinct")
        self.classes_ = uniq
        K = 1 if len(uniq) == 2 else len(uniq)
        self.featurizer_ = Featurizer(self.bits, self.lookup, self.cross, self.ngram_range,
                                      self.hash_seed, self.keep_names)
        self.input_kind_: str | None = None
        n0 = 0 if self.lookup else 2 ** int(self.bits)
        self._alloc(n0, K)
        self.t_ = np.zeros(1, np.int64)
        self.predict_only_ = False

    def _avg_start(self) -> int:
        """Samples after which averaging starts (0: from the first)."""
        a = self.average
        if isinstance(a, (bool, np.bool_)) or int(a) <= 1:
            return 0
        return int(a)

    def _alloc(self, n: int, K: int) -> None:
        self.weights_ = np.zeros((n, K), np.float32)
        adaptive = self.learning_rate == "adaptive"
        self.adagrad_ = np.zeros((n if adaptive else 0, K), np.float32)
        self.avg_acc_ = np.zeros((n if self.average else 0, K), np.float64)
        self.intercept_ = np.zeros(K, np.float64)
        self.adagrad_intercept_ = np.zeros(K, np.float64)
        self.avg_intercept_acc_ = np.zeros(K, np.float64)
        self._n_rows = n

    def _ensure_rows(self, n: int) -> None:
        """Grow the tables (lookup mode / sparse input) to at least `n` rows, zero-filled."""
        cur = self.weights_.shape[0]
        if n <= cur:
            return
        cap = max(n, 2 * cur, 1024)

        def grow(a: np.ndarray, used: bool = True) -> np.ndarray:
            if not used:
                return a
            b = np.zeros((cap, a.shape[1]), a.dtype)
            b[: a.shape[0]] = a
            return b

        self.weights_ = grow(self.weights_)
        self.adagrad_ = grow(self.adagrad_, self.learning_rate == "adaptive")
        self.avg_acc_ = grow(self.avg_acc_, bool(self.average))

    @property
    def n_features_(self) -> int:
        """Number of weight rows in use (2**bits when hashing, table size in lookup mode)."""
        if self.input_kind_ == "sparse":
            return self._n_rows
        return self.featurizer_.n_features

    def _featurize(self, X, grow: bool) -> SparseBatch:
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf":
            import scipy.sparse as sp

            X = sp.csr_matrix(X)  # a dense numeric matrix: its columns are the features
        if _is_sparse(X):
            kind = "sparse"
            X = X.tocsr()
            if not X.has_sorted_indices:
                X = X.sorted_indices()
            batch = SparseBatch(X.indptr.astype(np.int64), X.indices.astype(np.int64),
                                X.data.astype(np.float32))
            if grow:
                self._n_rows = max(self._n_rows, X.shape[1]) if self.input_kind_ else X.shape[1]
                self._ensure_rows(self._n_rows)
        else:
            kind = "features"
            if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
                raise TypeError("X must be a sequence of samples or a scipy.sparse matrix")
            batch = self.featurizer_.transform(X, grow=grow)
        if self.input_kind_ is None:
            if grow:
                self.input_kind_ = kind
        elif kind != self.input_kind_:
            raise ValueError(f"model was trained on {self.input_kind_} input, got {kind} input")
        return batch

    def _encode_labels(self, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        pos = np.searchsorted(self.classes_, y)
        pos = np.clip(pos, 0, len(self.classes_) - 1)
        bad = self.classes_[pos] != y
        if bad.any():
            unknown = np.unique(y[bad])[:5].tolist()
            raise ValueError(f"labels {unknown} are not in classes {self.classes_.tolist()}")
        return pos.astype(np.int64)

    # ------------------------------------------------------------------ training

    def progressive_fit(self, X, y, classes=None, sample_weight=None) -> Progressive:
        """Train on `X`, `y` in order, one sample at a time; return progressive validation.

        Each sample is scored before the model learns from it, so the returned predictions
        and losses are an honest held-out estimate over the whole stream (as VW's average
        loss; for multi-class the loss is summed over the one-vs-rest heads). `classes` is
        required on the first call, as in `partial_fit`.
        """
        if getattr(self, "predict_only_", False):
            raise ValueError("this model was exported predict-only; it cannot be trained further")
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            self._init_state(classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {list(classes)} differ from the first call's "
                             f"{self.classes_.tolist()}")
        self._check_params()
        n = len(y)
        if _is_sparse(X):
            if X.shape[0] != n:
                raise ValueError(f"X has {X.shape[0]} rows but y has {n} labels")
        elif len(X) != n:
            raise ValueError(f"X has {len(X)} samples but y has {n} labels")
        yk = self._encode_labels(y)
        sw = (np.ones(n) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64).reshape(-1))
        if len(sw) != n:
            raise ValueError("sample_weight must have one value per sample")
        if not np.all(np.isfinite(sw)) or (sw < 0).any():
            raise ValueError("sample_weight must be finite and >= 0")
        preds = np.empty(n, np.int64)
        losses = np.empty(n, np.float64)
        step = int(self.batch_size)
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            batch = self._featurize(X[lo:hi], grow=True)
            self._train_batch(batch, yk[lo:hi], sw[lo:hi], preds[lo:hi], losses[lo:hi])
        self._avg_cache = None
        return Progressive(self.classes_[preds], losses, np.asarray(y))

    def _train_batch(self, batch: SparseBatch, yk, sw, out_pred, out_loss) -> None:
        if batch.nnz and int(batch.indices.max()) >= self.weights_.shape[0]:
            if not self.lookup and self.input_kind_ != "sparse":  # pragma: no cover
                raise AssertionError("hashed index out of range")
            self._ensure_rows(int(batch.indices.max()) + 1)
        need = self.weights_.shape[0]
        if (self.learning_rate == "adaptive" and self.adagrad_.shape[0] < need) or (
                self.average and self.avg_acc_.shape[0] < need):  # pragma: no cover
            raise AssertionError("learner state is smaller than the weight table")
        if batch.nnz and int(batch.indices.min()) < 0:
            raise ValueError("negative feature index")
        if batch.nnz and not np.all(np.isfinite(batch.values)):
            raise ValueError("feature values must be finite")
        kernels.train_kernel(
            batch.indptr, batch.indices, batch.values, yk, sw, self.weights_, self.adagrad_,
            self.avg_acc_, self.intercept_, self.adagrad_intercept_, self.avg_intercept_acc_,
            self.t_, _LOSSES[self.loss], _SCHEDULES[self.learning_rate], float(self.eta0),
            float(self.power_t), float(self.eta_floor), float(self.alpha), bool(self.average),
            self._avg_start(),
            bool(self.fit_intercept), bool(self.safe), out_pred, out_loss)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> OnlineLinearClassifier:
        """Learn from one more chunk of the stream (`classes` on the first call)."""
        self.progressive_fit(X, y, classes=classes, sample_weight=sample_weight)
        return self

    def fit(self, X, y, sample_weight=None) -> OnlineLinearClassifier:
        """Forget earlier training; make `max_iter` passes (later passes shuffled)."""
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)
        y = np.asarray(y)
        self._init_state(np.unique(y))
        n = len(y)
        if (X.shape[0] if _is_sparse(X) else len(X)) != n:
            raise ValueError("X and y have different lengths")
        yk = self._encode_labels(y)
        sw = (np.ones(n) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64).reshape(-1))
        if len(sw) != n or not np.all(np.isfinite(sw)) or (sw < 0).any():
            raise ValueError("sample_weight must have one finite value >= 0 per sample")
        batch = self._featurize(X, grow=True)
        rng = np.random.default_rng(self.random_state)
        preds = np.empty(n, np.int64)
        losses = np.empty(n, np.float64)
        for epoch in range(int(self.max_iter)):
            if epoch > 0 and self.shuffle:
                order = rng.permutation(n)
                b = _take_rows(batch, order)
                self._train_batch(b, yk[order], sw[order], preds, losses)
            else:
                self._train_batch(batch, yk, sw, preds, losses)
        self._avg_cache = None
        return self

    # ------------------------------------------------------------------ prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError("this OnlineLinearClassifier is not fitted yet; call fit or "
                                 "partial_fit first")

    def _predict_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights used for prediction: the running average when `average`."""
        if not self.average or getattr(self, "predict_only_", False):
            return self.weights_, self.intercept_
        t = int(self.t_[0])
        cache = getattr(self, "_avg_cache", None)
        if cache is not None and cache[0] == t:
            return cache[1], cache[2]
        span = t - self._avg_start()
        if span <= 0:
            return self.weights_, self.intercept_
        W = (self.weights_ + self.avg_acc_ / span).astype(np.float32)
        b = self.intercept_ + self.avg_intercept_acc_ / span
        self._avg_cache = (t, W, b)
        return W, b

    def decision_function(self, X) -> np.ndarray:
        """Scores: shape (n,) for binary (positive means classes_[1]), (n, K) otherwise."""
        self._check_fitted()
        W, b = self._predict_weights()
        scores = np.empty((0, W.shape[1]))
        parts = []
        n = X.shape[0] if _is_sparse(X) else len(X)
        step = int(self.batch_size) * 4
        for lo in range(0, n, step):
            batch = self._featurize(X[lo:lo + step], grow=False)
            parts.append(kernels.predict_kernel(batch.indptr, batch.indices, batch.values, W, b))
        scores = np.concatenate(parts) if parts else scores
        return scores[:, 0] if W.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        """Predicted class labels."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (logistic loss only): sigmoid per head, normalised for OvR."""
        if self.loss == "hinge":
            raise AttributeError("predict_proba needs loss='logistic'; hinge gives no "
                                 "probabilities (use decision_function)")
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-scores))
            return np.column_stack([1 - p, p])
        p = 1.0 / (1.0 + np.exp(-scores))
        return p / p.sum(axis=1, keepdims=True)

    @property
    def coef_(self) -> np.ndarray:
        """Weights as (K, n_features), scikit-learn's layout (averaged when `average`)."""
        self._check_fitted()
        return self._predict_weights()[0][: self.n_features_].T

    def top_features(self, k: int = 20, label=None) -> list[tuple[str, float]]:
        """Top `k` features by name: those pushing hardest towards `label` (largest signed
        weight for its head), or with the largest |weight| for a binary model without a label."""
        self._check_fitted()
        W, _ = self._predict_weights()
        W = W[: self.n_features_]
        if W.shape[1] == 1:
            col = W[:, 0]
            if label is not None and label == self.classes_[0]:
                col = -col
        else:
            if label is None:
                raise ValueError("give label=... for a multi-class model")
            hit = np.flatnonzero(self.classes_ == label)
            if len(hit) == 0:
                raise ValueError(f"unknown label {label!r}")
            col = W[:, hit[0]]
        # with a label: the features pushing hardest towards it; without: largest |weight|
        key = -col if label is not None else -np.abs(col)
        order = np.argsort(key, kind="stable")[: int(k)]
        names = self.featurizer_.names if self.input_kind_ != "sparse" else {}
        return [(names.get(int(i), f"#{int(i)}"), float(col[i])) for i in order if col[i] != 0]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike, predict_only: bool = False) -> None:
        """Write the model as one safetensors file with a JSON config in its header.

        The full file holds the learner state (AdaGrad sums, averaging accumulators, step
        count, lookup table), so `load` + `partial_fit` continues bit-identically. With
        `predict_only` it keeps only the prediction weights (averaged when `average`).
        """
        from safetensors.numpy import save_file

        self._check_fitted()
        n = self.n_features_
        f = self.featurizer_
        tensors: dict[str, np.ndarray] = {}
        if predict_only:
            W, b = self._predict_weights()
            tensors["weights"] = np.ascontiguousarray(W[:n])
            tensors["intercept"] = np.asarray(b, np.float64)
        else:
            tensors["weights"] = np.ascontiguousarray(self.weights_[:n])
            tensors["intercept"] = self.intercept_
            tensors["adagrad_intercept"] = self.adagrad_intercept_
            tensors["avg_intercept_acc"] = self.avg_intercept_acc_
            if self.adagrad_.shape[0]:
                tensors["adagrad"] = np.ascontiguousarray(self.adagrad_[:n])
            if self.avg_acc_.shape[0]:
                tensors["avg_acc"] = np.ascontiguousarray(self.avg_acc_[:n])
            if f._named.shape[0]:
                tensors["named_bits"] = np.packbits(f._named)
        if f.lookup and self.input_kind_ != "sparse":
            keys = np.fromiter(f.table.keys(), np.int64, len(f.table))
            ids = np.fromiter(f.table.values(), np.int64, len(f.table))
            tensors["lookup_keys"] = keys
            tensors["lookup_ids"] = ids
        if f._name_chunks and self.input_kind_ != "sparse":
            ids, offsets, raw = f.name_arrays()
            tensors["name_ids"] = ids
            tensors["name_offsets"] = offsets
            tensors["name_bytes"] = raw if len(raw) else np.zeros(1, np.uint8)
        classes = self.classes_
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": {k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in self.get_params().items()},
            "classes": classes.tolist(),
            "classes_dtype": classes.dtype.str if classes.dtype.kind != "O" else "str",
            "t": int(self.t_[0]),
            "input_kind": self.input_kind_,
            "n_features": int(n),
            "predict_only": bool(predict_only or getattr(self, "predict_only_", False)),
        }
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"vecsmith.linear": json.dumps(config)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> OnlineLinearClassifier:
        """Read a model written by :meth:`save` (validated; no code is executed)."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise LinearModelFormatError(f"{path}: not a safetensors file ({exc})") from exc
        if "vecsmith.linear" not in meta:
            raise LinearModelFormatError(f"{path}: not a vecsmith.linear model (no config)")
        try:
            config = json.loads(meta["vecsmith.linear"])
        except json.JSONDecodeError as exc:
            raise LinearModelFormatError(f"{path}: config is not JSON ({exc})") from exc
        if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
            raise LinearModelFormatError(
                f"{path}: format {config.get('format')!r} v{config.get('version')!r}, "
                f"expected {FORMAT} v{FORMAT_VERSION}")
        params = dict(config["params"])
        for key in ("cross", "ngram_range"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        try:
            model = cls(**params)
            model._check_params()
        except (TypeError, ValueError) as exc:
            raise LinearModelFormatError(f"{path}: bad parameters ({exc})") from exc
        cdt = config["classes_dtype"]
        classes = np.asarray(config["classes"], dtype=None if cdt == "str" else np.dtype(cdt))
        n = int(config["n_features"])
        W = tensors.get("weights")
        if W is None or W.ndim != 2 or W.shape[0] != n or W.dtype != np.float32:
            raise LinearModelFormatError(f"{path}: weights missing or not ({n}, K) float32")
        K = 1 if len(classes) == 2 else len(classes)
        if W.shape[1] != K:
            raise LinearModelFormatError(f"{path}: weights have {W.shape[1]} heads, expected {K}")
        model._init_state(classes)
        model.input_kind_ = config["input_kind"]
        model.predict_only_ = bool(config["predict_only"])
        rows = n if (model.lookup or model.input_kind_ == "sparse") else 2 ** int(model.bits)
        if rows != n:
            raise LinearModelFormatError(f"{path}: {n} weight rows, expected {rows}")
        model.weights_ = W.copy()
        model._n_rows = n

        def vec(name: str, shape, dtype) -> np.ndarray:
            a = tensors.get(name)
            if a is None or a.shape != shape or a.dtype != dtype:
                raise LinearModelFormatError(f"{path}: tensor {name!r} missing or not "
                                             f"{shape} {np.dtype(dtype)}")
            return a.copy()

        model.intercept_ = vec("intercept", (K,), np.float64)
        if not model.predict_only_:
            model.adagrad_intercept_ = vec("adagrad_intercept", (K,), np.float64)
            model.avg_intercept_acc_ = vec("avg_intercept_acc", (K,), np.float64)
            model.adagrad_ = (vec("adagrad", (n, K), np.float32)
                              if model.learning_rate == "adaptive" else np.zeros((0, K), np.float32))
            model.avg_acc_ = (vec("avg_acc", (n, K), np.float64)
                              if model.average else np.zeros((0, K), np.float64))
        else:
            model.adagrad_ = np.zeros((0, K), np.float32)
            model.avg_acc_ = np.zeros((0, K), np.float64)
        model.t_ = np.array([int(config["t"])], np.int64)
        f = model.featurizer_
        if model.lookup and model.input_kind_ != "sparse":
            keys = tensors.get("lookup_keys")
            ids = tensors.get("lookup_ids")
            if keys is None or ids is None or keys.shape != ids.shape or len(keys) != n:
                raise LinearModelFormatError(f"{path}: lookup table missing or not {n} entries")
            if len(ids) and (ids.min() < 0 or ids.max() >= n or len(np.unique(ids)) != n):
                raise LinearModelFormatError(f"{path}: lookup ids are not 0..{n - 1}")
            f.table = new_table()
            _fill_table(f.table, keys.astype(np.int64), ids.astype(np.int64))
        if "named_bits" in tensors and f._named.shape[0]:
            bits = np.unpackbits(tensors["named_bits"])[: f._named.shape[0]]
            if len(bits) != f._named.shape[0]:
                raise LinearModelFormatError(f"{path}: named_bits has the wrong size")
            f._named = bits.astype(np.bool_)
        if "name_ids" in tensors:
            ids = tensors["name_ids"]
            off = tensors.get("name_offsets")
            raw = tensors.get("name_bytes")
            if off is None or raw is None or len(off) != len(ids) + 1 or (
                    len(off) and (off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] > len(raw))):
                raise LinearModelFormatError(f"{path}: feature names are malformed")
            if ids.dtype != np.int64 or raw.dtype != np.uint8 or off.dtype != np.int64:
                raise LinearModelFormatError(f"{path}: feature names have the wrong dtypes")
            f.add_names(ids.copy(), off.copy(), raw.copy())
            if f._named.shape[0] and "named_bits" not in tensors:
                f._named[ids[(ids >= 0) & (ids < f._named.shape[0])]] = True
        model._avg_cache = None
        return model


def _fill_table(table, keys: np.ndarray, ids: np.ndarray) -> None:
    from .features import _fill_table_kernel

    _fill_table_kernel(table, keys, ids)


def _take_rows(batch: SparseBatch, order: np.ndarray) -> SparseBatch:
    """Rows of a CSR batch in `order` (vectorised)."""
    lens = np.diff(batch.indptr)[order]
    indptr = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lens, out=indptr[1:])
    starts = batch.indptr[:-1][order]
    idx = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1])
    return SparseBatch(indptr, batch.indices[idx], batch.values[idx])
