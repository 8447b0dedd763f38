"""Seeded mutation fuzzing of every vecsmith loader, in a child process with a memory limit.

A mutant is a real file made from a small valid one (bit flips, size fields set to extremes,
truncations, appended garbage, JSON type changes in safetensors headers). A worker process
loads mutants one by one, under an address-space limit of (its size after imports + the largest
seed + 512 MB), and answers one query with what loaded. The only allowed outcomes are "ok" (a
working model that answered) and "typed" (the loader's own error). Anything else is a finding:
"untyped" (another exception), "crash" (the worker died, e.g. SIGSEGV/SIGBUS), "hang" (no
answer within the timeout), "memory" (MemoryError: an allocation the file did not justify).

Used by tests/fuzz/test_fuzz_loaders.py (a few dozen mutants per loader) and by
benchmarks/fuzz_loaders.py (thousands).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
EXTREMES_32 = [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0xFFFF, 65536, 255]
EXTREMES_64 = [0, -1, 2**31, 2**32, 2**62, 2**63 - 1, -(2**63), 2**40]
JSON_VALUES = [None, True, -1, 0, 2**32, 2**64, 1e308, -1.5, "abc", "", [], {}, [1, 2],
               {"a": 1}, "9" * 30, [[[[[]]]]]]
LOADERS = ("fasttext", "store", "transfer", "compressed", "text", "word2vec", "npy", "rnn",
           "stems", "linear")


# ------------------------------------------------------------------ seeds (small valid files)

def build_seeds(folder: Path) -> dict[str, list[Path]]:
    """Write one or more small valid files per loader under `folder`."""
    import numpy as np

    from vecsmith import store
    from vecsmith.datasets import gensim_test_file, lid176_path

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    seeds: dict[str, list[Path]] = {}
    seeds["fasttext"] = [gensim_test_file("toy-model.bin"),
                         gensim_test_file("crime-and-punishment.bin")]
    with contextlib.suppress(Exception):
        if os.path.getsize(lid176_path()) < 2 << 20:
            seeds["fasttext"].append(Path(lid176_path()))
    from vecsmith.fasttext import load_model

    st = folder / "toy.store"
    store.convert_fasttext(load_model(gensim_test_file("toy-model.bin")), st, quiet=True)
    seeds["store"] = [st]
    words = [f"w{i}é" for i in range(40)]
    vecs = rng.standard_normal((40, 6)).astype(np.float32)
    tr = folder / "transfer.store"
    store.convert_vectors(words, vecs, tr, ngrams=(
        rng.standard_normal((32, 6)).astype(np.float32), {"minn": 2, "maxn": 4, "bucket": 32}))
    seeds["transfer"] = [tr]
    seeds["compressed"] = _compressed_seeds(folder, rng)
    text = folder / "v.vec"
    text.write_text(f"{len(words)} 6\n" + "".join(
        f"{w} {' '.join(f'{x:.4f}' for x in r)}\n" for w, r in zip(words, vecs, strict=True)),
        encoding="utf-8")
    seeds["text"] = [text]
    w2v = folder / "v.bin"
    w2v.write_bytes(f"{len(words)} 6\n".encode() + b"".join(
        w.encode() + b" " + r.astype("<f4").tobytes() + b"\n"
        for w, r in zip(words, vecs, strict=True)))
    seeds["word2vec"] = [w2v]
    npy = folder / "m.npy"
    np.save(npy, vecs)
    (folder / "m.words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    seeds["npy"] = [npy]

    import torch

    from vecsmith.rnn import CharRNNClassifier, StemEmbedder

    torch.manual_seed(0)
    clf = CharRNNClassifier.build(["abcdefgh"], ["x", "y"], hidden_size=6, embedding_dim=4)
    seeds["rnn"] = [clf.save(folder / "rnn") / "weights.safetensors"]
    from vecsmith.rnn.vocab import CharVocab

    stem = StemEmbedder(CharVocab.build(["abcdefgh"]), 4, hidden_size=5, embedding_dim=3)
    seeds["stems"] = [stem.save(folder / "stems") / "weights.safetensors"]

    from vecsmith.linear import OnlineLinearClassifier

    lin = OnlineLinearClassifier(bits=8)
    lin.partial_fit(["a b c", "d e", "a d", "c"], ["p", "q", "r", "p"], classes=["p", "q", "r"])
    seeds["linear"] = [folder / "m.lin"]
    lin.save(seeds["linear"][0])
    return seeds


def _compressed_seeds(folder: Path, rng) -> list[Path]:
    """Compressed stores with the optional parts the reader checks: residual stages (24 kB),
    the dense tier (30 kB), untrained rows (bucket rows no word uses are fastText's seeded
    init) in both."""
    import numpy as np

    from vecsmith import store
    from vecsmith._batch import pack_words
    from vecsmith.fasttext.init_rows import InitLayout
    from vecsmith.store.compress import compress
    from vecsmith.subwords import compiled

    words = ["".join(rng.choice(list("abcdef"), int(rng.integers(3, 7)))) for _ in range(300)]
    words = list(dict.fromkeys(words))
    bucket, dim = 400, 6
    blob, offs = pack_words(words)
    used = np.unique(compiled().word_bucket_ids(blob, offs, 2, 3, bucket, False)[0])
    rows = InitLayout(len(words) + bucket, len(words), dim, 0, 10).rows(np.arange(bucket))
    rows[used] = rng.standard_normal((len(used), dim)).astype(np.float32)
    src = folder / "ngrams.store"
    store.convert_vectors(words, rng.standard_normal((len(words), dim)).astype(np.float32),
                          src, dtype="float32",
                          ngrams=(rows, {"minn": 2, "maxn": 3, "bucket": bucket}))
    return [compress(src, folder / f"compressed{size}.store", size=size, pq_subvectors=3,
                     bits=4, max_words=len(words) // 2, checksum=False)
            for size in ("24kB", "30kB")]


# ------------------------------------------------------------------ mutations

def _safetensors_header(data: bytes) -> tuple[int, dict] | None:
    if len(data) < 9:
        return None
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8:
        return None
    try:
        return hlen, json.loads(data[8:8 + hlen])
    except ValueError:
        return None


def _json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _json_paths(v, (*prefix, i))


def _mutate_json(value, rng: random.Random):
    """Change one value somewhere in `value` (a parsed JSON document) to another type or an
    extreme; JSON kept in strings (safetensors metadata) is parsed and mutated too."""
    paths = [p for p in _json_paths(value) if p]
    if not paths:
        return rng.choice(JSON_VALUES)
    path = rng.choice(paths)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    old = parent[path[-1]]
    if isinstance(old, str) and old[:1] in "{[" and rng.random() < 0.7:
        try:
            inner = json.loads(old)
            parent[path[-1]] = json.dumps(_mutate_json(inner, rng))
            return value
        except ValueError:
            pass
    if rng.random() < 0.3 and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(old, str) and rng.random() < 0.5:
        parent[path[-1]] = str(rng.choice(JSON_VALUES))
    else:
        parent[path[-1]] = rng.choice(JSON_VALUES)
    return value


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One seeded mutation of `data`: (what was done, the new bytes)."""
    kinds = ["bitflip", "extreme32", "extreme64", "truncate", "append", "splice"]
    head = _safetensors_header(data)
    if head is not None:
        kinds += ["json"] * 4
    kind = rng.choice(kinds)
    b = bytearray(data)
    if kind == "bitflip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b)) if rng.random() < 0.5 else rng.randrange(min(len(b), 512))
            b[i] ^= 1 << rng.randrange(8)
    elif kind in ("extreme32", "extreme64"):
        width, values = (4, EXTREMES_32) if kind == "extreme32" else (8, EXTREMES_64)
        limit = max(1, min(len(b), 400 if rng.random() < 0.7 else len(b)) - width)
        at = rng.randrange(limit)
        at -= at % 4 if rng.random() < 0.6 else 0
        fmt = "<i" if width == 4 else "<q"
        b[at:at + width] = struct.pack(fmt, rng.choice(values))[: max(0, len(b) - at)]
    elif kind == "truncate":
        b = b[: rng.randrange(len(b))]
    elif kind == "append":
        b += bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 64, 4096])))
    elif kind == "splice":  # a block copied over another place (misaligned structure)
        n = rng.randint(1, 64)
        src, dst = rng.randrange(len(b)), rng.randrange(len(b))
        b[dst:dst + n] = b[src:src + n]
    elif kind == "json":
        hlen, header = head
        raw = json.dumps(_mutate_json(header, rng)).encode()
        if rng.random() < 0.1:
            raw = b'{"__metadata__":' + b"[" * 100000 + b"]" * 100000 + b"}"
        raw += b" " * (-len(raw) % 8)
        b = bytearray(struct.pack("<Q", len(raw)) + raw + data[8 + hlen:])
    return kind, bytes(b)


