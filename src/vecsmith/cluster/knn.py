"""Exact cosine k-nearest-neighbour graphs by blocked matrix products.

The CPU path multiplies only the upper triangle of ``X Xᵀ`` in square tiles (BLAS does half
the work of a plain row-block search) and keeps each row's top k with a compiled scan over
every tile, once by rows and once by columns, so the similarity matrix is never held whole:
memory is ``block_size² + n·k`` numbers. The torch path (CUDA when present) multiplies row
blocks in float16/tf32/float32, takes a few extra candidates and re-ranks them in float32.

Rules that hold on every path: rows are L2-normalised first; a row is never its own neighbour
(excluded by index, so exact duplicates still find each other, with similarity 1); all-zero
rows have no direction, get no edges and are nobody's neighbour; ties go to the lower index.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vecsmith._deps import require, resolve_device
from vecsmith._progress import progress as _progress

__all__ = [
    "GraphStats",
    "graph_stats",
    "grouped_topk",
    "knn_graph",
    "knn_search",
    "symmetrize",
]

Symmetrize = Literal["union", "mutual", "none"]
Precision = Literal["float32", "tf32", "float16", "bfloat16"]
Backend = Literal["auto", "numpy", "torch", "faiss"]


# ----------------------------------------------------------------------------- compiled top-k

def _kernels():
    """The compiled top-k scans (numba, cached on disk after the first compile)."""
    require("numba", "the compiled kNN scan")
    from vecsmith.cluster._topk_kernels import scan_cols, scan_rows

    return scan_rows, scan_cols


# ----------------------------------------------------------------------------- search


def _normalise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised float32 rows of the non-zero rows, and their positions in X."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"expected a non-empty 2-D matrix of vectors, got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"expected numeric vectors, got dtype {X.dtype}")
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1)
    if not np.isfinite(norms).all():
        row = int(np.flatnonzero(~np.isfinite(norms))[0])
        raise ValueError(f"row {row} holds NaN or infinity")
    keep = np.flatnonzero(norms > 0)
    Xn = X[keep] / norms[keep, None]
    return np.ascontiguousarray(Xn, dtype=np.float32), keep


def _tile_products(Xn: np.ndarray, block_size: int):
    """A function (a, b) -> Xn[a:a+B] @ Xn[b:b+B].T written into one reused buffer.

    torch's CPU matmul into a preallocated buffer is about twice as fast here as numpy's
    ``@``, which allocates (and page-faults) a fresh tile every time; numpy is the fallback."""
    buf_len = block_size * min(block_size, Xn.shape[0])
    try:
        import torch
    except ImportError:
        flat = np.empty(buf_len, dtype=np.float32)

        def product(a: int, b: int) -> np.ndarray:
            A, B = Xn[a : a + block_size], Xn[b : b + block_size]
            out = flat[: len(A) * len(B)].reshape(len(A), len(B))
            np.matmul(A, B.T, out=out)
            return out

        return product
    T = torch.from_numpy(Xn)
    tflat = torch.empty(buf_len, dtype=torch.float32)

    def product(a: int, b: int) -> np.ndarray:
        A, B = T[a : a + block_size], T[b : b + block_size]
        out = tflat[: len(A) * len(B)].view(len(A), len(B))
        torch.mm(A, B.T, out=out)
        return out.numpy()

    return product


def _search_numpy(Xn, k, block_size, show):
    n = Xn.shape[0]
    scan_rows, scan_cols = _kernels()
    product = _tile_products(Xn, block_size)
    bs = np.full((n, k), -np.inf, dtype=np.float32)
    bi = np.full((n, k), -1, dtype=np.int64)
    starts = list(range(0, n, block_size))
    total = len(starts) * (len(starts) + 1) // 2
    with _progress(quiet=not show) as bar:
        task = bar.add_task("kNN graph (cpu)", total=total)
        for a in starts:
            for b in starts:
                if b < a:
                    continue
                tile = product(a, b)
                scan_rows(tile, a, b, bs, bi)
                if b != a:
                    scan_cols(tile, a, b, bs, bi)
                bar.advance(task)
    return bi, bs


_TORCH_DTYPES = {"float32": "float32", "tf32": "float32", "float16": "float16",
                 "bfloat16": "bfloat16"}


def grouped_topk(sims, k: int, group: int = 32):
    """Exact row-wise top-k (values, indices; best first) of a torch matrix in two cheap steps:
    the max of every group of ``group`` columns, the top-k groups by that max, then the top k
    among those groups' columns. A top-k element's group max is at least as large as the
    element, so its group is among the top-k groups. Much less work than ``torch.topk`` over
    a million columns."""
    import torch

    m, n = sims.shape
    n_groups = n // group
    if n_groups <= 2 * k or not sims.is_contiguous():
        return torch.topk(sims, k, dim=1, sorted=True)
    body = sims.as_strided((m, n_groups, group), (n, group, 1))
    gmax = body.amax(dim=2)
    top_groups = torch.topk(gmax, k, dim=1, sorted=False).indices
    cols = (top_groups[:, :, None] * group
            + torch.arange(group, device=sims.device)).reshape(m, k * group)
    tail = n_groups * group
    if tail < n:
        cols = torch.cat([cols, torch.arange(tail, n, device=sims.device).expand(m, -1)], 1)
    vals = sims.gather(1, cols)
    best, pos = torch.topk(vals, k, dim=1, sorted=True)
    return best, cols.gather(1, pos)


def _search_torch(Xn, k, block_size, device, precision, rerank, show):
    torch = require("torch", "the torch kNN search")
    n, _d = Xn.shape
    dev = torch.device(device)
    X32 = torch.from_numpy(Xn).to(dev)
    low = precision in ("float16", "bfloat16")
    if dev.type == "cpu" and low:
        raise ValueError(f"precision={precision!r} needs a GPU; use float32 on the CPU")
    Xc = X32.to(getattr(torch, _TORCH_DTYPES[precision]))
    n_cand = min(n - 1, k if not (rerank and precision != "float32") else
                 max(k + 8, math.ceil(k * 1.5)))
    out_i = torch.empty((n, k), dtype=torch.int64, device=dev)
    out_s = torch.empty((n, k), dtype=torch.float32, device=dev)
    old_tf32 = None
    if dev.type == "cuda":
        old_tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        with torch.inference_mode(), _progress(quiet=not show) as bar:
            task = bar.add_task(f"kNN graph ({dev.type}, {precision})", total=n)
            for a in range(0, n, block_size):
                rows = Xc[a : a + block_size]
                m = rows.shape[0]
                sims = rows @ Xc.T
                ar = torch.arange(m, device=dev)
                sims[ar, ar + a] = -torch.inf  # self, by index
                cs, ci = grouped_topk(sims, n_cand)
                del sims
                if n_cand != k or precision != "float32":  # exact float32 re-rank
                    cand = X32[ci]  # (m, n_cand, d)
                    exact = torch.einsum("md,mcd->mc", X32[a : a + m], cand)
                    # order by similarity, then index: ties go to the lower index
                    order = torch.argsort(ci, dim=1)
                    exact, ci = exact.gather(1, order), ci.gather(1, order)
                    cs, pos = torch.topk(exact, k, dim=1, sorted=True)
                    ci = ci.gather(1, pos)
                else:
                    cs = cs.float()
                out_i[a : a + m] = ci
                out_s[a : a + m] = cs
                bar.advance(task, m)
    finally:
        if old_tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = old_tf32
    return out_i.cpu().numpy(), out_s.cpu().numpy()


def _search_faiss(Xn, k, show):
    faiss = require("faiss", "the faiss kNN search")
    index = faiss.IndexFlatIP(Xn.shape[1])
    index.add(Xn)
    sims, idx = index.search(Xn, min(k + 1, Xn.shape[0]))
    n = Xn.shape[0]
    self_hit = idx == np.arange(n)[:, None]
    # drop self where faiss returned it, else the last candidate (self tied further down)
    drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), idx.shape[1] - 1)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    return idx[keep].reshape(n, -1)[:, :k].astype(np.int64), sims[keep].reshape(n, -1)[:, :k]


def knn_search(
    X: np.ndarray,
    k: int,
    *,
    block_size: int | None = None,
    backend: Backend = "auto",
    device: str = "auto",
    precision: Precision = "float32",
    rerank: bool = True,
    progress: bool = False,
    client=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar rows of every row of ``X``.

    Returns ``(indices, similarities)``, both ``(n, k)``, best first; ``-1`` / ``-inf`` pad
    rows that have fewer than ``k`` candidates (all-zero rows have none). ``backend="auto"``
    uses torch on a GPU when ``device`` resolves to CUDA, else the compiled numpy/BLAS path;
    ``"faiss"`` uses ``faiss.IndexFlatIP`` (exact). ``precision`` applies to the torch path:
    ``float16``/``bfloat16``/``tf32`` products with a float32 re-rank of ``1.5k`` candidates
    when ``rerank``.

    ``client`` (a ``dask.distributed.Client``): the exact search runs on its workers as row
    block tasks and gives the same lists (:mod:`vecsmith.cluster.dask_knn`, which also has an
    approximate faiss IVF search); ``X`` may then also be a ``.npy``/store/Parquet path or a
    directory of shards that the workers read themselves.
    """
    if client is not None:
        from vecsmith.cluster.dask_knn import knn_search_dask

        if backend not in ("auto", "numpy"):
            raise ValueError(f"with a client the search is the numpy tile scan; "
                             f"backend={backend!r} is not available")
        res = knn_search_dask(X, k, client, block_size=block_size or 4096)
        return res.indices, res.similarities
    if isinstance(X, (str, os.PathLike)):
        from vecsmith.cluster.sources import open_source

        src = open_source(X)
        X = src.read(0, src.n)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if precision not in _TORCH_DTYPES:
        raise ValueError(f"precision must be one of {sorted(_TORCH_DTYPES)}, got {precision!r}")
    Xn, keep = _normalise(X)
    n_all = np.asarray(X).shape[0]
    n = Xn.shape[0]
    idx = np.full((n_all, k), -1, dtype=np.int64)
    sims = np.full((n_all, k), -np.inf, dtype=np.float32)
    if n < 2:
        return idx, sims
    kk = min(int(k), n - 1)
    dev = resolve_device(device)
    if backend == "auto":
        backend = "torch" if dev.startswith("cuda") else "numpy"
    if backend == "numpy":
        if dev != "cpu":
            raise ValueError(f"backend='numpy' runs on the CPU, not {dev!r}")
        bi, bs = _search_numpy(Xn, kk, block_size or 4096, progress)
    elif backend == "torch":
        bi, bs = _search_torch(Xn, kk, block_size or (4096 if dev != "cpu" else 1024), dev,
                               precision, rerank, progress)
    elif backend == "faiss":
        bi, bs = _search_faiss(Xn, kk, progress)
    else:
        raise ValueError(f"backend must be auto, numpy, torch or faiss, got {backend!r}")
    valid = bi >= 0
    idx[keep, :kk] = np.where(valid, keep[np.maximum(bi, 0)], -1)
    sims[keep, :kk] = np.where(valid, bs, -np.inf)
    return idx, sims


