"""`vecsmith serve` under a bounded load on loopback, beside a gensim-in-Flask baseline.

The model: a synthetic fastText .bin (`vecsmith.fasttext.synthetic`, random rows: lookup and
search costs depend on shapes, not values) converted to a float16 store with its search
index, as `vecsmith convert` writes by default; and Facebook's `lid.176.ftz` for /predict.
The baseline is what users run today: Flask (werkzeug's threaded server) around gensim's
`load_facebook_vectors` (everything in RAM, OOV words from n-grams in Python) and, for
/predict, the official `fasttext` module.

Load: `wrk` (Debian's package, C; one thread, `--connections` connections kept busy for
`--seconds` per case, a Lua script rotating through prepared JSON bodies; latencies from its
HdrHistogram), or, where wrk is missing, an async httpx client in this process (it takes
most of a core itself: say which one measured). Requests/s and p50/p99 per case, the
servers' CPU time per request, then RSS and PSS of every serving process from
/proc/PID/smaps_rollup (PSS splits shared pages among the processes that map them, so 2
workers mapping one store show about half of it each).

    python benchmarks/bench_serve.py --quick     # 100k words x 100 dims, 2 s per case
    python benchmarks/bench_serve.py             # 2M words x 300 dims (the shared model)
    python benchmarks/bench_serve.py --only gensim+Flask   # one server (merged into the JSON)
    python benchmarks/bench_serve.py --baseline-server PORT BIN LID   # (internal: Flask app)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vecsmith.datasets import lid176_path

SRC = Path(__file__).resolve().parents[1] / "src"
CACHE = Path(os.environ.get("VECSMITH_BENCH_CACHE", Path.home() / ".cache" / "vecsmith-bench"))
TEXTS = ["Bonjour tout le monde, comment allez-vous aujourd'hui ?",
         "Das ist ein kleiner Test für die Spracherkennung",
         "this is an english sentence about word vectors",
         "Questo è un piccolo esempio in italiano",
         "Esto es una frase corta en español", "Dit is een korte Nederlandse zin"]


# -- the baseline users have today: gensim in Flask ------------------------------------------
def baseline_server(port: int, model_bin: str, lid: str) -> None:
    from flask import Flask, jsonify, request
    from gensim.models.fasttext import load_facebook_vectors

    import fasttext

    kv = load_facebook_vectors(model_bin)
    kv.fill_norms()  # at start, not in the first /similar (the baseline at its best)
    lid_model = fasttext.load_model(lid)
    app = Flask("baseline")

    @app.post("/vectors")
    def vectors():
        words = request.get_json()["words"]
        return jsonify({"vectors": [kv[w].tolist() for w in words],
                        "oov": [w not in kv.key_to_index for w in words]})

    @app.post("/similar")
    def similar():
        body = request.get_json()
        pairs = kv.most_similar(body["word"], topn=body.get("k", 10))
        return jsonify({"neighbours": [{"word": w, "score": float(s)} for w, s in pairs]})

    @app.post("/predict")
    def predict():
        body = request.get_json()
        labels, probs = lid_model.predict(body["texts"], k=body.get("k", 1))
        return jsonify({"predictions": [[{"label": lab, "probability": float(p)}
                                         for lab, p in zip(ls, ps)]
                                        for ls, ps in zip(labels, probs)]})

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "pid": os.getpid()})

    app.run("127.0.0.1", port, threaded=True)


# -- models ----------------------------------------------------------------------------------
def make_models(nwords: int, bucket: int, dim: int) -> tuple[Path, Path]:
    from vecsmith import store
    from vecsmith.fasttext.synthetic import write_synthetic_model

    CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"synthetic-{nwords}x{dim}-b{bucket}"
    bin_path, store_path = CACHE / f"{stem}.bin", CACHE / f"{stem}.store"
    if not bin_path.exists():
        print(f"writing {bin_path} ...", flush=True)
        write_synthetic_model(bin_path, nwords, bucket, dim)
    if not store_path.exists():
        print(f"converting to {store_path} (float16, search index) ...", flush=True)
        store.convert_fasttext(bin_path, store_path, quiet=True)
    return bin_path, store_path


# -- servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, timeout: float = 600) -> subprocess.Popen:
    import urllib.request

    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {' '.join(cmd)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start: {' '.join(cmd)}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def memory(procs: list) -> list[tuple[int, float, float]]:
    """(pid, RSS MB, PSS MB) of each serving process."""
    out = []
    for p in procs:
        fields = {}
        with open(f"/proc/{p.pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in ("Rss:", "Pss:"):
                    fields[parts[0]] = int(parts[1]) / 1024
        out.append((p.pid, fields.get("Rss:", 0.0), fields.get("Pss:", 0.0)))
    return out


# -- load ------------------------------------------------------------------------------------
def server_processes(proc: subprocess.Popen, workers: int) -> list:
    """The serving processes: uvicorn's workers under its supervisor (`vecsmith serve` runs
    even one worker so), waiting until all have started; `workers=0`: the process itself."""
    import psutil

    parent = psutil.Process(proc.pid)
    if workers == 0:
        return [parent]
    deadline = time.monotonic() + 120
    while True:
        found = [p for p in parent.children() if "spawn_main" in " ".join(p.cmdline())]
        if len(found) >= workers or time.monotonic() > deadline:
            time.sleep(1.0)  # let the last one open its models
            return found


def box_ticks() -> np.ndarray:
    """The whole machine's CPU ticks (user, nice, system, idle, iowait, irq, softirq, steal)
    from /proc/stat: how busy the box was, and how much the hypervisor took (steal)."""
    with open("/proc/stat") as f:
        return np.array(f.readline().split()[1:9], dtype=np.int64)


def box_share(t0: np.ndarray, t1: np.ndarray) -> dict:
    d = t1 - t0
    total = max(int(d.sum()), 1)
    return {"busy": float(1 - (d[3] + d[4]) / total), "steal": float(d[7] / total),
            "nice": float(d[1] / total)}


def cpu_seconds(procs: list) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


WRK_SCRIPT = r"""
local bodies, path, i = {}, os.getenv("WRK_PATH"), 0
for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
function init(args) i = math.random(#bodies) end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n', summary.requests,
    summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def post(url: str, body: dict) -> None:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        r.read()


def load_wrk(url: str, path: str, bodies: list[dict], seconds: float, connections: int,
             procs: list, workdir: Path) -> dict:
    """One wrk run (after a 1 s warm-up run): requests/s, p50/p99, server CPU per request."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        script, data = Path(tmp) / "post.lua", Path(tmp) / "bodies.jsonl"
        script.write_text(WRK_SCRIPT)
        data.write_text("".join(json.dumps(b) + "\n" for b in bodies))
        env = dict(os.environ, WRK_PATH=path, WRK_BODIES=str(data))

        def run(secs: float) -> dict:
            cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(secs))}s",
                   "--timeout", "60s", "-s", str(script), url]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                                 timeout=secs + 120).stdout
            line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
            return json.loads(line[len("WRK_JSON "):])

        for body in bodies[:3]:  # warm-up, each answered before the timed run starts:
            post(url, body)      # compiled kernels, norms, pages
        run(1)
        cpu0 = cpu_seconds(procs)
        r = run(seconds)
        cpu = cpu_seconds(procs) - cpu0
    n = max(r["requests"], 1)
    return {"requests": r["requests"], "rps": r["requests"] / (r["duration_us"] / 1e6),
            "p50_ms": r["p50_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3,
            "max_ms": r["max_us"] / 1e3, "errors": r["errors"],
            "server_cpu_ms": cpu * 1e3 / n, "client": "wrk"}


async def load_httpx(url: str, bodies: list[dict], seconds: float, concurrency: int,
                     max_requests: int, procs: list) -> dict:
    """The fallback without wrk: an async httpx client in this process (it costs the box
    about a core, so its figures are lower than wrk's on a small machine)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    count = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for body in bodies[:concurrency]:  # warm-up: compiled kernels, norms, caches
            await client.post(url, json=body)

        async def one_client(i: int) -> None:
            nonlocal count, errors
            while time.perf_counter() < deadline and count < max_requests:
                body = bodies[(count * 7919 + i) % len(bodies)]
                count += 1
                t0 = time.perf_counter()
                r = await client.post(url, json=body)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        cpu0, start = cpu_seconds(procs), time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(concurrency)))
        wall, cpu = time.perf_counter() - start, cpu_seconds(procs) - cpu0
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "rps": len(lat) / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()),
            "errors": errors, "server_cpu_ms": cpu * 1e3 / max(len(lat), 1), "client": "httpx"}


