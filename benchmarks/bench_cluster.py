"""Clustering benchmark: vecsmith beside its anchors, on the same data, in one run.

1. Chinese Whispers on the same GloVe kNN graph (50,000 words, k = 20, union): the
   `chinese-whispers` package (networkx) vs vecsmith (numba), 20 iterations, same seed.
2. The kNN graph itself (50,000 x 50d, k = 20): plain numpy (row blocks, argpartition) vs
   vecsmith's tiled BLAS + compiled top-k, and faiss IndexFlatIP; recall checked against each
   other.
3. All 400,000 GloVe words clustered end to end by the CLI in a child process: wall time and
   peak resident memory.
4. With CUDA only: 1M x 300d synthetic unit vectors, k = 10, torch float32 vs float16 + float32
   re-rank, with recall against float32.

    python benchmarks/bench_cluster.py            # everything (about 10 minutes on 2 cores)
    python benchmarks/bench_cluster.py --quick    # 5,000 words, no end-to-end run (< 1 min)
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
from pathlib import Path

import numpy as np

from vecsmith.cluster import chinese_whispers, graph_from_neighbors, knn_search, size_summary
from vecsmith.wordvectors import load_packaged_glove


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def timed_cpu(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process): on a shared box the CPU time
    shows the work done when other jobs take the cores."""
    c = time.process_time()
    out, wall = timed(fn, *args, **kwargs)
    return out, wall, time.process_time() - c


