"""`OnlineLinearClassifier`: a linear SVM (or logistic model) learned one sample at a time.

It follows the scikit-learn estimator contract (`__init__` stores hyperparameters, learned
state ends with ``_``, `fit`/`partial_fit`/`predict`/`decision_function`/`score`, works with
`sklearn.base.clone`) and reads sparse features the way Vowpal Wabbit does: hashed or looked
up, with namespaces, cross features and feature values. The per-sample update and the batch
prediction are numba kernels (see :mod:`vecsmith.linear.kernels` for the exact formulas).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import serialize
from ._lazy import missing, sgd_kernels
from .constants import LOSSES, SCHEDULES
from .features import Featurizer, SparseBatch
from .serialize import LinearModelFormatError

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # scikit-learn is in the 'linear' extra
    raise missing(exc, "OnlineLinearClassifier") from exc

__all__ = ["LinearModelFormatError", "NotFittedError", "OnlineLinearClassifier", "Progressive"]


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
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.learning_rate not in SCHEDULES:
            raise ValueError(
                f"learning_rate must be one of {sorted(SCHEDULES)}, got {self.learning_rate!r}")
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
        sgd_kernels().train_kernel(
            batch.indptr, batch.indices, batch.values, yk, sw, self.weights_, self.adagrad_,
            self.avg_acc_, self.intercept_, self.adagrad_intercept_, self.avg_intercept_acc_,
            self.t_, int(LOSSES[self.loss]), int(SCHEDULES[self.learning_rate]), float(self.eta0),
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
        check_is_fitted(self, "classes_")

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
            parts.append(sgd_kernels().predict_kernel(batch.indptr, batch.indices, batch.values, W, b))
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
        See :mod:`vecsmith.linear.serialize` for the layout.
        """
        self._check_fitted()
        serialize.save_model(self, path, predict_only)

    @classmethod
    def load(cls, path: str | os.PathLike) -> OnlineLinearClassifier:
        """Read a model written by :meth:`save`: every size, setting and value is checked
        first (LinearModelFormatError otherwise; non-finite weights are refused)."""
        return serialize.load_model(cls, path)


def _take_rows(batch: SparseBatch, order: np.ndarray) -> SparseBatch:
    """Rows of a CSR batch in `order` (vectorised)."""
    lens = np.diff(batch.indptr)[order]
    indptr = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lens, out=indptr[1:])
    starts = batch.indptr[:-1][order]
    idx = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1])
    return SparseBatch(indptr, batch.indices[idx], batch.values[idx])
