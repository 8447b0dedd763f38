"""Chinese Whispers on a Dask cluster: node blocks, sequential passes inside, boundary labels
exchanged between rounds.

The nodes are cut into ``n_partitions`` contiguous blocks. Each block's out-edges (the
neighbours its nodes listen to) stay on one worker for the whole run. A round: every block
runs ``passes_per_round`` seeded sequential CW passes over its own nodes (the compiled
kernel, immediate updates inside the block) while the labels of neighbours in other blocks
stay as they were at the end of the previous round; then each block sends every other block
only the labels of its own nodes that changed and that the other block listens to. The run
stops after a round that changes nothing, or after ``iterations`` rounds.

How it differs from the sequential algorithm: inside a block a node sees its block's labels
of this pass, but a neighbour in another block with the label it had when the round began
(one round stale). Boundary nodes can therefore swap labels back and forth, like a
synchronous update, for a round or two before they settle; with one block there is no
boundary and the run is the sequential one exactly (same seeds per pass, same visiting
order). Pass seeds depend on (seed, block, pass), so a run is deterministic for a seed and
a partitioning, and a task that Dask re-runs after losing a worker computes the same labels.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from vecsmith._atomic import atomic_open, atomic_path
from vecsmith._deps import require
from vecsmith.cluster._dask import check_client
from vecsmith.cluster.whispers import (
    WhispersResult,
    _check_graph,
    edge_weights,
    pass_seeds,
    seed_to_int,
)

__all__ = ["DaskWhispersResult", "chinese_whispers_dask", "cluster_summary_parquet"]


@dataclass
class DaskWhispersResult(WhispersResult):
    """A :class:`WhispersResult` plus what the rounds cost: bytes of boundary labels sent
    between blocks in each round and the wall time of each round."""

    n_partitions: int = 1
    bytes_per_round: list[int] = field(default_factory=list)
    seconds_per_round: list[float] = field(default_factory=list)
    output: str | None = None  # the Parquet directory, when one was written
    total_clusters: int = 0  # also known when the labels stay on the workers

    @property
    def n_clusters(self) -> int:
        return self.total_clusters


# ----------------------------------------------------------------------------- worker side

def _init_block(part: int, lo: int, hi: int, indptr: np.ndarray, cols: np.ndarray,
                weights: np.ndarray, ext: np.ndarray, exports: dict) -> dict:
    """A block's edges, fixed for the whole run: its out-edges in local numbering (own nodes
    0..m-1, outside neighbours m..m+e-1 with no edges of their own, so the kernel never
    visits them) and the reverse edges. Local ids are int32 where they fit (half the memory
    of int64; the kernel compiles for either). The labels travel separately, round by round."""
    sp = require("scipy.sparse", "sparse graphs")
    m = hi - lo
    size = m + ext.size
    itype = np.int32 if size < 2**31 - 1 else np.int64
    own = (cols >= lo) & (cols < hi)
    local = np.where(own, cols - lo, m + np.searchsorted(ext, cols)).astype(itype)
    ind = np.concatenate([indptr - indptr[0], np.full(ext.size, indptr[-1] - indptr[0])])
    t = sp.csr_matrix((np.ones(local.size, dtype=np.int8), local, ind.astype(np.int64)),
                      shape=(size, size)).T.tocsr()
    return {
        "part": part, "lo": lo, "hi": hi, "ext": ext, "exports": exports,
        "indptr": ind.astype(np.int64), "indices": local, "weights": weights,
        "tindptr": t.indptr.astype(np.int64), "tindices": t.indices.astype(itype),
    }


def _save_block(prefix: str, arrays: dict) -> None:
    """A block's inputs as .npy files, each written to a temporary name and renamed."""
    for name, arr in arrays.items():
        with atomic_open(f"{prefix}.{name}.npy") as fh:
            np.save(fh, arr, allow_pickle=False)


def _init_block_from_files(part: int, lo: int, hi: int, prefix: str, others: list) -> dict:
    """:func:`_init_block` with the inputs read from the files of :func:`_save_block`, so the
    task (kept by Dask for as long as the run needs its result) holds a path, not the edges."""
    a = {n: np.load(f"{prefix}.{n}.npy", allow_pickle=False)
         for n in ("indptr", "cols", "weights", "ext", "exports", "exports_off")}
    off = a["exports_off"]
    exports = {q: a["exports"][off[i] : off[i + 1]] for i, q in enumerate(others)}
    return _init_block(part, lo, hi, a["indptr"], a["cols"], a["weights"], a["ext"], exports)


