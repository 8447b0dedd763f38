"""The one adapter between the server and the library: a served model, whatever its file.

Everything the routes need from a model (vectors with an OOV flag, sentence vectors,
neighbours, analogies, predictions, facts for `/models`) goes through `ServedModel`, over the
`vecsmith.protocol.VectorSource` protocol that stores and fastText models share; only what the
protocol does not ask (batch word ids, sentence vectors, `restrict`, predictions) is per kind.

It also guards against the file changing under the server: a memory-mapped file that is
rewritten or truncated in place would be read as garbage (or kill the process with SIGBUS),
so `check_file` compares size, inode and mtime with those seen at open, before and after
each answer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vecsmith.protocol import VectorSource

# fastText's unsupervised tokenizer (`std::istream >> word`): split on ASCII whitespace.
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")


class ModelFileChanged(RuntimeError):
    """The model's file was changed or removed after the server opened it."""


class NotInVocabulary(KeyError):
    """A word has no vector (a store without n-grams does not embed unknown words)."""


class CannotPredict(ValueError):
    """The model is not a supervised (classifier) model."""


@dataclass(frozen=True)
class FileIdentity:
    size: int
    inode: int
    device: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileIdentity:
        st = os.stat(path)
        return cls(st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns)


def model_name(spec: str) -> tuple[str, str]:
    """`NAME=PATH` → (NAME, PATH); a bare PATH is named after its file stem."""
    name, sep, path = spec.partition("=")
    if not sep:
        path = spec
        name = Path(spec).stem
    if not name or not path:
        raise ValueError(f"model {spec!r}: give PATH or NAME=PATH")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", name):
        raise ValueError(f"model name {name!r}: use letters, digits, '_', '.', ':' or '-'")
    return name, path


def open_model(name: str, path: str | os.PathLike) -> ServedModel:
    """Open a store or a fastText `.bin`/`.ftz` (told apart by content, not extension)."""
    from vecsmith.store import is_store

    identity = FileIdentity.of(path)
    if is_store(path):
        from vecsmith import store

        return ServedModel(name, str(path), store.open(path), identity)
    from vecsmith.fasttext import load_model

    return ServedModel(name, str(path), load_model(path), identity)