# ----------------------------------------------------------------------------- graph


def symmetrize(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int,
               mode: Symmetrize = "union"):
    """A CSR graph from directed edges: ``union`` keeps an edge found from either end (weight:
    the larger), ``mutual`` only edges found from both ends (weight: the smaller), ``none``
    keeps the directed lists. Exact on zero and negative weights (no sparse max/min tricks)."""
    sp = require("scipy.sparse", "sparse graphs")
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float32)
    if not (rows.shape == cols.shape == weights.shape) or rows.ndim != 1:
        raise ValueError(f"rows, cols and weights must be 1-D of one length, got {rows.shape}, "
                         f"{cols.shape}, {weights.shape}")
    for name, arr in (("row", rows), ("column", cols)):
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise ValueError(f"{name} index out of range for {n} nodes")
    if mode not in ("union", "mutual", "none"):
        raise ValueError(f"symmetrize must be union, mutual or none, got {mode!r}")
    if rows.size == 0:  # nothing survived (a threshold above every similarity)
        return sp.csr_matrix((n, n), dtype=np.float32)
    if mode == "none":
        r, c, w = rows, cols, weights
    elif mode in ("union", "mutual"):
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
        key = lo * n + hi
        order = np.lexsort((weights, key))
        key, w_sorted = key[order], weights[order]
        first = np.r_[True, key[1:] != key[:-1]]
        starts = np.flatnonzero(first)
        counts = np.diff(np.r_[starts, key.size])
        if mode == "union":
            ukey = key[starts]
            w = w_sorted[np.r_[starts[1:], key.size] - 1]  # largest in each group
        else:
            ukey = key[starts[counts >= 2]]
            w = w_sorted[starts[counts >= 2]]  # smallest
        lo, hi = ukey // n, ukey % n
        r = np.concatenate([lo, hi])
        c = np.concatenate([hi, lo])
        w = np.concatenate([w, w])
    else:
        raise ValueError(f"symmetrize must be union, mutual or none, got {mode!r}")
    graph = sp.csr_matrix((w.astype(np.float32), (r, c)), shape=(n, n))
    graph.sort_indices()
    return graph