def _apply_inbox(block: dict, labels: np.ndarray | None, inboxes) -> np.ndarray:
    """The block's labels (own nodes, then outside neighbours) with the inboxes applied;
    ``None`` before the first round: every node its own global id."""
    if labels is None:
        labels = np.concatenate([np.arange(block["lo"], block["hi"], dtype=np.int64),
                                 block["ext"]])
    else:
        labels = labels.copy()  # tasks are pure: a re-run sees the same input
    m = block["hi"] - block["lo"]
    for ids, labs in inboxes:
        if ids.size:
            labels[m + np.searchsorted(block["ext"], ids)] = labs
    return labels


def _round(block: dict, labels: np.ndarray | None, first_pass: int, n_passes: int,
           seed_int: int, vote: float, keep: float, *inboxes):
    """One round of one block; returns (new labels, outbox per block, passes, changes,
    bytes sent)."""
    from vecsmith.cluster._cw_kernel import cw_run

    labels = _apply_inbox(block, labels, inboxes)
    m = block["hi"] - block["lo"]
    uniq, local = np.unique(labels, return_inverse=True)  # compact ids for the kernel
    local = local.astype(np.int64)
    before = labels[:m].copy()
    seeds = pass_seeds(seed_int, block["part"], first_pass, n_passes)
    passes, changes = cw_run(block["indptr"], block["indices"], block["weights"],
                             block["tindptr"], block["tindices"], local, seeds, vote, keep,
                             0, 0.0)
    labels = uniq[local]
    changed = np.flatnonzero(labels[:m] != before) + block["lo"]
    outbox, sent = {}, 0
    for q, wanted in block["exports"].items():
        ids = np.intersect1d(changed, wanted, assume_unique=True)
        labs = labels[ids - block["lo"]]
        outbox[q] = (ids, labs)
        sent += ids.nbytes + labs.nbytes
    return labels, outbox, int(passes), int(np.sum(changes)), sent


def _pick(x, key):
    return x[key]


def _stats(out):
    return out[2:]


def _write_task(done, lo: int, hi: int, keys, ranks, path: str, words_source) -> str:
    return _write_block(done, lo, keys, ranks, path, _words_of(words_source, lo, hi))