def cases(words: list[str], oov: list[str], model: str, rng) -> dict[str, tuple[str, list]]:
    def batch(n, n_oov):
        return {"model": model, "words": [*rng.choice(words, n - n_oov).tolist(),
                                          *rng.choice(oov, n_oov).tolist()]}
    return {
        "/vectors 1 word (1 in 2 OOV)": ("/vectors", [batch(1, i % 2) for i in range(200)]),
        "/vectors 100 words (10 OOV)": ("/vectors", [batch(100, 10) for _ in range(50)]),
        "/similar k=10": ("/similar", [{"model": model, "word": w, "k": 10}
                                       for w in rng.choice(words, 200).tolist()]),
        "/similar k=100": ("/similar", [{"model": model, "word": w, "k": 100}
                                        for w in rng.choice(words, 200).tolist()]),
        "/predict lid.176 (1 text)": ("/predict", [{"model": "lid", "texts": [t], "k": 1}
                                                   for t in TEXTS]),
    }


def search_in_process(v, words: list[str], k: int = 10, n: int = 5) -> dict:
    """One exact search without a server: wall and CPU time (the scan's threads included),
    median of n words after one untimed search."""
    v.most_similar(words[0], k=k, device="cpu")
    wall, cpu = [], []
    for w in words[1 : n + 1]:
        c0, t0 = time.process_time(), time.perf_counter()
        v.most_similar(w, k=k, device="cpu")
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall_ms": float(np.median(wall)) * 1e3, "cpu_ms": float(np.median(cpu)) * 1e3}