def knn_graph(
    X: np.ndarray,
    k: int = 20,
    *,
    symmetrize: Symmetrize = "union",
    threshold: float | None = None,
    block_size: int | None = None,
    backend: Backend = "auto",
    device: str = "auto",
    precision: Precision = "float32",
    rerank: bool = True,
    progress: bool = False,
    client=None,
):
    """A sparse cosine kNN graph of the rows of ``X`` as a ``scipy.sparse.csr_matrix``.

    Each row's ``k`` nearest rows (self excluded) become edges weighted by cosine similarity;
    edges below ``threshold`` are dropped before symmetrising with ``union``/``mutual``/``none``
    (see :func:`symmetrize`). All-zero rows end up isolated. Search options as in
    :func:`knn_search`; ``client`` runs the search on a Dask cluster (same graph).
    """
    idx, sims = knn_search(X, k, block_size=block_size, backend=backend, device=device,
                           precision=precision, rerank=rerank, progress=progress,
                           client=client)
    if not (idx >= 0).any():
        raise ValueError("a kNN graph needs at least 2 non-zero rows; every row is all-zero "
                         "or there is only one")
    return graph_from_neighbors(idx, sims, symmetrize=symmetrize, threshold=threshold)


def graph_from_neighbors(idx: np.ndarray, sims: np.ndarray, *, symmetrize: Symmetrize = "union",
                         threshold: float | None = None):
    """Build the CSR graph from ``knn_search`` output (reuse one search for many graphs)."""
    n = idx.shape[0]
    keep = idx >= 0
    if threshold is not None:
        keep &= sims >= threshold
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)[keep]
    return _symmetrize(rows, idx[keep], sims[keep], n, symmetrize)


_symmetrize = symmetrize


@dataclass(frozen=True)
class GraphStats:
    """Shape of a graph: sizes, degrees, isolated nodes and near-duplicate edges."""

    n_nodes: int
    n_edges: int  # undirected edges counted once when the graph is symmetric
    symmetric: bool
    isolated: int
    mean_degree: float
    max_degree: int
    duplicate_edges: int  # edges with similarity >= 1 - 1e-6: exact duplicates

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def graph_stats(graph) -> GraphStats:
    """Sizes and degrees of a CSR graph, to report alongside every clustering."""
    deg = np.diff(graph.indptr)
    diff = graph - graph.T
    symmetric = diff.nnz == 0 or bool(np.all(diff.data == 0))
    nnz = int(graph.nnz)
    return GraphStats(
        n_nodes=int(graph.shape[0]),
        n_edges=nnz // 2 if symmetric else nnz,
        symmetric=symmetric,
        isolated=int((deg == 0).sum()),
        mean_degree=float(deg.mean()) if deg.size else 0.0,
        max_degree=int(deg.max()) if deg.size else 0,
        duplicate_edges=int((graph.data >= 1 - 1e-6).sum() // (2 if symmetric else 1)),
    )
