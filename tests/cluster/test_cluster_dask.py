"""kNN graphs and Chinese Whispers on a real Dask LocalCluster (2 worker processes)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from vecsmith._deps import MissingDependencyError
from vecsmith.cluster import ChineseWhispers, chinese_whispers, knn_graph, knn_search
from vecsmith.cluster.sources import ShardError, open_source

distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from vecsmith.cluster.dask_knn import knn_search_dask  # noqa: E402
from vecsmith.cluster.dask_whispers import chinese_whispers_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit="2GiB")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def planted(n_clusters=30, size=40, dim=24, noise=0.3, seed=0, shuffle=True):
    """Points around random centres, in a random order so node blocks cut across clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    y = np.repeat(np.arange(n_clusters), size)
    if shuffle:
        y = rng.permutation(y)
    return (centres[y] + noise * rng.normal(size=(y.size, dim))).astype(np.float32), y


def test_exact_knn_equals_single_process(client):
    X, _ = planted(40, 50, 16, 0.5, seed=1)
    X[7] = 0  # all-zero rows: no edges, nobody's neighbour
    X[100] = 0
    X[11] = X[3]  # an exact duplicate (similarity 1)
    X[900:] = np.round(X[900:], 0)  # many tied similarities
    for block in (256, 500):
        i1, s1 = knn_search(X, 12, block_size=block, backend="numpy")
        got = knn_search_dask(X, 12, client, block_size=block)
        np.testing.assert_array_equal(got.indices, i1)
        np.testing.assert_array_equal(got.similarities, s1)
    g1 = knn_graph(X, 8, symmetrize="mutual", threshold=0.2, block_size=300)
    g2 = knn_graph(X, 8, symmetrize="mutual", threshold=0.2, block_size=300, client=client)
    assert (g1 != g2).nnz == 0 and g1.nnz > 0


def test_workers_read_npy_and_parquet_shards(client, tmp_path):
    X, _ = planted(20, 30, 12, 0.4, seed=2)
    words = [f"w{i}" for i in range(len(X))]
    d = tmp_path / "shards"
    d.mkdir()
    np.save(d / "a.npy", X[:250])
    np.save(d / "b.npy", X[250:400])
    vec = pa.FixedSizeListArray.from_arrays(pa.array(X[400:].ravel()), X.shape[1])
    pq.write_table(pa.table({"word": words[400:], "vector": vec}), d / "c.parquet")
    src = open_source(d)
    assert (src.n, src.dim) == (len(X), X.shape[1])
    got = knn_search_dask(str(d), 10, client, block_size=128)
    i1, s1 = knn_search(X, 10, block_size=128, backend="numpy")
    np.testing.assert_array_equal(got.indices, i1)
    np.testing.assert_array_equal(got.similarities, s1)
    # a memory-mapped .npy on its own, through knn_graph
    np.save(tmp_path / "all.npy", X)
    g = knn_graph(str(tmp_path / "all.npy"), 10, block_size=128, client=client)
    assert (g != knn_graph(X, 10, block_size=128)).nnz == 0


def test_bad_shards_name_the_shard(client, tmp_path):
    X, _ = planted(5, 20, 8, seed=3)
    d = tmp_path / "dims"
    d.mkdir()
    np.save(d / "a.npy", X)
    np.save(d / "b.npy", X[:, :5])
    with pytest.raises(ShardError, match=r"b\.npy: rows have dimension 5"):
        knn_search_dask(str(d), 5, client)
    d = tmp_path / "nan"
    d.mkdir()
    np.save(d / "a.npy", X)
    bad = X.copy()
    bad[17, 2] = np.nan
    np.save(d / "b.npy", bad)
    with pytest.raises(ShardError, match=r"b\.npy: row 17 holds NaN"):  # raised on a worker
        knn_search_dask(str(d), 5, client, block_size=32)
    (tmp_path / "short.npy").write_bytes(open(d / "a.npy", "rb").read()[:200])
    with pytest.raises(ShardError, match=r"short\.npy: header promises shape"):
        open_source(tmp_path / "short.npy")


def test_approximate_ivf_reports_recall(client):
    X, _ = planted(50, 60, 32, 0.3, seed=4)
    res = knn_search_dask(X, 10, client, method="ivf", nlist=32, nprobe=2, block_size=700,
                          recall_sample=400)
    assert res.method == "IVF32,Flat" and res.recall_sample == 400
    i1, _ = knn_search(X, 10, backend="numpy")
    true = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(i1, res.indices,
                                                                    strict=True)])
    assert res.recall > 0.9 and abs(res.recall - true) < 0.05
    assert not (res.indices == np.arange(len(X))[:, None]).any()  # never itself
    # similarities are exact cosines of the returned rows
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(res.similarities[:, 0],
                               np.einsum("ij,ij->i", Xn, Xn[res.indices[:, 0]]), atol=1e-5)