SERVERS = {"vecsmith 1 worker": 1, "vecsmith 2 workers": 2, "gensim+Flask": 0}


def start_server(label: str, store_path: Path, bin_path: Path, warm: bool
                 ) -> tuple[subprocess.Popen, list, int, float]:
    """(process, serving processes, port, seconds until /health answered)."""
    port = free_port()
    workers = SERVERS[label]
    if workers:
        cmd = [sys.executable, "-m", "vecsmith", "serve", f"model={store_path}",
               f"lid={lid176_path()}", "--port", str(port), "--workers", str(workers),
               "--quiet", "--max-k", "1000", *(["--warm"] if warm else [])]
    else:
        cmd = [sys.executable, __file__, "--baseline-server", str(port), str(bin_path),
               str(lid176_path())]
    t0 = time.perf_counter()
    proc = start(cmd, port)
    return proc, server_processes(proc, workers), port, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--connections", default="1,4",
                    help="comma-separated connection counts (requests in flight), one run each")
    ap.add_argument("--max-requests", type=int, default=20_000, help="(httpx client only)")
    ap.add_argument("--only", action="append", choices=sorted(SERVERS),
                    help="run only this server (repeatable); others' figures are kept")
    ap.add_argument("--client", choices=["wrk", "httpx"], default=None)
    ap.add_argument("--cases", default="", help="run only the cases whose name contains this")
    ap.add_argument("--baseline-server", nargs=3, metavar=("PORT", "BIN", "LID"))
    args = ap.parse_args()
    if args.baseline_server:
        port, model_bin, lid = args.baseline_server
        baseline_server(int(port), model_bin, lid)
        return 0
    nwords, bucket, dim = (100_000, 200_000, 100) if args.quick else (2_000_000, 2_000_000, 300)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    client = args.client or ("wrk" if shutil.which("wrk") else "httpx")
    conns = [int(c) for c in args.connections.split(",")]
    bin_path, store_path = make_models(nwords, bucket, dim)
    from vecsmith import store

    v = store.open(store_path)
    words = v.words[1:20_001]  # skip </s>; frequent words, as users ask
    oov = [w + "qz" for w in words[:5000]]
    rng = np.random.default_rng(0)
    table = cases(words, oov, "model", rng)
    print(f"model: {nwords} words x {dim} dims (synthetic), store {store_path.stat().st_size >> 20}"
          f" MB float16; client {client}, connections {conns}, {seconds:.0f} s per case; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}", flush=True)

    if any(SERVERS[label] for label in args.only or SERVERS) and \
            any(args.cases in n for n in table if n.startswith("/similar")):
        for k in (10, 100):
            r = search_in_process(v.warm(), words, k)
            print(f"one /similar search in-process, k={k}: {r['wall_ms']:.1f} ms wall, "
                  f"{r['cpu_ms']:.1f} ms CPU (median of 5)", flush=True)
    out = CACHE / f"bench_serve{'_quick' if args.quick else ''}.json"
    saved = json.loads(out.read_text()) if out.exists() else {}
    if saved.get("model") != [nwords, dim] or "results" not in saved:
        saved = {"model": [nwords, dim], "results": {}, "memory": {}, "ready_s": {}}
    results, mem = saved["results"], saved["memory"]
    for label in args.only or list(SERVERS):
        proc, procs, port, ready = start_server(label, store_path, bin_path, warm=not args.quick)
        print(f"\n{label}: ready in {ready:.1f} s", flush=True)
        saved["ready_s"][label] = ready
        try:
            results.setdefault(label, {})
            ticks = box_ticks()
            for name, (path, bodies) in table.items():
                if args.cases not in name:
                    continue
                # a search over 2M words takes ~0.2-5 s: longer runs, so each counts several
                secs = seconds * (3 if path == "/similar" and not args.quick else 1)
                for c in conns:
                    url = f"http://127.0.0.1:{port}{path}"
                    if client == "wrk":
                        r = load_wrk(url, path, bodies, secs, c, procs, CACHE)
                    else:
                        r = asyncio.run(load_httpx(url, bodies, secs, c,
                                                   args.max_requests, procs))
                    r["connections"] = c
                    results[label][f"{name} @{c}"] = r
                    print(f"  {name:30s} c={c:<3d} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:8.2f}"
                          f" ms  p99 {r['p99_ms']:8.2f} ms  server CPU "
                          f"{r['server_cpu_ms']:7.3f} ms/req  ({r['requests']} requests, "
                          f"{r['errors']} errors)", flush=True)
            box = saved.setdefault("box", {})[label] = box_share(ticks, box_ticks())
            print(f"  box during the cases: {box['busy']:.0%} busy, {box['steal']:.1%} steal, "
                  f"{box['nice']:.0%} niced jobs (others'); load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            mem[label] = memory(procs)
            for pid, rss, pss in mem[label]:
                print(f"  memory pid {pid}: RSS {rss:8.1f} MB  PSS {pss:8.1f} MB", flush=True)
        finally:
            stop(proc)
        out.write_text(json.dumps(saved, indent=1))

    base = results.get("gensim+Flask")
    if base:
        print("\nvs gensim+Flask (throughput ratio; server CPU per request ratio):")
        for label in ("vecsmith 1 worker", "vecsmith 2 workers"):
            for n, mine in results.get(label, {}).items():
                if n in base and base[n]["rps"] > 0 and mine["server_cpu_ms"] > 0:
                    print(f"  {label:20s} {n:36s} {mine['rps'] / base[n]['rps']:7.1f}x req/s  "
                          f"{base[n]['server_cpu_ms'] / mine['server_cpu_ms']:6.1f}x less CPU")
    print(f"(raw figures in {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
