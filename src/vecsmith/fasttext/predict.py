"""Label prediction for supervised models: many lines in one compiled call.

`CompiledPredictor.predict(texts, k, threshold)` returns what the official module's
`predict` returns for a list: ``(labels, probs)`` with ``labels[i]`` the list of label strings
of ``texts[i]`` (best first) and ``probs[i]`` a float64 array of their probabilities; a single
string gives ``(tuple_of_labels, probs)``. The whole batch is one numba call per thread (see
`_predict_kernels`), so a stream is best fed in chunks of a few thousand lines.

Probabilities come back as the official module returns them: `exp(log(p + 1e-5))`, so a
certain prediction reads 1.00001; one-vs-all / negative-sampling models use fastText's
512-entry sigmoid table rather than an exact sigmoid. Labels with exactly equal scores come in
the official order (libstdc++'s heap order, reproduced step by step).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vecsmith._batch import DEFAULT_ERRORS
from vecsmith.fasttext.format import DenseMatrix, ModelFile, QuantMatrix

HIERARCHICAL_SOFTMAX = 1  # fastText's loss enum (args.h): hs, ns, softmax, ova = 1..4
SIGMOID_TABLE_SIZE = 512
MAX_SIGMOID = 8
CORES = os.cpu_count() or 1
THREAD_CHUNK = 2048  # lines per thread below which one thread is faster (measured: ~4 us/line)


def huffman_tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`HierarchicalSoftmaxLoss::buildTree` over the label counts: (left, right) child arrays
    of the 2n - 1 nodes (-1 for leaves); leaf i is label i, the root is node 2n - 2."""
    counts = np.asarray(counts, dtype=np.int64)
    osz = len(counts)
    n = max(2 * osz - 1, 0)
    left = np.full(n, -1, np.int64)
    right = np.full(n, -1, np.int64)
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
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


def matrix_args(m: DenseMatrix | QuantMatrix) -> tuple:
    """A matrix as the kernels take it: (quant, dense, codes, centroids, nsubq, dsub,
    lastdsub, norm_codes, norm_centroids, qnorm), placeholders for the unused kind."""
    empty_u8 = np.zeros((1, 1), np.uint8)
    empty_f = np.zeros(1, np.float32)
    if isinstance(m, DenseMatrix):
        return (False, m.data, empty_u8, empty_f, 1, 1, 1, np.zeros(1, np.uint8), empty_f, False)
    nc = m.norm_codes if m.qnorm else np.zeros(1, np.uint8)
    ncent = m.npq.centroids if m.qnorm else empty_f
    return (True, np.zeros((1, 1), np.float32), m.codes, m.pq.centroids, m.pq.nsubq, m.pq.dsub,
            m.pq.lastdsub, nc, ncent, bool(m.qnorm))


