"""Write synthetic fastText models in the exact `.bin` layout, for benchmarks and tests.

Load and lookup costs depend on shapes, not on trained values: a model of the public
cc.*.300.bin size (2M words, 2M buckets, 300 dims) is written in a few minutes this way,
where training one takes far longer and 8 GB of memory.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from vecsmith._atomic import atomic_open
from vecsmith.fasttext.format import MAGIC

VERSION = 12


def synthetic_words(n: int, seed: int = 0) -> list[bytes]:
    """n distinct lowercase words of 3-14 letters."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    out, seen = [], set()
    while len(out) < n:
        lengths = rng.integers(3, 15, size=n)
        chars = letters[rng.integers(0, 26, size=int(lengths.sum()))].tobytes()
        pos = 0
        for length in lengths:
            w = chars[pos : pos + length]
            pos += length
            if w not in seen:
                seen.add(w)
                out.append(w)
                if len(out) == n:
                    break
    return out


def write_synthetic_model(path: Path, nwords: int, bucket: int, dim: int, seed: int = 0) -> None:
    """Write a dense version-12 fastText .bin (cbow, ns, minn = maxn = 5) with random rows,
    streaming the matrices so memory stays small; replaces `path` only when complete."""
    rng = np.random.default_rng(seed)
    words = [b"</s>", *synthetic_words(nwords - 1, seed)]
    with atomic_open(path, "wb") as f:
        f.write(struct.pack("<ii", MAGIC, VERSION))
        # dim ws epoch minCount neg wordNgrams loss(ns) model(cbow) bucket minn maxn lrUpdateRate t
        f.write(struct.pack("<12id", dim, 5, 5, 5, 10, 1, 2, 1, bucket, 5, 5, 100, 1e-4))
        f.write(struct.pack("<iiiqq", nwords, nwords, 0, nwords * 50, -1))
        counts = np.sort(rng.zipf(1.3, size=nwords).astype(np.int64))[::-1] + 5
        f.write(b"".join(w + b"\0" + struct.pack("<qb", int(c), 0) for w, c in zip(words, counts)))
        for rows in (nwords + bucket, nwords):
            f.write(b"\0")  # quant_input, then qout: false
            f.write(struct.pack("<qq", rows, dim))
            step = max(1, (1 << 26) // dim)
            for s in range(0, rows, step):
                n = min(step, rows - s)
                f.write((rng.standard_normal((n, dim), dtype=np.float32) * 0.05).tobytes())