def _finish(block: dict, labels: np.ndarray | None, *inboxes):
    """Own labels (global ids) and confidence: each node's weight share for its label."""
    labels = _apply_inbox(block, labels, inboxes)
    m = block["hi"] - block["lo"]
    indptr = block["indptr"][: m + 1]
    rows = np.repeat(np.arange(m), np.diff(indptr))
    w = block["weights"]
    same = labels[rows] == labels[block["indices"]]
    total = np.bincount(rows, weights=w, minlength=m)
    mine = np.bincount(rows, weights=w * same, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(total > 0, mine / np.where(total > 0, total, 1.0), 0.0)
    return labels[:m], conf.astype(np.float32)


def _block_summary(done):
    """Per label in this block: size, first node, summed confidence (merged on the client)."""
    labels, conf = done
    uniq, first, inv, counts = np.unique(labels, return_index=True, return_inverse=True,
                                         return_counts=True)
    return uniq, first, counts, np.bincount(inv, weights=conf, minlength=uniq.size)


def _write_block(done, lo: int, rank_keys: np.ndarray, rank_vals: np.ndarray, path: str,
                 words) -> str:
    pa = require("pyarrow", "Parquet output")
    pq = require("pyarrow.parquet", "Parquet output")
    labels, conf = done
    cluster = rank_vals[np.searchsorted(rank_keys, labels)]
    cols = {"node": pa.array(np.arange(lo, lo + labels.size, dtype=np.int64))}
    if words is not None:
        cols["word"] = pa.array(words, type=pa.string())
    cols["cluster"] = pa.array(cluster)
    cols["confidence"] = pa.array(conf)
    with atomic_path(path) as tmp:  # hidden name: readers of the folder never see it
        pq.write_table(pa.table(cols), str(tmp))
    return path


def _words_of(source, lo: int, hi: int):
    from vecsmith.cluster.sources import open_source

    if source is None:
        return None
    if isinstance(source, (list, tuple)):
        return [str(w) for w in source[lo:hi]]
    return open_source(source).words(lo, hi)


# ----------------------------------------------------------------------------- client side

def _merge_summaries(summaries, starts):
    """Global relabelling by size (0 = largest; ties: first node) from per-block summaries."""
    keys = np.concatenate([s[0] for s in summaries])
    firsts = np.concatenate([s[1] + lo for s, lo in zip(summaries, starts, strict=True)])
    counts = np.concatenate([s[2] for s in summaries])
    confs = np.concatenate([s[3] for s in summaries])
    uniq, inv = np.unique(keys, return_inverse=True)
    size = np.bincount(inv, weights=counts).astype(np.int64)
    conf = np.bincount(inv, weights=confs)
    first = np.full(uniq.size, np.iinfo(np.int64).max)
    np.minimum.at(first, inv, firsts)
    order = np.lexsort((first, -size))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq, rank.astype(np.int64), size, conf, first


def cluster_summary_parquet(path: str, rank: np.ndarray, size: np.ndarray, conf: np.ndarray,
                            first: np.ndarray, words=None) -> None:
    """``clusters.parquet``: cluster id, size, mean confidence, first node (and its word)."""
    pa = require("pyarrow", "Parquet output")
    pq = require("pyarrow.parquet", "Parquet output")
    order = np.argsort(rank)
    cols = {"cluster": pa.array(rank[order]), "size": pa.array(size[order]),
            "mean_confidence": pa.array((conf[order] / size[order]).astype(np.float32)),
            "first_node": pa.array(first[order])}
    with atomic_path(path) as tmp:
        pq.write_table(pa.table(cols), str(tmp))


def chinese_whispers_dask(graph, client, weighting: str = "top", iterations: int = 20,
                          seed: int | None = None, *, vote: float | None = None,
                          keep: float = 0.0, n_partitions: int | None = None,
                          passes_per_round: int = 1, output: str | None = None, words=None,
                          collect: bool = True,
                          edge_dir: str | None = None) -> DaskWhispersResult:
    """Chinese Whispers of a CSR graph on the workers of ``client``, in ``n_partitions``
    node blocks (default: one per worker). ``iterations`` bounds the rounds. ``output``: a
    directory that receives ``labels/part-NNNNN.parquet`` (node, word, cluster, confidence)
    written by the workers and ``clusters.parquet`` (sizes, mean confidence); ``words`` is a list or
    any source :func:`~vecsmith.cluster.sources.open_source` reads words from (a store,
    Parquet with a ``word`` column). ``collect=False`` leaves the labels on the workers
    (``labels`` is then empty): with ``output`` the only data the client holds is one
    summary row per cluster. ``edge_dir``: a directory every worker can read; each block's
    edges are written there as ``.npy`` files and its task reads them, so the workers keep
    paths instead of a second copy of the edges in the task (Dask holds a task's inputs while
    its result is in use: about 12 bytes an edge)."""
    check_client(client)
    if not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not isinstance(passes_per_round, (int, np.integer)) or passes_per_round < 1:
        raise ValueError(f"passes_per_round must be a positive integer, got {passes_per_round}")
    if vote is not None and not 0.0 <= vote < 1.0:
        raise ValueError(f"vote must be in [0, 1), got {vote}")
    if not 0.0 <= keep < 1.0:
        raise ValueError(f"keep must be in [0, 1), got {keep}")
    graph = _check_graph(graph)
    weights = edge_weights(graph, weighting)
    n = graph.shape[0]
    P = n_partitions or max(1, len(client.scheduler_info()["workers"]))
    if not isinstance(P, (int, np.integer)) or P < 1:
        raise ValueError(f"n_partitions must be a positive integer, got {n_partitions!r}")
    P = int(min(P, max(n, 1)))
    seed_int = seed_to_int(seed)
    bounds = np.linspace(0, n, P + 1).astype(np.int64)
    indptr, indices = graph.indptr.astype(np.int64), graph.indices.astype(np.int64)
    exts = []
    for p in range(P):
        lo, hi = bounds[p], bounds[p + 1]
        cols = indices[indptr[lo] : indptr[hi]]
        exts.append(np.unique(cols[(cols < lo) | (cols >= hi)]))
    itype = np.int32 if n < 2**31 - 1 else np.int64
    if edge_dir is not None:
        os.makedirs(edge_dir, exist_ok=True)
    blocks = []
    for p in range(P):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        e0, e1 = indptr[lo], indptr[hi]
        exports = {}
        for q in range(P):
            if q != p:
                ext = exts[q]
                exports[q] = ext[(ext >= lo) & (ext < hi)]
        # the block's edges travel inside its task, not by client.scatter: scattered data
        # has no lineage, a task does, so a worker lost mid-run is rebuilt from it. They stay
        # in one future for the whole run; each round passes only the labels along.
        if edge_dir is None:
            blocks.append(client.submit(_init_block, p, lo, hi, indptr[lo : hi + 1],
                                        indices[e0:e1].astype(itype), weights[e0:e1],
                                        exts[p], exports, pure=False))
            continue
        prefix = os.path.join(str(edge_dir), f"block-{p:05d}")
        others = sorted(exports)
        _save_block(prefix, {
            "indptr": indptr[lo : hi + 1], "cols": indices[e0:e1].astype(itype),
            "weights": weights[e0:e1], "ext": exts[p],
            "exports": np.concatenate([exports[q] for q in others] or [np.empty(0, np.int64)]),
            "exports_off": np.r_[0, np.cumsum([exports[q].size for q in others])]})
        blocks.append(client.submit(_init_block_from_files, p, lo, hi, prefix, others,
                                    pure=False))
    labels_f: list = [None] * P
    inboxes: list[list] = [[] for _ in range(P)]
    changes, sent_per_round, secs = [], [], []
    passes_done = 0
    converged = False
    for r in range(int(iterations)):
        t0 = time.perf_counter()
        outs = [client.submit(_round, blocks[p], labels_f[p], r * passes_per_round,
                              passes_per_round, seed_int, float(vote or 0.0), float(keep),
                              *inboxes[p], pure=False) for p in range(P)]
        labels_f = [client.submit(_pick, o, 0, pure=False) for o in outs]
        outboxes = [client.submit(_pick, o, 1, pure=False) for o in outs]
        stats = client.gather([client.submit(_stats, o, pure=False) for o in outs])
        inboxes = [[client.submit(_pick, outboxes[q], p, pure=False) for q in range(P) if q != p]
                   for p in range(P)]
        passes_done = (r + 1) * passes_per_round
        changes.append(int(sum(s[1] for s in stats)))
        sent_per_round.append(int(sum(s[2] for s in stats)))
        secs.append(time.perf_counter() - t0)
        if changes[-1] == 0:
            converged = True
            break
    done = [client.submit(_finish, blocks[p], labels_f[p], *inboxes[p], pure=False)
            for p in range(P)]
    summaries = client.gather([client.submit(_block_summary, d, pure=False) for d in done])
    keys, rank, size, conf, first = _merge_summaries(summaries, [int(b) for b in bounds[:-1]])
    n_clusters = int(keys.size)
    out_dir = None
    if output is not None:
        out_dir = str(output)
        os.makedirs(os.path.join(out_dir, "labels"), exist_ok=True)
        kf = client.scatter([keys, rank], broadcast=True, hash=False)
        paths = [client.submit(
            _write_task, done[p], int(bounds[p]), int(bounds[p + 1]), kf[0], kf[1],
            os.path.join(out_dir, "labels", f"part-{p:05d}.parquet"), words, pure=False)
            for p in range(P)]
        client.gather(paths)
        cluster_summary_parquet(os.path.join(out_dir, "clusters.parquet"), rank, size, conf,
                                first)
    if collect:
        parts = client.gather(done)
        raw = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
        labels = rank[np.searchsorted(keys, raw)]
        confidence = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.float32)
    else:
        labels, confidence = np.empty(0, np.int64), np.empty(0, np.float32)
    result = DaskWhispersResult(labels=labels, confidence=confidence,
                                n_iter=int(passes_done), converged=converged, changes=changes,
                                n_partitions=P, bytes_per_round=sent_per_round,
                                seconds_per_round=secs, output=out_dir,
                                total_clusters=n_clusters)
    return result
