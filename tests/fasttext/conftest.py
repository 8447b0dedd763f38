"""Fixtures for the fastText reader: the official implementation as oracle, real models."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from vecsmith.datasets import gensim_test_file, lid176_path

fasttext = pytest.importorskip("fasttext")
fasttext_pybind = pytest.importorskip("fasttext_pybind")

# Every model gensim ships that the official (current) fastText reads.
OFFICIAL_READABLE = [
    "crime-and-punishment.bin",
    "lee_fasttext_new.bin",
    "pang_lee_polarity_fasttext.bin",
    "toy-model.bin",
]
# Pre-2017 files without a magic number: the official code refuses them; gensim reads them.
LEGACY = ["lee_fasttext.bin", "non_ascii_fasttext.bin", "cp852_fasttext.bin"]


def load_official(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fasttext.load_model(str(path))


def official_vector(model, word: bytes) -> np.ndarray:
    """The official getWordVector, called with raw bytes (pybind accepts bytes)."""
    vec = fasttext_pybind.Vector(model.get_dimension())
    model.f.getWordVector(vec, word)
    return np.array(vec, dtype=np.float32)


def official_vectors(model, words) -> np.ndarray:
    return np.stack([official_vector(model, w) for w in words])


def official_predict(model, text: str, k: int, threshold: float = 0.0):
    pairs = model.f.predict(text + "\n", k, threshold, "strict")
    return [label for _, label in pairs], np.array([p for p, _ in pairs])


def oov_strings(n: int = 10_000, seed: int = 0) -> list[bytes]:
    """Out-of-vocabulary strings over many scripts: ASCII, Cyrillic, CJK, emoji and other
    4-byte characters, combining marks, accented Latin, mixed."""
    rng = random.Random(seed)
    alphabets = [
        [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789-'_"),
        [chr(c) for c in range(0x0430, 0x0450)],
        [chr(c) for c in range(0x4E00, 0x4E00 + 400)],
        [chr(c) for c in range(0x1F600, 0x1F650)] + [chr(c) for c in range(0x1D400, 0x1D440)],
        [chr(c) for c in range(0x00E0, 0x0100)],
        [chr(c) for c in range(0x3040, 0x30A0)],
    ]
    combining = [chr(c) for c in range(0x0300, 0x0370)]
    out = []
    for i in range(n):
        kind = i % 7
        length = rng.randint(1, 14)
        if kind < 6:
            chars = [rng.choice(alphabets[kind]) for _ in range(length)]
        else:
            pool = [c for a in alphabets for c in a]
            chars = [rng.choice(pool) for _ in range(length)]
        if rng.random() < 0.2:  # combining marks after base characters
            for _ in range(rng.randint(1, 3)):
                chars.insert(rng.randint(1, len(chars)), rng.choice(combining))
        out.append("".join(chars).encode("utf-8"))
    return out


@pytest.fixture(scope="session")
def oov():
    return oov_strings()


@pytest.fixture(scope="session")
def lid_path():
    return lid176_path()


@pytest.fixture(scope="session")
def gensim_path():
    return gensim_test_file
