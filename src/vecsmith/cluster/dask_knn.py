"""Cosine kNN search on a Dask cluster: tasks read their own rows from shared storage.

Exact: one task per row block of ``block_size`` rows scans every column block with the same
tiles, compiled top-k scans and visiting order as the single-process search, so its lists are
equal to ``knn_search(X, k, backend="numpy")`` bit for bit: for a block ``b`` before the row
block ``a`` the task computes the tile ``X[b] X[a]ᵀ`` exactly as the single process does and
scans it by columns, for ``b >= a`` it computes ``X[a] X[b]ᵀ`` and scans it by rows. (The
single process computes each off-diagonal tile once for two row blocks; here both row blocks
compute it, twice the multiply work, no data exchanged between tasks.)

Approximate: a faiss IVF index (``"IVF{nlist},Flat"``, ``",SQ8"`` or ``",PQ{m}"``) is trained
on a random sample, filled in parts by tasks, merged, written to shared storage, and every
query block's task searches it and re-ranks the candidates with exact float32 similarities.
Recall@k against exact search is measured on a sample of rows.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import time
from dataclasses import dataclass

import numpy as np

from vecsmith._deps import require
from vecsmith.cluster._dask import check_client
from vecsmith.cluster.sources import VectorSource, open_source

__all__ = ["DaskKnn", "knn_search_dask"]


@dataclass
class DaskKnn:
    """Neighbour lists of every row, plus how they were found."""

    indices: np.ndarray
    similarities: np.ndarray
    method: str
    seconds: float
    recall: float | None = None  # recall@k against exact search on a sample (approximate)
    recall_sample: int = 0


def _normalised(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows divided by their norms exactly as the single-process search divides them; all-zero
    rows stay zero and are reported so they can be masked out."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1)
    zero = ~(norms > 0)
    out = np.zeros_like(X)
    np.divide(X, norms[:, None], out=out, where=~zero[:, None])
    return np.ascontiguousarray(out), zero


def _product():
    """``A @ B.T`` with the library the single-process tiles use (torch when importable)."""
    try:
        import torch
    except ImportError:
        return lambda A, B: A @ B.T

    def mm(A, B):
        return torch.mm(torch.from_numpy(A), torch.from_numpy(B).T).numpy()

    return mm


def _exact_rows(src: VectorSource, arr, a0: int, a1: int, k: int, block: int):
    """Top-k lists of rows a0..a1-1 against all rows (one task)."""
    from vecsmith.cluster.knn import _kernels

    scan_rows, scan_cols = _kernels()
    prod = _product()
    A, za = _normalised(src.read(a0, a1, arr))
    bs = np.full((a1 - a0, k), -np.inf, dtype=np.float32)
    bi = np.full((a1 - a0, k), -1, dtype=np.int64)
    for b0 in range(0, src.n, block):
        b1 = min(b0 + block, src.n)
        Bm, zb = (A, za) if b0 == a0 else _normalised(src.read(b0, b1, arr))
        if b0 < a0:
            tile = prod(Bm, A)
            tile[zb, :] = -np.inf
            tile[:, za] = -np.inf
            scan_cols(tile, b0, a0, bs, bi, a0)
        else:
            tile = prod(A, Bm)
            tile[za, :] = -np.inf
            tile[:, zb] = -np.inf
            scan_rows(tile, a0, b0, bs, bi, a0)
    return bi, bs


# ----------------------------------------------------------------------------- approximate

def _sample_rows(src: VectorSource, arr, ids: np.ndarray) -> np.ndarray:
    X, zero = _normalised(src.read_at(ids, arr))
    return X[~zero]


def _train(sample: np.ndarray, factory: str) -> np.ndarray:
    faiss = require("faiss", "the approximate kNN search")
    index = faiss.index_factory(sample.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    return faiss.serialize_index(index)


def _write_index(index, path: str) -> None:
    faiss = require("faiss", "the approximate kNN search")
    tmp = f"{path}.tmp-{os.getpid()}"
    faiss.write_index(index, tmp)
    os.replace(tmp, path)  # a retried task never leaves half an index behind


def _fill_part(src: VectorSource, arr, lo: int, hi: int, trained: np.ndarray, path: str,
               chunk: int = 65536) -> str:
    faiss = require("faiss", "the approximate kNN search")
    index = faiss.deserialize_index(trained)
    for s in range(lo, hi, chunk):
        X, zero = _normalised(src.read(s, min(s + chunk, hi), arr))
        ids = np.arange(s, min(s + chunk, hi), dtype=np.int64)[~zero]
        index.add_with_ids(X[~zero], ids)
    _write_index(index, path)
    return path


def _merge_parts(paths: list[str], out: str) -> str:
    faiss = require("faiss", "the approximate kNN search")
    index = faiss.read_index(paths[0])
    for p in paths[1:]:
        index.merge_from(faiss.read_index(p), 0)
    _write_index(index, out)
    return out


@functools.lru_cache(maxsize=1)
def _load_index(path: str, nprobe: int):
    faiss = require("faiss", "the approximate kNN search")
    index = faiss.read_index(path)
    faiss.extract_index_ivf(index).nprobe = nprobe
    return index


def _topk_exact(cand: np.ndarray, sims: np.ndarray, k: int):
    """Per row: the k best (similarity desc, index asc) of candidate lists (-1 = none)."""
    sims = np.where(cand >= 0, sims, -np.inf)
    big = np.iinfo(np.int64).max
    order = np.lexsort((np.where(cand >= 0, cand, big), -sims), axis=1)
    idx = np.take_along_axis(cand, order, 1)[:, :k]
    val = np.take_along_axis(sims, order, 1)[:, :k]
    idx = np.where(np.isfinite(val), idx, -1)
    return idx, val.astype(np.float32)


def _query_block(src: VectorSource, arr, a0: int, a1: int, index_path: str, k: int,
                 nprobe: int, candidates: int):
    index = _load_index(index_path, nprobe)
    Q, zero = _normalised(src.read(a0, a1, arr))
    _, cand = index.search(Q, candidates + 1)
    rows = np.arange(a0, a1, dtype=np.int64)[:, None]
    cand = np.where(cand == rows, -1, cand)  # self, by index
    cand[zero] = -1
    # duplicates cannot occur in one IVF answer; re-rank with exact float32 products
    uniq = np.unique(cand[cand >= 0])
    if uniq.size == 0:
        return (np.full((a1 - a0, k), -1, dtype=np.int64),
                np.full((a1 - a0, k), -np.inf, dtype=np.float32))
    vecs, _z = _normalised(src.read_at(uniq, arr))
    pos = np.searchsorted(uniq, np.maximum(cand, 0))
    sims = np.einsum("md,mcd->mc", Q, vecs[pos])
    return _topk_exact(cand, sims, k)


def _exact_for_sample(src: VectorSource, arr, ids: np.ndarray, Q: np.ndarray, b0: int,
                      b1: int, k: int):
    B, zb = _normalised(src.read(b0, b1, arr))
    sims = Q @ B.T
    sims[:, zb] = -np.inf
    cols = np.arange(b0, b1, dtype=np.int64)
    sims[ids[:, None] == cols[None, :]] = -np.inf
    kk = min(k, b1 - b0)
    part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
    return cols[part], np.take_along_axis(sims, part, 1)


# ----------------------------------------------------------------------------- driver

def _light(src: VectorSource, client):
    """The source without its array, and the array scattered once to every worker."""
    if src.array is None:
        return src, None
    arr = np.ascontiguousarray(src.array)
    return dataclasses.replace(src, array=None), client.scatter(arr, broadcast=True, hash=False)


def knn_search_dask(X, k: int, client, *, method: str = "exact", block_size: int = 4096,
                    nlist: int | None = None, codec: str = "Flat", nprobe: int = 16,
                    rerank: int = 3, train_size: int = 100_000, parts: int | None = None,
                    work_dir: str | None = None, recall_sample: int = 1000,
                    seed: int = 0) -> DaskKnn:
    """The ``k`` most cosine-similar rows of every row of ``X`` (an array, ``.npy``, store,
    Parquet file or shard directory: see :func:`vecsmith.cluster.sources.open_source`), on the
    workers of ``client``.

    ``method="exact"``: equal to the single-process search. ``method="ivf"``: faiss IVF with
    ``nlist`` lists (default ~4·√n) storing vectors as ``codec`` (``"Flat"``: float32;
    ``"SQ8"``: one byte a number; ``"PQ16"``: 16 bytes a vector), ``nprobe`` lists searched, ``rerank``·k candidates re-ranked exactly; the index is written under
    ``work_dir`` (shared storage on a real cluster); ``recall_sample`` rows are checked
    against exact search (0 skips it).
    """
    check_client(client)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    src = open_source(X)
    light, arr = _light(src, client)
    n = src.n
    t0 = time.perf_counter()
    if method == "exact":
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        kk = max(1, min(int(k), n - 1))
        futs = [client.submit(_exact_rows, light, arr, a, min(a + block_size, n), kk,
                              block_size, pure=True) for a in range(0, n, block_size)]
        blocks = client.gather(futs)
        idx = np.concatenate([b[0] for b in blocks])
        sims = np.concatenate([b[1] for b in blocks])
        if kk < k:
            idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
            sims = np.pad(sims, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        return DaskKnn(idx, sims, "exact", time.perf_counter() - t0)
    if method != "ivf":
        raise ValueError(f"method must be 'exact' or 'ivf', got {method!r}")
    if work_dir is None:
        raise ValueError("method='ivf' needs work_dir: a directory every worker can read")
    os.makedirs(work_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    nlist = nlist or max(16, int(4 * np.sqrt(n)))
    factory = f"IVF{int(nlist)},{codec}"
    train_ids = np.sort(rng.choice(n, size=min(n, max(train_size, 39 * nlist)), replace=False))
    sample = client.submit(_sample_rows, light, arr, train_ids, pure=True)
    trained = client.submit(_train, sample, factory, pure=True)
    n_parts = parts or max(1, len(client.scheduler_info()["workers"]))
    bounds = np.linspace(0, n, n_parts + 1).astype(int)
    part_paths = [client.submit(_fill_part, light, arr, int(lo), int(hi), trained,
                                os.path.join(work_dir, f"ivf-part-{i:04d}.faiss"), pure=True)
                  for i, (lo, hi) in enumerate(itertools.pairwise(bounds))]
    merged = client.submit(_merge_parts, part_paths,
                           os.path.join(work_dir, "ivf-merged.faiss"), pure=True)
    cands = min(n - 1, max(k, rerank * k))
    futs = [client.submit(_query_block, light, arr, a, min(a + block_size, n), merged, int(k),
                          int(nprobe), cands, pure=True) for a in range(0, n, block_size)]
    blocks = client.gather(futs)
    idx = np.concatenate([b[0] for b in blocks])
    sims = np.concatenate([b[1] for b in blocks])
    seconds = time.perf_counter() - t0
    recall = None
    m = min(recall_sample, n)
    if m > 0:
        ids = np.sort(rng.choice(n, size=m, replace=False))
        Q, zq = _normalised(src.read_at(ids) if arr is None else src.array[ids])
        ids, Q = ids[~zq], Q[~zq]
        qf = client.scatter(Q, broadcast=True)
        step = max(block_size, 65536)
        parts_ = client.gather([client.submit(_exact_for_sample, light, arr, ids, qf, b,
                                              min(b + step, n), int(k), pure=True)
                                for b in range(0, n, step)])
        cand = np.concatenate([p[0] for p in parts_], axis=1)
        csim = np.concatenate([p[1] for p in parts_], axis=1)
        exact, _ = _topk_exact(cand, csim, int(k))
        hits = [np.intersect1d(exact[i][exact[i] >= 0], idx[r][idx[r] >= 0]).size
                for i, r in enumerate(ids)]
        denom = max(1, int((exact >= 0).sum()))
        recall = float(np.sum(hits) / denom)
    return DaskKnn(idx, sims, factory, seconds, recall, m)