def place(loader: str, seed: Path, data: bytes, folder: Path) -> Path:
    """Write mutant bytes where the loader reads them; returns what to pass to the loader."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if loader in ("rnn", "stems"):
        (folder / "weights.safetensors").write_bytes(data)
        return folder
    target = folder / seed.name
    target.write_bytes(data)
    if loader == "npy":
        shutil.copy(seed.with_suffix(".words.txt"), folder / f"{seed.stem}.words.txt")
    return target


# ------------------------------------------------------------------ the worker (child process)

def _load_and_query(loader: str, path: str):
    """Load `path` with the loader and ask it one question; returns a short summary."""
    if loader == "fasttext":
        from vecsmith.fasttext import load_model
        m = load_model(path)
        v = m.get_word_vector("hello")
        if m.nlabels and m.args.model == 3:
            m.predict("hello world", k=2)
        return f"dim {v.shape[0]}"
    if loader in ("store", "transfer", "compressed"):
        from vecsmith import store
        v = store.open(path)
        out = v.get_many(["hello", v.word(0) if v.nwords else "x"], missing="zero")
        if v.nwords:  # a finite query: a stored NaN row as query is a documented ValueError
            import numpy as np
            v.most_similar(np.ones(v.dim, np.float32), k=3, device="cpu")
        return f"{out.shape}"
    if loader in ("text", "word2vec", "npy"):
        from vecsmith.wordvectors import read_word_vectors
        words, vectors = read_word_vectors(path)
        return f"{len(words)} {vectors.shape}"
    if loader in ("rnn", "stems"):
        from vecsmith.rnn import CharRNNClassifier, StemEmbedder
        if loader == "rnn":
            return str(CharRNNClassifier.load(path).predict(["abc", ""]))
        return str(StemEmbedder.load(path).embed(["abc"]).shape)
    if loader == "_segfault":  # the harness's own check that a crash is caught
        import ctypes
        ctypes.string_at(0)
    if loader == "linear":
        from vecsmith.linear import OnlineLinearClassifier
        return str(OnlineLinearClassifier.load(path).predict(["a b"]))
    raise ValueError(loader)


def _typed_errors(loader: str) -> tuple[type, ...]:
    if loader == "fasttext":
        from vecsmith.fasttext import FastTextFormatError
        return (FastTextFormatError,)
    if loader in ("store", "transfer", "compressed"):
        from vecsmith.store import StoreFormatError
        return (StoreFormatError,)
    if loader in ("text", "word2vec", "npy"):
        from vecsmith.wordvectors import WordVectorsError
        return (WordVectorsError,)
    if loader in ("rnn", "stems"):
        from vecsmith.rnn import ModelFormatError
        return (ModelFormatError,)
    from vecsmith.linear import LinearModelFormatError
    return (LinearModelFormatError,)


def worker(extra_bytes: int) -> None:
    """Read {"loader", "path"} lines on stdin, answer {"outcome", "detail"} lines on stdout."""
    import numpy  # noqa: F401  (imports before the limit: their mappings are not the file's)
    import torch  # noqa: F401

    for name in LOADERS:  # import every loader (and compile kernels) before the limit
        _typed_errors(name)
    import vecsmith.fasttext.model
    import vecsmith.store.vectors  # noqa: F401

    warnings.simplefilter("ignore")
    vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + extra_bytes, resource.RLIM_INFINITY))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            detail = _load_and_query(job["loader"], job["path"])
            outcome = "ok"
        except MemoryError as exc:
            outcome, detail = "memory", f"MemoryError: {exc}"
        except _typed_errors(job["loader"]) as exc:
            outcome, detail = "typed", str(exc)[:300]
        except BaseException as exc:  # every other exception is a finding
            outcome, detail = "untyped", f"{type(exc).__name__}: {str(exc)[:300]}"
        print(json.dumps({"outcome": outcome, "detail": detail}), flush=True)


# ------------------------------------------------------------------ the parent

@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    findings: list[dict] = field(default_factory=list)
    seconds: float = 0.0


class _Worker:
    def __init__(self, extra_bytes: int):
        env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(extra_bytes)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        ready = self._read(300)
        if not ready or not ready.get("ready"):
            raise RuntimeError("fuzz worker did not start")

    def _read(self, timeout: float) -> dict | None:
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def ask(self, loader: str, path: Path, timeout: float) -> dict:
        try:
            self.proc.stdin.write(json.dumps({"loader": loader, "path": str(path)}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.proc.wait()
            return {"outcome": "crash", "detail": f"worker died with {self.proc.returncode}"}
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else None
        if line:
            return json.loads(line)
        if line == "":  # end of output: the worker died; reap it for its exit status
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            return {"outcome": "hang", "detail": f"no answer in {timeout} s"}
        return {"outcome": "crash", "detail": f"worker died with {self.proc.returncode}"}

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            self.proc.wait(timeout=30)


def fuzz(seeds: dict[str, list[Path]], n: int, seed: int = 0, timeout: float = 20.0,
         workdir: Path | None = None) -> dict[str, Report]:
    """Run `n` mutants of each loader's seeds through it (one worker process for all, restarted
    after a crash or hang); count outcomes per loader and keep the findings' files."""
    extra = max(p.stat().st_size for ps in seeds.values() for p in ps) + (512 << 20)
    own_tmp = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="vecsmith-fuzz-")) if own_tmp else workdir
    reports = {name: Report() for name in seeds}
    w = _Worker(extra)
    try:
        for loader, paths in seeds.items():
            rng = random.Random(f"{loader}:{seed}")
            report = reports[loader]
            start = time.perf_counter()
            for i in range(n):
                src = rng.choice(paths)
                kind, data = mutate(src.read_bytes(), rng)
                path = place(loader, src, data, workdir / "mutant")
                answer = w.ask(loader, path, timeout)
                report.counts[answer["outcome"]] += 1
                report.counts[f"kind:{kind}"] += 1
                if answer["outcome"] not in ("ok", "typed"):
                    keep = workdir / f"finding-{loader}-{i}-{src.name}"
                    keep.write_bytes(data)
                    report.findings.append({"i": i, "kind": kind, "seed": src.name,
                                            "file": str(keep), **answer})
                    if answer["outcome"] in ("crash", "hang"):
                        w = _Worker(extra)
            report.seconds = time.perf_counter() - start
    finally:
        w.close()
        if own_tmp and not any(r.findings for r in reports.values()):
            shutil.rmtree(workdir, ignore_errors=True)
    return reports


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--worker":
    worker(int(sys.argv[2]))