class ServedModel:
    """A model as the routes see it; `impl` is any `vecsmith.protocol.VectorSource` (a store
    `Vectors` or a `FastTextModel`), asked what it is through `describe()`."""

    def __init__(self, name: str, path: str, impl: VectorSource, identity: FileIdentity):
        self.name, self.path, self.impl = name, path, impl
        self.identity = identity
        self.facts = impl.describe()
        self.kind: str = self.facts["kind"]
        # neighbours on the CPU in a server (a store would pick a GPU by itself)
        self._search = {"device": "cpu"} if self.kind == "store" else {}
        self._restricted: np.ndarray | None = None  # unit vocabulary rows, for `restrict`

    # -- facts -----------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.impl.dim)

    @property
    def nwords(self) -> int:
        return int(self.facts["words"])

    @property
    def predicts(self) -> bool:
        return self.facts.get("model") == "supervised"

    @property
    def compressed(self) -> bool:
        """A `vecsmith compress` store (`vecsmith.store.pq`): rows decoded from PQ codes."""
        return self.kind == "store" and self.facts.get("dtype") == "pq"

    @property
    def embeds_unknown_words(self) -> bool:
        return self.facts["subwords"] is not None

    def describe(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "file": os.path.basename(self.path),
               "dim": self.dim, "words": self.nwords, "predicts": self.predicts,
               "embeds_unknown_words": self.embeds_unknown_words}
        if self.kind == "store":
            out["dtype"] = self.facts["dtype"]
            if self.compressed:  # product-quantized rows: say so, and how /similar searches
                out["kind"] = "compressed_store"
                out["search"] = self.facts.get("search", "")
        else:
            out["quantized"] = bool(self.facts["quantized"])
            out["labels"] = int(self.facts["labels"]) if self.predicts else 0
        return out

    def warm(self) -> None:
        self.impl.warm()

    def prepare(self) -> None:
        """Load the compiled kernels now (one lookup, one prediction), so the first request
        does not wait for them on the event loop."""
        self.vectors(["</s>", "vecsmith"])
        if self.predicts:
            self.predict(["vecsmith"], 1, 0.0)

    def check_file(self) -> None:
        """Raise ModelFileChanged unless the file is still the one opened."""
        try:
            now = FileIdentity.of(self.path)
        except FileNotFoundError:
            raise ModelFileChanged(f"model {self.name!r}: its file {self.path} was removed "
                                   "after the server opened it; restart the server") from None
        if now != self.identity:
            raise ModelFileChanged(
                f"model {self.name!r}: its file {self.path} changed on disk after the server "
                f"opened it (size {self.identity.size} -> {now.size}); restart the server to "
                "serve the new file")

    # -- vectors ---------------------------------------------------------------------------
    def word_ids(self, words: list[str]) -> np.ndarray:
        """Vocabulary ids in one batch (-1: unknown); the protocol asks one word at a time."""
        if self.kind == "store":
            return np.asarray(self.impl.word_ids(words))
        return np.asarray(self.impl.get_word_ids(words))

    def vectors(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(len(words), dim) float32 vectors and a bool OOV flag per word. Unknown words get
        their n-gram vector (zeros where the model has no n-grams for them)."""
        if not words:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, bool)
        oov = self.word_ids(words) < 0
        if self.embeds_unknown_words or not oov.any():
            return self.impl.get_word_vectors(words), oov
        out = np.zeros((len(words), self.dim), np.float32)
        if not oov.all():
            out[~oov] = self.impl.get_word_vectors([w for w, o in zip(words, oov) if not o])
        return out, oov

    def sentence_vector(self, text: str) -> np.ndarray:
        """fastText's sentence vector: the mean of the unit word vectors (zero words skipped);
        a supervised fastText model's own `get_sentence_vector` (input rows + word n-grams)."""
        if self.kind == "fasttext":
            return self.impl.get_sentence_vector(text)
        words = [w for w in _WHITESPACE.split(text) if w]
        out = np.zeros(self.dim, dtype=np.float32)
        if not words:
            return out
        vecs, _ = self.vectors(words)
        count = 0
        for v in vecs:
            norm = np.float32(np.sqrt(np.dot(v, v)))
            if norm > 0:
                out += v * np.float32(1.0 / norm)
                count += 1
        if count:
            out *= np.float32(1.0 / count)
        return out

    def embedding(self, text: str) -> np.ndarray:
        """A single word gets its word vector, anything else its sentence vector."""
        words = [w for w in _WHITESPACE.split(text) if w]
        if len(words) == 1 and words[0] == text:
            return self.vectors(words)[0][0]
        return self.sentence_vector(text)

    # -- neighbours ------------------------------------------------------------------------
    def _check_known(self, words: list[str]) -> None:
        if self.embeds_unknown_words:
            return
        unknown = [w for w, i in zip(words, self.word_ids(words)) if i < 0]
        if unknown:
            raise NotInVocabulary(f"not in the vocabulary of {self.name!r} (a store without "
                                  f"n-grams): {unknown[:5]}")

    def similar(self, word: str | None, vector: np.ndarray | None, k: int,
                restrict: int | None) -> list[tuple[str, float]]:
        """The k words of highest cosine to `word` (excluded from the answer) or `vector`,
        among the `restrict` most frequent words when given."""
        if word is not None:
            self._check_known([word])
        if restrict is not None and restrict >= self.nwords:
            restrict = None
        if restrict is None:
            return self.impl.most_similar(word if word is not None else vector, k=k,
                                          **self._search)
        query = self.vectors([word])[0][0] if word is not None else vector
        return self._top_k(query, k, restrict, word)

    def _top_k(self, query: np.ndarray, k: int, stop: int, banned: str | None):
        """Neighbours among rows 0..stop, which the protocol's `most_similar` cannot limit."""
        if not np.all(np.isfinite(query)):
            raise ValueError("the query vector holds inf or NaN: it has no neighbours")
        qnorm = float(np.sqrt(np.dot(query, query)))
        q_unit = (query / (qnorm if qnorm >= 1e-8 else 1.0)).astype(np.float32)
        if self.kind == "store":
            scores = self.impl.cosines(q_unit, 0, stop)
            word_of = self.impl.word
        else:
            if self._restricted is None or len(self._restricted) < stop:
                self._restricted = self.impl.vocabulary_vectors(0, stop, unit=True)
            scores = self._restricted[:stop] @ q_unit
            word_of = self.impl.words.__getitem__
        if banned is not None:
            i = int(self.word_ids([banned])[0])
            if 0 <= i < stop:
                scores[i] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(word_of(int(i)), float(scores[i])) for i in top]

    def analogy(self, a: str, b: str, c: str, k: int) -> list[tuple[str, float]]:
        """Words closest to a - b + c (each unit-normalised); a, b and c excluded."""
        self._check_known([a, b, c])
        return self.impl.analogy(a, b, c, k=k, **self._search)

    # -- classifier ------------------------------------------------------------------------
    def predict(self, texts: list[str], k: int, threshold: float
                ) -> list[list[tuple[str, float]]]:
        if not self.predicts:
            raise CannotPredict(f"model {self.name!r} is not a supervised model: it has no "
                                "labels to predict")
        labels, probs = self.impl.predict(texts, k=k, threshold=threshold)
        return [[(lab, float(p)) for lab, p in zip(ls, ps)] for ls, ps in zip(labels, probs)]