def test_ivf_probing_every_list_is_exact_and_fewer_lists_lose_recall(client):
    X = np.random.default_rng(3).normal(size=(3000, 16)).astype(np.float32)  # no clusters
    X[5] = 0  # an all-zero row: in no list, no neighbours
    i1, s1 = knn_search(X, 10, backend="numpy")
    full = knn_search_dask(X, 10, client, method="ivf", nlist=16, nprobe=16, block_size=500,
                           recall_sample=300)
    np.testing.assert_array_equal(full.indices, i1)
    np.testing.assert_array_equal(full.similarities, s1)
    assert full.recall == 1.0
    recalls = [knn_search_dask(X, 10, client, method="ivf", nlist=16, nprobe=p,
                               block_size=500, recall_sample=3000).recall for p in (1, 4)]
    assert recalls[0] < 0.6 < recalls[1] < 0.95  # the measured recall follows the probes
    with pytest.raises(ValueError, match=r"nprobe must be in 1\.\.nlist=16"):
        knn_search_dask(X, 10, client, method="ivf", nlist=16, nprobe=17)


def _lists_from_parquet(out, n, k):
    """The n x k lists back from the part files (src, dst, similarity, rank)."""
    import pyarrow.parquet as pq

    parts = sorted(os.path.join(out, f) for f in os.listdir(out))
    assert parts and all(f.endswith(".parquet") for f in parts)  # no temporary left over
    tables = [pq.read_table(f) for f in parts]
    idx = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    for t in tables:
        assert t.column_names == ["src", "dst", "similarity", "rank"]
        src, dst = t["src"].to_numpy(), t["dst"].to_numpy()
        rank = t["rank"].to_numpy()
        assert t.schema.field("rank").type == "int32"
        assert (idx[src, rank] == -1).all()  # every (src, rank) written once, in one part
        idx[src, rank], sims[src, rank] = dst, t["similarity"].to_numpy()
    return idx, sims


