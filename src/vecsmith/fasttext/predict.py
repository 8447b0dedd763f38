"""Label prediction for supervised models, loss by loss, as `fasttext/src/loss.cc` computes it.

Probabilities come back as the official module returns them: `exp(log(p + 1e-5))`, so a
certain prediction reads 1.00001, and one-vs-all / negative-sampling models use fastText's
512-entry sigmoid table rather than an exact sigmoid.
"""

from __future__ import annotations

import heapq

import numpy as np

SIGMOID_TABLE_SIZE = 512
MAX_SIGMOID = 8


def _sigmoid_table() -> np.ndarray:
    i = np.arange(SIGMOID_TABLE_SIZE + 1, dtype=np.float64)
    x = (i * 2 * MAX_SIGMOID).astype(np.float32) / np.float32(SIGMOID_TABLE_SIZE) - MAX_SIGMOID
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


_SIGMOID = _sigmoid_table()


def table_sigmoid(x: np.ndarray) -> np.ndarray:
    """`Loss::sigmoid`: 0 below -8, 1 above 8, else a table look-up (truncating index)."""
    x = np.asarray(x, dtype=np.float32)
    idx = ((x + np.float32(MAX_SIGMOID)) * np.float32(SIGMOID_TABLE_SIZE) / np.float32(MAX_SIGMOID)
           / np.float32(2)).astype(np.float32)
    idx = np.clip(idx, 0, SIGMOID_TABLE_SIZE).astype(np.int64)
    out = _SIGMOID[idx]
    out = np.where(x < -MAX_SIGMOID, np.float32(0.0), out)
    return np.where(x > MAX_SIGMOID, np.float32(1.0), out).astype(np.float32)


def std_log(p: np.ndarray | float) -> np.ndarray:
    """`std_log`: log(p + 1e-5) in double, stored as float."""
    return np.log(np.asarray(p, dtype=np.float32).astype(np.float64) + 1e-5).astype(np.float32)


class Predictor:
    """Scores labels from a hidden vector with the model's loss (hs, ns, softmax, ova)."""

    def __init__(self, loss: int, output: np.ndarray, label_counts: np.ndarray):
        self.loss = loss
        self.wo = np.asarray(output, dtype=np.float32)
        self.osz = self.wo.shape[0]
        if loss == 1:
            self._build_tree(np.asarray(label_counts, dtype=np.int64))

    def predict(self, hidden: np.ndarray, k: int, threshold: float) -> tuple[list[int], np.ndarray]:
        if self.osz == 0:
            return [], np.zeros(0)
        if self.loss == 1:
            pairs = self._hs_predict(hidden, k, threshold)
        else:
            pairs = self._flat_predict(self._output(hidden), k, threshold)
        ids = [i for _, i in pairs]
        scores = np.array([s for s, _ in pairs], dtype=np.float32)
        return ids, np.exp(scores).astype(np.float64)

    def _output(self, hidden: np.ndarray) -> np.ndarray:
        logits = (self.wo @ hidden).astype(np.float32)
        if self.loss == 3:  # softmax
            e = np.exp(logits - logits.max(), dtype=np.float32)
            return (e / e.sum(dtype=np.float32)).astype(np.float32)
        return table_sigmoid(logits)  # ns and ova: independent binary logistic scores

    @staticmethod
    def _flat_predict(output: np.ndarray, k: int, threshold: float) -> list[tuple[float, int]]:
        keep = np.flatnonzero(output >= np.float32(threshold))
        scores = std_log(output[keep])
        order = np.lexsort((keep, -scores))[:k]
        return [(float(scores[j]), int(keep[j])) for j in order]

    # hierarchical softmax: the Huffman tree over label counts, exactly as buildTree.
    def _build_tree(self, counts: np.ndarray) -> None:
        osz = self.osz
        n = 2 * osz - 1
        self.left = np.full(n, -1, np.int64)
        self.right = np.full(n, -1, np.int64)
        count = np.full(n, int(1e15), np.int64)
        count[:osz] = counts
        leaf, node = osz - 1, osz
        for i in range(osz, n):
            mini = [0, 0]
            for j in range(2):
                if leaf >= 0 and count[leaf] < count[node]:
                    mini[j] = leaf
                    leaf -= 1
                else:
                    mini[j] = node
                    node += 1
            if max(mini) >= i:  # only possible with corrupt counts; would make a cycle
                raise ValueError("label counts do not form a Huffman tree (corrupt model?)")
            self.left[i], self.right[i] = mini
            count[i] = count[mini[0]] + count[mini[1]]

    def _hs_predict(self, hidden: np.ndarray, k: int, threshold: float) -> list[tuple[float, int]]:
        osz = self.osz
        log_threshold = float(std_log(threshold))
        logits = (self.wo @ hidden).astype(np.float32)
        # f = 1/(1+exp(-x)) in double, stored as float; log terms in double, stored as float.
        f = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
        log_right = std_log(f)
        log_left = std_log(np.float32(1.0) - f)
        heap: list[tuple[float, int]] = []  # min-heap of (score, label)
        stack = [(2 * osz - 2, np.float32(0.0))]
        while stack:
            node, score = stack.pop()
            if score < log_threshold:
                continue
            if len(heap) == k and score < heap[0][0]:
                continue
            if self.left[node] == -1 and self.right[node] == -1:
                heapq.heappush(heap, (float(score), int(node)))
                if len(heap) > k:
                    heapq.heappop(heap)
                continue
            j = node - osz
            # fastText visits left before right; a stack pops the last pushed first.
            stack.append((int(self.right[node]), np.float32(score + log_right[j])))
            stack.append((int(self.left[node]), np.float32(score + log_left[j])))
        return sorted(heap, key=lambda p: (-p[0], p[1]))
