"""Overload, files changing under the server, workers, logs and shutdown: real processes."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time

import pytest

from vecsmith.datasets import lid176_path

LONG_TEXTS = ["le chat est sur la table et il regarde les oiseaux dehors " * 8] * 1000


def _fire(server, n: int, body: dict, path: str = "/predict"):
    """n requests at once (a barrier releases them together); their (status, headers, body)."""
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        results[i] = server.post(path, body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrency_limit_answers_503_with_retry_after(start_server):
    s = start_server([f"lid={lid176_path()}", "--max-concurrency", "1", "--quiet"])
    results = _fire(s, 8, {"model": "lid", "texts": LONG_TEXTS, "k": 2})
    statuses = sorted(r[0] for r in results)
    assert 200 in statuses and 503 in statuses, statuses
    refused = next(r for r in results if r[0] == 503)
    assert refused[1]["retry-after"] == "1"
    assert refused[2]["error"]["type"] == "overloaded"
    assert "limit 1 per worker" in refused[2]["error"]["message"]
    assert s.get("/health")[0] == 200  # exempt, and the worker lives on
    assert '"path"' not in s.log.read_text()  # --quiet: no access lines


def test_model_file_changed_or_removed_is_a_clear_5xx(models_dir, tmp_path, start_server):
    a, b = tmp_path / "a.store", tmp_path / "b.store"
    shutil.copy(models_dir / "lee32.store", a)
    shutil.copy(models_dir / "lee32.store", b)
    s = start_server([str(a), str(b)])
    for name in ("a", "b"):
        assert s.post("/vectors", {"model": name, "words": ["the"]})[0] == 200
    with open(a, "ab") as f:  # rewritten in place: the mapping would read garbage
        f.write(b"\0" * 64)
    status, _, body = s.post("/vectors", {"model": "a", "words": ["the"]})
    assert status == 500 and body["error"]["type"] == "model_file_changed"
    assert "changed on disk after the server opened it" in body["error"]["message"]
    status, _, body = s.get("/health")
    assert status == 503 and body["status"] == "model_file_changed"
    b.unlink()
    status, _, body = s.post("/similar", {"model": "b", "word": "the"})
    assert status == 500 and "was removed" in body["error"]["message"]
    assert s.proc.poll() is None


def test_two_workers_share_the_files(models_dir, start_server):
    s = start_server([str(models_dir / "lee32.store"), "--workers", "2"])
    workers = _workers(s, 2)  # uvicorn starts the workers one after the other
    assert len(workers) == 2
    pids = {w.pid for w in workers}
    for _ in range(10):
        status, _, body = s.get("/health")
        assert status == 200 and body["pid"] in pids
    assert s.post("/vectors", {"model": "lee32", "words": ["the"]})[0] == 200
    assert s.stop() == 0


def test_access_log_is_json_lines(server):
    server.get("/models")
    time.sleep(0.2)
    lines = [json.loads(x) for x in server.log.read_text().splitlines()
             if x.startswith('{"ts"')]
    mine = [x for x in lines if x["path"] == "/models"]
    assert mine and mine[-1]["status"] == 200 and mine[-1]["method"] == "GET"
    assert {"ts", "pid", "client", "bytes", "ms"} <= set(mine[-1])


def test_graceful_shutdown_finishes_requests_in_flight(start_server):
    s = start_server([f"lid={lid176_path()}"])
    result: list = []
    t = threading.Thread(target=lambda: result.append(
        s.post("/predict", {"model": "lid", "texts": LONG_TEXTS})))
    t.start()
    time.sleep(0.05)
    s.proc.send_signal(signal.SIGTERM)
    t.join(60)
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit status is
    # -SIGTERM; the log says whether the shutdown finished its work
    assert s.proc.wait(30) in (0, -signal.SIGTERM)
    assert "Finished server process" in s.log.read_text()
    assert result and result[0][0] == 200 and len(result[0][2]["predictions"]) == 1000


def _preflight(server, origin: str):
    import urllib.request

    req = urllib.request.Request(server.url + "/vectors", method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    return server._send(req)


def test_cors_is_off_unless_an_origin_is_named(server, models_dir, start_server):
    status, headers, _ = _preflight(server, "https://example.org")
    assert "access-control-allow-origin" not in headers and status == 405
    s = start_server([str(models_dir / "lee32.store"), "--cors-origin", "https://example.org"])
    status, headers, _ = _preflight(s, "https://example.org")
    assert status == 200 and headers["access-control-allow-origin"] == "https://example.org"
    status, headers, _ = _preflight(s, "https://evil.example")
    assert "access-control-allow-origin" not in headers


def _workers(server, n: int, timeout: float = 60) -> list:
    """The worker processes under the server's supervisor, once n of them are up."""
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in psutil.Process(server.proc.pid).children()
                 if "spawn_main" in " ".join(p.cmdline())]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGBUS, signal.SIGKILL])
def test_a_single_worker_that_dies_is_restarted(models_dir, start_server, sig):
    import os

    s = start_server([str(models_dir / "lee32.store"), "--workers", "1"])
    (worker,) = _workers(s, 1)
    assert s.get("/health")[2]["pid"] == worker.pid
    os.kill(worker.pid, sig)  # as a SIGBUS from a truncated map would
    worker.wait(30)
    deadline = time.monotonic() + 90
    while True:  # the supervisor notices within a second, then the new worker starts
        try:
            status, _, body = s.get("/health")
        except OSError:
            status, body = None, None
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and body["pid"] != worker.pid
    status, _, body = s.post("/vectors", {"model": "lee32", "words": ["the"]})
    assert status == 200 and body["oov"] == [False]
    assert s.proc.poll() is None
    assert "died" in s.log.read_text()