def numpy_knn(X: np.ndarray, k: int, block: int = 1024):
    """The plain numpy way: row blocks of X Xᵀ, mask self, argpartition, sort the k."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    n = len(Xn)
    idx = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    for a in range(0, n, block):
        S = Xn[a : a + block] @ Xn.T
        rows = np.arange(S.shape[0])
        S[rows, rows + a] = -np.inf
        part = np.argpartition(-S, k, axis=1)[:, :k]
        ps = np.take_along_axis(S, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[a : a + block] = np.take_along_axis(part, order, axis=1)
        sims[a : a + block] = np.take_along_axis(ps, order, axis=1)
    return idx, sims


def recall(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


def bench_cw(graph, seed: int = 0) -> dict:
    import networkx as nx
    from chinese_whispers import chinese_whispers as package_cw

    chinese_whispers(graph[:50, :50], seed=seed)  # compile outside the timing (cached on disk)
    G, t_build = timed(nx.from_scipy_sparse_array, graph)
    _, t_pkg, c_pkg = timed_cpu(package_cw, G, "top", 20, None, seed)
    pkg_labels = np.array([G.nodes[i]["label"] for i in range(graph.shape[0])])
    runs = [timed_cpu(chinese_whispers, graph, "top", 20, seed) for _ in range(3)]
    res, t_ours, c_ours = min(runs, key=lambda r: r[1])
    return {"nodes": graph.shape[0], "edges": graph.nnz // 2, "package_s": t_pkg,
            "package_cpu_s": c_pkg, "package_graph_build_s": t_build, "vecsmith_s": t_ours,
            "vecsmith_cpu_s": c_ours, "vecsmith_passes": res.n_iter,
            "speedup": t_pkg / t_ours, "cpu_speedup": c_pkg / c_ours,
            "package_largest": size_summary(pkg_labels)["largest"],
            "vecsmith_largest": size_summary(res.labels)["largest"]}


def bench_knn(X: np.ndarray, k: int) -> dict:
    knn_search(X[:300], k)  # compile outside the timing
    (np_idx, _), t_np, c_np = timed_cpu(numpy_knn, X, k)
    (vs_idx, _), t_vs, c_vs = timed_cpu(knn_search, X, k)
    out = {"n": len(X), "dim": X.shape[1], "k": k, "numpy_s": t_np, "vecsmith_s": t_vs,
           "numpy_cpu_s": c_np, "vecsmith_cpu_s": c_vs,
           "speedup": t_np / t_vs, "recall_vs_numpy": recall(vs_idx, np_idx)}
    try:
        import faiss  # noqa: F401

        (f_idx, _), t_f = timed(knn_search, X, k, backend="faiss")
        out.update(faiss_s=t_f, faiss_vs_vecsmith=t_f / t_vs, recall_faiss=recall(f_idx, vs_idx))
    except ImportError:
        pass
    return out


def bench_end_to_end(max_words: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [sys.executable, "-c", "from vecsmith.cli import app; app()", "cluster", "glove-6b-50d", "--quiet",
               "--show", "0", "-o", str(Path(tmp) / "c.tsv"), "--summary", str(summary)]
        if max_words:
            cmd += ["-n", str(max_words)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_kb = after.ru_maxrss
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        doc = json.loads(summary.read_text(encoding="utf-8"))
    return {"words": doc["n_words"], "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_kb / 1024,
            "peak_rss_note": "" if peak_kb > before.ru_maxrss else "(an earlier child was larger)",
            "seconds": doc["seconds"], "edges": doc["graph"]["n_edges"],
            "clusters": doc["clusters"]["n_clusters"], "largest": doc["clusters"]["largest"],
            "singletons": doc["clusters"]["singletons"], "settings": doc["settings"]}


def bench_gpu() -> dict | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    g = torch.Generator(device="cuda").manual_seed(0)
    X = torch.randn(1_000_000, 300, device="cuda", generator=g)
    X = torch.nn.functional.normalize(X, dim=1).cpu().numpy()
    out = {}
    for precision in ("float32", "float16", "tf32"):
        knn_search(X[:10000], 10, device="cuda", precision=precision)  # warm up
        torch.cuda.synchronize()
        (idx, _), t = timed(knn_search, X, 10, device="cuda", precision=precision)
        out[precision] = {"s": t, "idx": idx}
    ref = out["float32"]["idx"]
    return {p: {"s": v["s"], "recall_vs_float32": recall(v["idx"][:20000], ref[:20000])}
            for p, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description="vecsmith clustering beside its anchors")
    ap.add_argument("--quick", action="store_true", help="5k words, no end-to-end run")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    n = 5_000 if args.quick else 50_000
    print(f"machine: {os.cpu_count()} CPUs (shared; ratios are from this one run)")
    _words, X = load_packaged_glove(n)
    results: dict = {}

    knn = bench_knn(X, 20)
    results["knn"] = knn
    print(f"\nkNN graph {knn['n']:,} x {knn['dim']}d, k={knn['k']}: plain numpy "
          f"{knn['numpy_s']:.2f} s, vecsmith {knn['vecsmith_s']:.2f} s -> "
          f"{knn['speedup']:.1f}x (recall vs numpy {knn['recall_vs_numpy']:.4f}); CPU time "
          f"{knn['numpy_cpu_s']:.1f} s vs {knn['vecsmith_cpu_s']:.1f} s")
    if "faiss_s" in knn:
        print(f"  faiss IndexFlatIP {knn['faiss_s']:.2f} s: vecsmith is "
              f"{knn['faiss_vs_vecsmith']:.2f}x faster than faiss (recall "
              f"{knn['recall_faiss']:.4f})")

    idx, sims = knn_search(X, 20)
    graph = graph_from_neighbors(idx, sims, symmetrize="union")
    cw = bench_cw(graph)
    results["cw"] = cw
    print(f"\nChinese Whispers, {cw['nodes']:,} nodes / {cw['edges']:,} edges, 20 iterations: "
          f"chinese-whispers package {cw['package_s']:.2f} s (+{cw['package_graph_build_s']:.2f} s"
          f" networkx graph), vecsmith {cw['vecsmith_s']:.3f} s ({cw['vecsmith_passes']} passes)"
          f" -> {cw['speedup']:.0f}x; CPU time {cw['package_cpu_s']:.1f} s vs "
          f"{cw['vecsmith_cpu_s']:.3f} s -> {cw['cpu_speedup']:.0f}x; largest cluster "
          f"{cw['package_largest']:,} vs {cw['vecsmith_largest']:,}")

    if not args.quick:
        e2e = bench_end_to_end(None)
        results["end_to_end"] = e2e
        print(f"\nAll {e2e['words']:,} GloVe words, CLI end to end ({e2e['settings']['k']}-NN "
              f"{e2e['settings']['symmetrize']}, {e2e['settings']['weighting']}): "
              f"{e2e['wall_s']:.1f} s wall (load {e2e['seconds']['load']:.1f}, graph "
              f"{e2e['seconds']['graph']:.1f}, CW {e2e['seconds']['cluster']:.2f}), CPU "
              f"{e2e['cpu_s']:.0f} s, peak RSS "
              f"{e2e['peak_rss_mb']:.0f} MB; {e2e['clusters']:,} clusters, largest "
              f"{e2e['largest']:,}, {e2e['singletons']:,} singletons")
    gpu = bench_gpu()
    if gpu:
        results["gpu"] = gpu
        print("\nGPU 1M x 300d, k=10: " + ", ".join(
            f"{p} {v['s']:.2f} s (recall {v['recall_vs_float32']:.4f})" for p, v in gpu.items()))
    else:
        print("\nGPU section skipped: no CUDA device")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