def test_edges_are_written_by_the_workers_as_parquet(client, tmp_path):
    X, _ = planted(40, 50, 16, 0.5, seed=1)
    X[7] = 0  # a zero row: no edges
    i1, s1 = knn_search(X, 12, block_size=300, backend="numpy")
    out = tmp_path / "edges"
    res = knn_search_dask(X, 12, client, block_size=300, edges=out)
    assert res.indices is None and res.edges == str(out)
    assert res.edge_count == int((i1 >= 0).sum())
    idx, sims = _lists_from_parquet(out, len(X), 12)
    np.testing.assert_array_equal(idx, i1)
    np.testing.assert_array_equal(sims, s1)
    with pytest.raises(FileExistsError, match="already holds"):  # nothing is overwritten
        knn_search_dask(X, 12, client, edges=out)
    # ivf, nprobe 1: the same lists as without edges=, and the same measured recall
    ivf = knn_search_dask(X, 10, client, method="ivf", nlist=16, block_size=500,
                          recall_sample=300)
    res = knn_search_dask(X, 10, client, method="ivf", nlist=16, block_size=500,
                          recall_sample=300, edges=tmp_path / "ivf")
    idx, sims = _lists_from_parquet(tmp_path / "ivf", len(X), 10)
    np.testing.assert_array_equal(idx, ivf.indices)
    np.testing.assert_array_equal(sims, ivf.similarities)
    assert res.recall == ivf.recall and res.method == ivf.method
    with pytest.raises(ValueError, match="nprobe=1"):
        knn_search_dask(X, 10, client, method="ivf", nprobe=2, edges=tmp_path / "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        knn_search_dask(X, 10, client, edges=tmp_path / "file")


@pytest.mark.parametrize(("weighting", "vote"), [("top", None), ("lin", 0.3), ("log", None)])
def test_one_partition_equals_sequential(client, weighting, vote):
    X, _ = planted(25, 30, 16, 0.6, seed=5)
    g = knn_graph(X, 10)
    for seed in (0, 3):
        a = chinese_whispers(g, weighting, seed=seed, vote=vote)
        b = chinese_whispers(g, weighting, seed=seed, vote=vote, client=client, n_partitions=1)
        np.testing.assert_array_equal(b.labels, a.labels)
        np.testing.assert_array_equal(b.confidence, a.confidence)
        assert (b.changes, b.n_iter, b.converged) == (a.changes, a.n_iter, a.converged)


def test_planted_partitions_and_determinism(client, tmp_path):
    X, y = planted(40, 40, 24, 0.35, seed=6)
    g = knn_graph(X, 10, symmetrize="union", threshold=0.3)
    seq = chinese_whispers(g, seed=0)
    assert adjusted_rand_score(y, seq.labels) >= 0.95
    for P in (2, 4):
        r = chinese_whispers_dask(g, client, seed=0, n_partitions=P)
        assert adjusted_rand_score(y, r.labels) >= 0.95, P
        assert r.converged and r.n_partitions == P
        assert sum(r.bytes_per_round) > 0  # the blocks cut clusters: labels crossed
        again = chinese_whispers_dask(g, client, seed=0, n_partitions=P)
        np.testing.assert_array_equal(again.labels, r.labels)
        assert again.changes == r.changes
        # the blocks' edges read by the workers from files: the same run
        files = chinese_whispers_dask(g, client, seed=0, n_partitions=P,
                                      edge_dir=str(tmp_path / f"edges{P}"))
        np.testing.assert_array_equal(files.labels, r.labels)
        np.testing.assert_array_equal(files.confidence, r.confidence)
        assert len(list((tmp_path / f"edges{P}").glob("block-*.cols.npy"))) == P
    other = chinese_whispers_dask(g, client, seed=1, n_partitions=2)
    assert other.changes != chinese_whispers_dask(g, client, seed=0, n_partitions=2).changes


def test_parquet_output_and_summaries(client, tmp_path):
    X, _ = planted(12, 25, 16, 0.3, seed=7)
    words = [f"w{i}" for i in range(len(X))]
    g = knn_graph(X, 8)
    full = chinese_whispers_dask(g, client, seed=0, n_partitions=3)
    r = chinese_whispers_dask(g, client, seed=0, n_partitions=3, output=str(tmp_path / "out"),
                              words=words, collect=False)
    assert r.labels.size == 0 and r.n_clusters == full.n_clusters
    t = pq.read_table(tmp_path / "out" / "labels")  # a partitioned dataset, read as one
    assert t.column_names == ["node", "word", "cluster", "confidence"]
    t = t.sort_by("node")
    np.testing.assert_array_equal(t.column("cluster").to_numpy(), full.labels)
    np.testing.assert_array_equal(t.column("confidence").to_numpy(), full.confidence)
    assert t.column("word").to_pylist() == words
    s = pq.read_table(tmp_path / "out" / "clusters.parquet")
    np.testing.assert_array_equal(s.column("size").to_numpy(), np.bincount(full.labels))
    mean = np.bincount(full.labels, weights=full.confidence) / np.bincount(full.labels)
    np.testing.assert_allclose(s.column("mean_confidence").to_numpy(), mean, rtol=1e-5)


def test_estimator_with_a_client_matches_without(client):
    X, _ = planted(10, 30, 12, 0.3, seed=8)
    a = ChineseWhispers(10, seed=0, device="cpu").fit(X)
    b = ChineseWhispers(10, seed=0, client=client, n_partitions=1).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert (a.graph_ != b.graph_).nnz == 0


def _kill_one_worker_during(client, job, prefix, min_done):
    """Run ``job`` in a thread; once ``min_done`` of its ``prefix`` tasks hold results, SIGKILL
    the worker process holding one of them (its results are lost and must be recomputed).
    Returns the job's result and whether the job was still running at the kill."""
    sched = client.cluster.scheduler  # the LocalCluster's scheduler runs in this process
    pids = client.run(os.getpid)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", job()))
    t.start()
    victim = None
    while t.is_alive() and victim is None:
        try:
            done = [ts for ts in list(sched.tasks.values())
                    if str(ts.key).startswith(prefix) and ts.state == "memory" and ts.who_has]
        except RuntimeError:  # the scheduler changed its dict meanwhile
            continue
        if len(done) >= min_done:
            victim = next(iter(done[-1].who_has)).address
        else:
            time.sleep(0.001)
    running = t.is_alive()
    assert victim is not None, "the job finished before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    t.join(180)
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid)
    return out.get("r"), running


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_worker_is_retried_with_the_same_result(client, tmp_path):
    X, _ = planted(40, 100, 32, 0.5, seed=9)  # 4000 rows
    np.save(tmp_path / "x.npy", X)
    want_i, want_s = knn_search(X, 10, block_size=250, backend="numpy")
    res, running = _kill_one_worker_during(
        client, lambda: knn_search_dask(str(tmp_path / "x.npy"), 10, client, block_size=250),
        "_exact_rows", 3)
    assert running
    np.testing.assert_array_equal(res.indices, want_i)
    np.testing.assert_array_equal(res.similarities, want_s)
    g = knn_graph(X, 10)
    want = chinese_whispers_dask(g, client, seed=0, n_partitions=4)
    res, running = _kill_one_worker_during(
        client, lambda: chinese_whispers_dask(g, client, seed=0, n_partitions=4), "_round", 6)
    assert running
    np.testing.assert_array_equal(res.labels, want.labels)
    assert res.changes == want.changes


@pytest.mark.parametrize(("spec", "match"), [("local:0", "positive worker count"),
                                             ("local:x", "positive worker count"),
                                             ("nowhere", "local, local:N or an address")])
def test_scheduler_specs_are_checked(spec, match):
    from vecsmith.cluster import client_for

    with pytest.raises(ValueError, match=match):
        client_for(spec)


def test_dask_is_optional(monkeypatch):
    with pytest.raises(TypeError, match=r"dask\.distributed\.Client"):
        chinese_whispers(sp.eye(3, format="csr"), client="tcp://nowhere:8786")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"vecsmith\[dask\]"):
        chinese_whispers(sp.eye(3, format="csr"), client=object())
