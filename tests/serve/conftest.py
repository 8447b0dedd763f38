"""Start the real server (`python -m vecsmith serve`) as a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (fastapi, uvicorn) is not installed")

from vecsmith import store
from vecsmith.datasets import gensim_test_file, lid176_path

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `vecsmith serve`; `url`, `proc`, `log` (its stderr, a file)."""

    def __init__(self, args: list[str], log: Path, timeout: float = 90.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        self._err = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vecsmith", "serve", *args, "--port", str(self.port)],
            stdout=self._err, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._err.close()
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{log.read_text()}")
            time.sleep(0.2)

    def post(self, path: str, body, headers: dict | None = None):
        """(status, headers, parsed JSON or raw bytes) of a POST with a JSON body."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"content-type": "application/json",
                                              **(headers or {})})
        return self._send(req)

    def get(self, path: str):
        return self._send(urllib.request.Request(self.url + path))

    @staticmethod
    def _send(req):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        if hdrs.get("content-type", "").startswith("application/json"):
            return status, hdrs, json.loads(raw)
        return status, hdrs, raw

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """Stores converted from gensim's lee_fasttext.bin: float32 (exact), float16, no n-grams."""
    d = tmp_path_factory.mktemp("serve_models")
    src = gensim_test_file("lee_fasttext.bin")
    store.convert_fasttext(src, d / "lee32.store", dtype="float32", quiet=True)
    store.convert_fasttext(src, d / "lee16.store", dtype="float16", quiet=True)
    store.convert_fasttext(src, d / "vocab.store", dtype="float32", no_ngrams=True, quiet=True)
    return d


@pytest.fixture(scope="session")
def server(models_dir, tmp_path_factory):
    """One server with every kind of model: float32/float16 stores, a store without n-grams,
    fastText .bins (one with words that are not UTF-8) and the quantized lid.176.ftz (`lid`)."""
    log = tmp_path_factory.mktemp("serve_log") / "server.log"
    s = Server([str(models_dir / "lee32.store"), str(models_dir / "lee16.store"),
                str(models_dir / "vocab.store"), f"lid={lid176_path()}",
                str(gensim_test_file("lee_fasttext.bin")),
                str(gensim_test_file("cp852_fasttext.bin")), "--max-batch", "64", "--max-k", "50",
                "--max-body", "65536", "--max-text", "200"], log)
    yield s
    s.stop()


@pytest.fixture
def start_server(tmp_path):
    """Start servers with the given arguments; all are stopped after the test."""
    started: list[Server] = []

    def start(args: list[str]) -> Server:
        s = Server(args, tmp_path / f"server{len(started)}.log")
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def page_server(models_dir, tmp_path_factory):
    """A quiet server with the float32 store and lid.176.ftz, for the browser tests."""
    s = Server([str(models_dir / "lee32.store"), f"lid={lid176_path()}", "--quiet"],
               tmp_path_factory.mktemp("browser") / "server.log")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def pq_path(tmp_path_factory) -> Path:
    """A compressed store (`vecsmith compress`: product-quantized rows, kept n-grams) of
    gensim's lee_fasttext.bin."""
    from vecsmith.store.compress import compress

    out = tmp_path_factory.mktemp("pq") / "leepq.store"
    return compress(gensim_test_file("lee_fasttext.bin"), out, size="40kB", word_share=0.5,
                    max_ngrams=600)


@pytest.fixture(scope="module")
def pq_server(pq_path, models_dir, tmp_path_factory):
    """A quiet server with the compressed store (`leepq`) and the float32 store."""
    s = Server([str(pq_path), str(models_dir / "lee32.store"), "--quiet"],
               tmp_path_factory.mktemp("pq_log") / "server.log")
    yield s
    s.stop()
