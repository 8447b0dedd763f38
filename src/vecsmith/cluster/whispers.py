"""Chinese Whispers (Biemann 2006): graph clustering by label propagation, no k to choose.

Every node starts in its own class. In each pass the nodes are visited in a fresh random
order and each takes the class with the largest summed edge weight among its neighbours,
immediately, so later nodes in the same pass already see it; ties are broken at random.
It stops after a pass that changes nothing (or after ``iterations`` passes). Nodes without
edges stay singletons.

The CPU path is that exact algorithm compiled with numba (``_cw_kernel``). The torch path
(for very large graphs on a GPU) is semi-synchronous: every step computes all nodes' winning
classes at once and a random ``update_prob`` share of the nodes adopts them, which stands in
for the asynchronous order (Biemann's "keep class" rate) and avoids the oscillation of a fully
synchronous update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vecsmith._deps import require, resolve_device

__all__ = ["WhispersResult", "chinese_whispers", "edge_weights", "relabel_by_size"]

Weighting = Literal["top", "lin", "log"]


@dataclass
class WhispersResult:
    """Labels (0 = largest cluster), each node's vote share for its own label, and how the
    run went."""

    labels: np.ndarray
    confidence: np.ndarray
    n_iter: int
    converged: bool
    changes: list[int] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0


def _check_structure(graph) -> None:
    """Index arrays of a sparse graph checked before scipy or compiled code reads them: a
    column index past the end would make the compiled loop read out of bounds."""
    n_rows, n_cols = graph.shape
    if n_rows != n_cols:
        raise ValueError(f"graph must be square, got shape {graph.shape}")
    n = n_rows
    fmt = graph.format
    if fmt in ("csr", "csc"):
        indptr, indices = np.asarray(graph.indptr), np.asarray(graph.indices)
        if indptr.ndim != 1 or indptr.size != n + 1:
            raise ValueError(f"graph indptr has {indptr.size} entries, expected n + 1 = {n + 1}")
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError("graph indptr must start at 0 and never decrease")
        if indptr[-1] != indices.size or np.asarray(graph.data).size != indices.size:
            raise ValueError(f"graph indptr ends at {indptr[-1]} but holds {indices.size} "
                             f"indices and {np.asarray(graph.data).size} weights")
        bad = (indices < 0) | (indices >= n)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(indptr, pos, side="right") - 1)
            raise ValueError(f"graph index {int(indices[pos])} at {'row' if fmt == 'csr' else 'column'} "
                             f"{row} is out of range for {n} nodes")
    elif fmt == "coo":
        for name, arr in (("row", graph.row), ("column", graph.col)):
            arr = np.asarray(arr)
            bad = (arr < 0) | (arr >= n)
            if bad.any():
                raise ValueError(f"graph {name} index {int(arr[np.flatnonzero(bad)[0]])} is out "
                                 f"of range for {n} nodes")
    data = np.asarray(graph.data) if hasattr(graph, "data") else None
    if data is not None and data.dtype.kind not in "fiub":
        raise ValueError(f"graph weights must be numeric, got dtype {data.dtype}")


def _check_graph(graph):
    sp = require("scipy.sparse", "sparse graphs")
    if not sp.issparse(graph):
        raise TypeError("graph must be a scipy.sparse matrix (use knn_graph to build one)")
    _check_structure(graph)
    graph = sp.csr_matrix(graph, dtype=np.float64)
    graph.sum_duplicates()
    graph.sort_indices()
    if graph.nnz and not np.isfinite(graph.data).all():
        pos = int(np.flatnonzero(~np.isfinite(graph.data))[0])
        row = int(np.searchsorted(graph.indptr, pos, side="right") - 1)
        raise ValueError(f"graph weights must be finite: edge ({row}, {graph.indices[pos]}) is "
                         f"{graph.data[pos]}")
    if graph.nnz and graph.data.min() < 0:
        raise ValueError("graph has negative weights; Chinese Whispers needs weights >= 0 "
                         "(build the graph with threshold=0.0 to drop negative similarities)")
    # a node's own label is not a vote: self-loops are ignored, as in the reference package
    diag = graph.diagonal()
    if np.any(diag != 0):
        graph = graph.tolil()
        graph.setdiag(0)
        graph = graph.tocsr()
        graph.eliminate_zeros()
        graph.sort_indices()
    return graph


def seed_to_int(seed) -> int:
    """One integer run seed from ``seed`` (None draws a fresh one)."""
    return int(np.random.default_rng(seed).integers(0, 2**31 - 1))


def pass_seeds(seed_int: int, part: int, first: int, count: int) -> np.ndarray:
    """Seeds of passes ``first .. first + count - 1`` of node block ``part``: each pass has its
    own seed, so a run split into rounds (the Dask version) draws what one call would."""
    all_seeds = np.random.SeedSequence([seed_int, part]).generate_state(first + count,
                                                                          dtype=np.uint32)
    return all_seeds[first:].astype(np.int64)


def edge_weights(graph, weighting: Weighting = "top") -> np.ndarray:
    """Per-edge vote weights of a CSR graph: ``top`` the raw weight, ``lin`` divided by the
    neighbour's degree, ``log`` divided by log2(neighbour degree + 1) (never log 1 = 0).
    Degree: the number of nodes joined to it by an edge in either direction."""
    w = np.asarray(graph.data, dtype=np.float64)
    if weighting == "top":
        return w.copy()
    # a node's degree counts its neighbours in either direction (row length when symmetric),
    # so in a directed graph a node without out-edges still has a positive degree
    pattern = graph.copy()
    pattern.data = np.ones_like(pattern.data)
    deg = np.diff((pattern + pattern.T).tocsr().indptr).astype(np.float64)
    nb = deg[graph.indices]
    if weighting in ("lin", "linear"):
        return w / nb
    if weighting == "log":
        return w / np.log2(nb + 1.0)
    raise ValueError(f"weighting must be top, lin or log, got {weighting!r}")


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids with 0 for the largest cluster (ties: first seen); -1 (noise) stays."""
    labels = np.asarray(labels)
    out = np.full(labels.shape, -1, dtype=np.int64)
    ok = labels >= 0
    if not ok.any():
        return out
    _uniq, first, inv, counts = np.unique(labels[ok], return_index=True, return_inverse=True,
                                         return_counts=True)
    order = np.lexsort((first, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    out[ok] = rank[inv]
    return out


def _confidence(graph, weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    n = graph.shape[0]
    rows = np.repeat(np.arange(n), np.diff(graph.indptr))
    same = labels[rows] == labels[graph.indices]
    total = np.bincount(rows, weights=weights, minlength=n)
    mine = np.bincount(rows, weights=weights * same, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(total > 0, mine / np.where(total > 0, total, 1.0), 0.0)
    return conf.astype(np.float32)


def _mutation_code(mutation) -> tuple[int, float]:
    if mutation is None:
        return 0, 0.0
    try:
        kind, value = mutation
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError("mutation must be None, ('constant', rate) or ('dec', exponent)") \
            from None
    if kind == "constant" and 0.0 <= value <= 1.0:
        return 1, value
    if kind == "dec" and value > 0:
        return 2, value
    raise ValueError(f"mutation {mutation!r}: use ('constant', rate in [0, 1]) or "
                     f"('dec', exponent > 0)")


def chinese_whispers(
    graph,
    weighting: Weighting = "top",
    iterations: int = 20,
    seed: int | None = None,
    *,
    vote: float | None = None,
    keep: float = 0.0,
    mutation: tuple[str, float] | None = None,
    device: str = "cpu",
    update_prob: float = 0.5,
    client=None,
    n_partitions: int | None = None,
) -> WhispersResult:
    """Cluster a weighted graph (``scipy.sparse``, symmetric for an undirected graph) with
    Chinese Whispers.

    ``weighting``: ``top`` (raw weights), ``lin`` (weight / neighbour degree), ``log``
    (weight / log2(neighbour degree + 1)). ``vote``: a node changes class only when the winner
    holds more than this share of its weight. ``keep``: chance a node is skipped in a pass.
    ``mutation``: ``("constant", rate)`` or ``("dec", v)`` (rate 1/pass^v) moves a node to an
    unused class. ``seed`` makes runs reproducible. ``device``: ``"cpu"`` runs the exact
    algorithm; ``"cuda"``/``"auto"``/``"torch-cpu"`` run the semi-synchronous torch variant
    (``update_prob`` of the nodes adopt their winning class each step).

    ``client`` (a ``dask.distributed.Client``): run on its workers in ``n_partitions`` node
    blocks (default one per worker) with boundary labels exchanged between rounds; with one
    block the result equals this function's. See :mod:`vecsmith.cluster.dask_whispers`.
    """
    if client is not None:
        if mutation is not None or device != "cpu":
            raise ValueError("with a client Chinese Whispers runs the exact CPU passes in node "
                             "blocks; mutation and device are not available there")
        from vecsmith.cluster.dask_whispers import chinese_whispers_dask

        return chinese_whispers_dask(graph, client, weighting, iterations, seed, vote=vote,
                                     keep=keep, n_partitions=n_partitions)
    if not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if vote is not None and not 0.0 <= vote < 1.0:
        raise ValueError(f"vote must be in [0, 1), got {vote}")
    if not 0.0 <= keep < 1.0:
        raise ValueError(f"keep must be in [0, 1), got {keep}")
    mut_kind, mut_value = _mutation_code(mutation)
    graph = _check_graph(graph)
    weights = edge_weights(graph, weighting)
    seed_int = seed_to_int(seed)
    dev = "cpu" if device == "cpu" else resolve_device(device)
    if device == "torch-cpu":
        dev = "torch-cpu"
    if dev == "cpu":
        require("numba", "the compiled Chinese Whispers")
        from vecsmith.cluster._cw_kernel import cw_run

        labels = np.arange(graph.shape[0], dtype=np.int64)
        listeners = graph.T.tocsr()  # who hears a node: its rows in the transposed graph
        passes, changes = cw_run(graph.indptr.astype(np.int64), graph.indices.astype(np.int64),
                                 weights, listeners.indptr.astype(np.int64),
                                 listeners.indices.astype(np.int64), labels,
                                 pass_seeds(seed_int, 0, 0, int(iterations)),
                                 float(vote or 0.0), float(keep), mut_kind, mut_value)
        changes = [int(c) for c in changes]
    else:
        if mut_kind or keep:
            raise ValueError("mutation and keep are options of the exact CPU algorithm; the "
                             "torch variant already updates a random share of nodes per step")
        labels, passes, changes = _whispers_torch(
            graph, weights, int(iterations), seed_int, float(vote or 0.0), update_prob,
            "cpu" if dev == "torch-cpu" else dev)
    converged = bool(changes) and changes[-1] == 0
    labels = relabel_by_size(labels)
    return WhispersResult(labels=labels, confidence=_confidence(graph, weights, labels),
                          n_iter=int(passes), converged=converged, changes=changes)


def _whispers_torch(graph, weights, iterations, seed, vote, update_prob, device):
    """Semi-synchronous CW in torch: all winners at once, a random share adopts them."""
    torch = require("torch", "the GPU Chinese Whispers")
    if not 0.0 < update_prob <= 1.0:
        raise ValueError(f"update_prob must be in (0, 1], got {update_prob}")
    dev = torch.device(device)
    n = graph.shape[0]
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    deg = torch.from_numpy(np.diff(graph.indptr)).to(dev)
    rows = torch.repeat_interleave(torch.arange(n, device=dev), deg)
    cols = torch.from_numpy(graph.indices.astype(np.int64)).to(dev)
    w = torch.from_numpy(weights).to(dev)
    active = deg > 0
    labels = torch.arange(n, device=dev)
    total = torch.zeros(n, dtype=w.dtype, device=dev).index_add_(0, rows, w)
    changes: list[int] = []
    with torch.inference_mode():
        for _ in range(iterations):
            key = rows * n + labels[cols]
            ukey, inv = torch.unique(key, return_inverse=True)
            sums = torch.zeros(ukey.numel(), dtype=w.dtype, device=dev).index_add_(0, inv, w)
            urow, ulab = ukey // n, ukey % n
            best = torch.full((n,), -torch.inf, dtype=w.dtype, device=dev)
            best.scatter_reduce_(0, urow, sums, "amax")
            is_max = sums == best[urow]
            # random tie-break: the tied class with the largest random draw wins
            draw = torch.rand(ukey.numel(), generator=gen, device=dev)
            draw = torch.where(is_max, draw, torch.full_like(draw, -1.0))
            pick = torch.full((n,), -1.0, device=dev).scatter_reduce_(0, urow, draw, "amax")
            win = is_max & (draw == pick[urow])
            proposal = labels.clone()
            proposal[urow[win]] = ulab[win]
            if vote > 0:
                weak = (best / torch.where(total > 0, total, 1.0)) <= vote
                proposal = torch.where(weak, labels, proposal)
            differs = (proposal != labels) & active
            n_diff = int(differs.sum())
            if n_diff == 0:
                changes.append(0)
                break
            chosen = differs & (torch.rand(n, generator=gen, device=dev) < update_prob)
            labels = torch.where(chosen, proposal, labels)
            changes.append(int(chosen.sum()))
    return labels.cpu().numpy(), len(changes), changes