def encode_lines(texts: Sequence[str | bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Texts as one newline-separated UTF-8 buffer and the end of each line (surrogates from
    `surrogateescape` map back to their bytes). Raises ValueError for a text with a newline,
    as the official `predict` does."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    if n == 1:  # one line: no scan for line ends (keeps single-text calls cheap)
        t = texts[0]
        raw = t if isinstance(t, bytes) else t.encode("utf-8", DEFAULT_ERRORS)
        if b"\n" in raw:
            raise ValueError("predict processes one line at a time (remove '\\n')")
        return np.frombuffer(raw, np.uint8), np.array([len(raw)], np.int64)
    data = None
    if isinstance(texts, list):
        try:
            data = "\n".join(texts).encode("utf-8", DEFAULT_ERRORS)  # one C call when all str
        except TypeError:
            data = None
    if data is None:
        data = b"\n".join(t if isinstance(t, bytes) else t.encode("utf-8", DEFAULT_ERRORS)
                          for t in texts)
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(ends) != n - 1:
        raise ValueError("predict processes one line at a time (remove '\\n')")
    return buf, np.append(ends, len(buf)).astype(np.int64)


class CompiledPredictor:
    """A supervised model's dictionary, input and output matrices, as the kernels read them."""

    def __init__(self, model: ModelFile, table: tuple, eos_ngrams: bool):
        from vecsmith.fasttext import _predict_kernels as kernels

        self._kernels = kernels
        a, d = model.args, model.dictionary
        self.nlabels = d.nlabels
        self.loss = a.loss
        if a.loss == HIERARCHICAL_SOFTMAX:
            self.left, self.right = huffman_tree(d.counts[d.nwords :])
        else:
            self.left = self.right = np.zeros(1, np.int64)
        prune_table, shift = kernels.build_prune_table(
            np.asarray(d.prune_keys, np.int32), np.asarray(d.prune_values, np.int32))
        inp = model.input
        nrows = inp.codes.shape[0] if isinstance(inp, QuantMatrix) else inp.data.shape[0]
        word_offsets, word_rows = kernels.word_rows_table(
            d.blob, d.offsets, d.nwords, a.minn, a.maxn, a.bucket, d.pruneidx_size, prune_table,
            shift, bool(eos_ngrams), nrows)
        self._args = (
            np.frombuffer(b"</s>", np.uint8), np.frombuffer(b"__label__", np.uint8),
            d.blob, d.offsets, table, d.types, word_offsets, word_rows, d.nwords, a.minn, a.maxn, a.bucket,
            d.pruneidx_size, prune_table, shift, bool(eos_ngrams), a.word_ngrams,
            *matrix_args(model.input), a.loss, sigmoid_table(), self.left, self.right,
            *matrix_args(model.output))

    def predict_ids(self, texts: Sequence[str | bytes], k: int, threshold: float = 0.0,
                    threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, probs, counts): row i holds counts[i] label ids and probabilities."""
        if k == -1:
            k = self.nlabels
        if k <= 0:
            raise ValueError("k needs to be 1 or higher!")
        k = min(int(k), max(self.nlabels, 1))
        buf, ends = encode_lines(texts)
        n = len(ends)
        ids = np.zeros((n, k), np.int32)
        probs = np.zeros((n, k), np.float64)
        counts = np.zeros(n, np.int64)
        status = np.zeros(n, np.int8)

        def run(lo: int, hi: int) -> None:
            self._kernels.predict_lines(buf, ends, lo, hi, k, float(threshold), ids, probs,
                                        counts, status, *self._args)

        workers = CORES if threads is None else int(threads)
        if workers <= 1 or n < 2 * THREAD_CHUNK:
            run(0, n)
        else:
            workers = min(workers, n // THREAD_CHUNK)
            bounds = np.linspace(0, n, workers * 4 + 1).astype(np.int64)
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda j: run(bounds[j], bounds[j + 1]), range(len(bounds) - 1)))
        if status.any():
            bad = np.flatnonzero(status)
            raise ValueError(f"text {int(bad[0])}: the model's output is NaN (non-finite "
                             "weights); the official code raises EncounteredNaNError here")
        return ids, probs, counts

    def _predict_one(self, text: str | bytes, k: int, threshold: float,
                     labels: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
        """One line, with no more Python around the kernel than it needs (a few us)."""
        if k == -1:
            k = self.nlabels
        if k <= 0:
            raise ValueError("k needs to be 1 or higher!")
        k = min(int(k), max(self.nlabels, 1))
        raw = text if isinstance(text, bytes) else text.encode("utf-8", DEFAULT_ERRORS)
        if b"\n" in raw:
            raise ValueError("predict processes one line at a time (remove '\\n')")
        ids = np.zeros((1, k), np.int32)
        probs = np.zeros((1, k), np.float64)
        counts = np.zeros(1, np.int64)
        status = np.zeros(1, np.int8)
        self._kernels.predict_lines(np.frombuffer(raw, np.uint8), np.array([len(raw)]), 0, 1, k,
                                    float(threshold), ids, probs, counts, status, *self._args)
        if status[0]:
            raise ValueError("text 0: the model's output is NaN (non-finite weights); the "
                             "official code raises EncounteredNaNError here")
        c = int(counts[0])
        return tuple([labels[i] for i in ids[0, :c].tolist()]), probs[0, :c]

    def _label_array(self, labels: Sequence[str]) -> np.ndarray:
        """Labels as an object array (indexed by id arrays in one step), kept per list."""
        cached = getattr(self, "_names", None)
        if cached is None or cached[0] is not labels:
            names = np.empty(len(labels), dtype=object)
            names[:] = labels
            self._names = cached = (labels, names)
        return cached[1]

    def predict(self, text: str | bytes | Sequence[str | bytes], k: int, threshold: float,
                labels: Sequence[str], threads: int | None = None):
        """The official return shapes: one text -> (tuple of labels, probs); a list ->
        ([labels of each text], [probs of each text]), labels best first."""
        if isinstance(text, (str, bytes)):
            return self._predict_one(text, k, threshold, labels)
        ids, probs, counts = self.predict_ids(text, k, threshold, threads)
        names = self._label_array(labels)
        out_labels = names[ids].tolist() if len(ids) else []
        out_probs = list(probs)
        for i in np.flatnonzero(counts != ids.shape[1]).tolist():
            c = int(counts[i])
            out_labels[i] = out_labels[i][:c]
            out_probs[i] = probs[i, :c]
        return out_labels, out_probs


def sigmoid_table() -> np.ndarray:
    """`Loss::t_sigmoid_`: 1 / (1 + expf(-x)) in double, stored as float, x on a 513-point grid."""
    from vecsmith.fasttext._predict_kernels import sigmoid_table_kernel

    return sigmoid_table_kernel(SIGMOID_TABLE_SIZE, MAX_SIGMOID)
