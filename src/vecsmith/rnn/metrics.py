"""Classification metrics: accuracy, per-class and macro precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class ClassificationReport:
    """Scores of predictions against gold labels; ``confusion[i, j]`` counts gold i predicted j.

    A class never predicted has precision 0 (and never present, recall 0), as
    scikit-learn's ``zero_division=0`` does; macro scores average over all `labels`.
    """

    labels: list[str]
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    @property
    def macro_precision(self) -> float:
        return float(self.precision.mean())

    @property
    def macro_recall(self) -> float:
        return float(self.recall.mean())

    @property
    def macro_f1(self) -> float:
        return float(self.f1.mean())

    def to_dict(self) -> dict:
        return {
            "n": self.n, "accuracy": self.accuracy, "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall, "macro_f1": self.macro_f1,
            "per_class": {lab: {"precision": float(p), "recall": float(r), "f1": float(f),
                                "support": int(s)}
                          for lab, p, r, f, s in zip(self.labels, self.precision, self.recall,
                                                     self.f1, self.support, strict=True)},
            "labels": list(self.labels), "confusion": self.confusion.tolist(),
        }


def classification_report(gold: Sequence[str], predicted: Sequence[str],
                          labels: Sequence[str] | None = None) -> ClassificationReport:
    """Score `predicted` against `gold`; `labels` fixes the class order (default: sorted union)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if labels is None:
        labels = sorted(set(gold) | set(predicted))
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = (set(gold) | set(predicted)) - set(index)
    if unknown:
        raise ValueError(f"labels not in the label set: {sorted(unknown)[:5]}")
    k = len(labels)
    g = np.fromiter((index[x] for x in gold), dtype=np.int64, count=len(gold))
    p = np.fromiter((index[x] for x in predicted), dtype=np.int64, count=len(predicted))
    confusion = np.bincount(g * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(np.float64)
    pred_count = confusion.sum(0)
    support = confusion.sum(1)
    precision = np.divide(tp, pred_count, out=np.zeros(k), where=pred_count > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    return ClassificationReport(labels, confusion, precision, recall, f1, support)
