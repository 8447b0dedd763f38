"""`SubwordEmbedding`: a vecsmith store (or fastText model) as a layer of a PyTorch model.

A pretrained embedding inside a model must also embed words it never saw; fastText's n-grams
do that. This layer returns exactly what the store returns — the stored row for a vocabulary
word, the float32 mean of its n-gram rows for any other word — and, when trainable, gives the
rows it used *sparse* gradients (as `nn.EmbeddingBag(sparse=True)`), so that a model of this
layer plus dense layers trains with one `vecsmith.optim.DenseSparseOptimizer` (or `SMORMS3`).

    >>> emb = SubwordEmbedding.from_store("cc.en.300.store")           # frozen, no copy
    >>> emb(["cat", "unseenword"])                                      # (2, 300)
    >>> emb([["a", "short", "text"], ["another"]], reduce="mean")       # (2, 300)
    >>> tuned = SubwordEmbedding.from_store("cc.en.300.store", freeze=False)
    >>> tuned.save_store("tuned.store")                                 # serve or compress it
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vecsmith.nn._subword_ids import RowIndex, Rows, check_words
from vecsmith.store.format import StoreFile, read_store

TABLES = ("words", "ngrams")  # the store's "vectors" and "ngrams" tensors
TRAIN = ("all", "words", "ngrams")
REDUCE = (None, "none", "mean", "sum", "sentence")


def _map(array: np.ndarray) -> Tensor:
    """A tensor over the store's read-only map: no copy (torch only reads it when frozen)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not writable": frozen tables are read
        return torch.from_numpy(array)


def _as_offsets(offsets, n: int) -> np.ndarray:
    """EmbeddingBag-style bag starts (B,) as (B + 1,) bounds, checked."""
    starts = np.asarray(offsets.cpu() if isinstance(offsets, Tensor) else offsets)
    if starts.ndim != 1 or (starts.size and not np.issubdtype(starts.dtype, np.integer)):
        raise ValueError("offsets must be a 1-D sequence of integer bag starts")
    bounds = np.append(starts.astype(np.int64), n)
    if bounds.size > 1 and (bounds[0] != 0 or np.any(np.diff(bounds) < 0)):
        raise ValueError(f"offsets must start at 0 and not decrease up to {n} tokens, got "
                         f"{starts[:8].tolist()}")
    return bounds


class SubwordEmbedding(nn.Module):
    """Word vectors from a vecsmith store, as a `torch.nn.Module`.

    Build it with `from_store`, `from_fasttext` or `from_vectors` (a transfer table). Tables:
    `words` (the store's precomputed word rows) and `ngrams` (its n-gram rows).

    Args:
        store: an opened store (`vecsmith.store.read_store`).
        freeze: True (default): the tables stay the store's memory map, not copied, float16
            stays float16 (a batch widens only the rows it uses), nothing trains.
        train: with freeze=False, which table trains: "all" (default), "words" or "ngrams";
            the other stays frozen. Trainable tables are float32 copies.
        seen: with freeze=False, train only the rows these words reach (their word rows, or
            for words outside the vocabulary their n-gram rows); the trainable copy then
            holds just those rows and every other row stays the frozen map — for large
            stores where a float32 copy of every row would not fit or is not wanted.

    As in the store, a vocabulary word is its own row and never its n-grams: training the
    n-gram rows moves only words outside the vocabulary. Frozen tables are non-persistent
    buffers (the store is their source), so `state_dict()` holds only what trains.
    """

    def __init__(self, store: StoreFile, freeze: bool = True, train: str = "all",
                 seen: Sequence[str | bytes] | None = None):
        super().__init__()
        from vecsmith.store import Vectors

        if train not in TRAIN:
            raise ValueError(f"train must be one of {TRAIN}, not {train!r}")
        if freeze and seen is not None:
            raise ValueError("seen= chooses rows to train: it needs freeze=False")
        self.store_file = store
        self.vectors = Vectors(store)  # validates the store; its word lookups
        self.index = RowIndex(self.vectors, store.metadata, store.tensors)
        self.dim = self.vectors.dim
        self.freeze, self.train_tables = freeze, () if freeze else (
            TABLES if train == "all" else (train,))
        arrays = {"words": self.vectors.vectors, "ngrams": store.tensors.get("ngrams")}
        if arrays["ngrams"] is None or self.index.nrows == 0:
            arrays["ngrams"] = np.zeros((0, self.dim), dtype=self.vectors.vectors.dtype)
        seen_rows = self.index.rows(seen) if seen is not None else None
        self._mode: dict[str, str] = {}
        for name, array in arrays.items():
            self._setup_table(name, array, seen_rows)
        self._vocab: Rows | None = None

    def _setup_table(self, name: str, array: np.ndarray, seen_rows: Rows | None) -> None:
        """Register table `name` as a frozen buffer over the map, a float32 Parameter, or
        (seen=) a frozen buffer plus a Parameter of the seen rows and a row -> slot map."""
        if name not in self.train_tables:
            self.register_buffer(f"{name}_table", _map(array), persistent=False)
            self._mode[name] = "frozen" if array.dtype == np.float32 else "frozen_half"
            return
        if seen_rows is None:
            self.register_parameter(f"{name}_table", nn.Parameter(
                torch.from_numpy(np.array(array, dtype=np.float32))))
            self._mode[name] = "param"
            return
        used = seen_rows.word_ids[seen_rows.word_ids >= 0] if name == "words" else (
            seen_rows.ngram_rows)
        used = np.unique(used)
        slots = np.full(len(array), -1, dtype=np.int64)
        slots[used] = np.arange(len(used))
        self.register_buffer(f"{name}_table", _map(array), persistent=False)
        self.register_buffer(f"{name}_slots", torch.from_numpy(slots))
        self.register_buffer(f"{name}_seen_rows", torch.from_numpy(used))
        self.register_parameter(f"{name}_seen", nn.Parameter(
            torch.from_numpy(np.array(array[used], dtype=np.float32).reshape(-1, self.dim))))
        self._mode[name] = "seen"

    # -- builders ------------------------------------------------------------------------
    @classmethod
    def from_store(cls, store, **kwargs) -> SubwordEmbedding:
        """From a store path, a `vecsmith.store.Vectors` or a `StoreFile`."""
        if isinstance(store, StoreFile):
            return cls(store, **kwargs)
        path = getattr(store, "path", store)  # a Vectors: map its file again (cheap, shared)
        return cls(read_store(path), **kwargs)

    @classmethod
    def from_fasttext(cls, model, cache: str | os.PathLike | None = None,
                      **kwargs) -> SubwordEmbedding:
        """From a fastText `.bin`/`.ftz` (path or `FastTextModel`), through a float32 store
        written to `cache` (kept, so the next run opens it in milliseconds) or to a temporary
        file that is unlinked once mapped. Quantized `.ftz` rows are decoded."""
        from vecsmith.store import convert_fasttext

        return cls._through_store(lambda out: convert_fasttext(
            model, out, dtype="float32", search_index=False, checksum=False, quiet=True),
            cache, kwargs)

    @classmethod
    def from_vectors(cls, words: Sequence[str], vectors: np.ndarray, ngrams=None,
                     cache: str | os.PathLike | None = None, **kwargs) -> SubwordEmbedding:
        """From word vectors (GloVe, word2vec) and optionally a subword-transfer table
        (`vecsmith.transfer.SubwordTable`, or `(table, {"minn", "maxn", "bucket"})`), which
        lets the layer embed words outside `words`."""
        from vecsmith.store import convert_vectors

        if ngrams is not None and hasattr(ngrams, "params"):
            ngrams = (ngrams.table, ngrams.params)
        return cls._through_store(lambda out: convert_vectors(
            words, vectors, out, dtype="float32", ngrams=ngrams, quiet=True,
            search_index=False), cache, kwargs)

    @classmethod
    def _through_store(cls, write, cache, kwargs) -> SubwordEmbedding:
        if cache is not None:
            return cls(read_store(write(cache)), **kwargs)
        with tempfile.TemporaryDirectory(prefix="vecsmith-nn-") as folder:
            store = read_store(write(os.path.join(folder, "table.store")))  # the map outlives
        return cls(store, **kwargs)                                         # the name

    # -- facts ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.words_table.device

    def extra_repr(self) -> str:
        return (f"{os.path.basename(self.store_file.path)!r}, words={len(self.vectors)}, "
                f"ngram_rows={self.index.nrows}, dim={self.dim}, dtype={self.vectors.dtype}, "
                f"modes={self._mode}")

    def rows(self, words: Sequence[str | bytes]) -> Rows:
        """The table rows that embed `words` (compiled hashing and lookups, one call)."""
        return self.index.rows(words)

    def set_vocabulary(self, words: Sequence[str | bytes]) -> None:
        """Cache the rows of a fixed word list; `forward` then takes indices into it (a
        LongTensor), as `nn.Embedding` does, and skips hashing entirely."""
        self._vocab = self.rows(words)

    # -- embedding -----------------------------------------------------------------------
    def _bag(self, name: str, flat: Tensor, starts: Tensor) -> Tensor:
        """Sum of table rows per bag, float32, in the rows' order (empty bags: zeros)."""
        table = getattr(self, f"{name}_table")
        mode = self._mode[name]
        if mode == "param":
            return F.embedding_bag(flat, table, starts, mode="sum", sparse=True)
        if mode == "frozen":
            return F.embedding_bag(flat, table, starts, mode="sum")
        # Only the rows this batch uses are widened (float16) or swapped for trained ones.
        used, inverse = torch.unique(flat, return_inverse=True)
        sub = table[used].float()
        if mode == "seen":
            slots = getattr(self, f"{name}_slots")[used]
            at = torch.nonzero(slots >= 0).squeeze(1)
            trained = F.embedding(slots[at], getattr(self, f"{name}_seen"), sparse=True)
            sub = sub.index_put((at,), trained)
        return F.embedding_bag(inverse, sub, starts, mode="sum")

    def embed_rows(self, rows: Rows) -> Tensor:
        """(len(rows), dim) float32 vectors of `Rows`: stored rows for known words, n-gram
        means for the others, summed as the store sums (bit-identical on float32 stores)."""
        dev = self.device
        n = len(rows)
        if n == 0:
            return torch.zeros((0, self.dim), dtype=torch.float32, device=dev)
        wids = torch.from_numpy(rows.word_ids)
        known = wids >= 0
        starts = torch.zeros(n, dtype=torch.int64)
        torch.cumsum(known[:-1], 0, out=starts[1:])
        out = self._bag("words", wids[known].to(dev), starts.to(dev))
        if len(rows.ngram_rows) == 0:
            return out
        counts = np.diff(rows.ngram_offsets)
        scale = np.ones(n, dtype=np.float32)
        has = counts > 0
        scale[has] = (1.0 / counts[has]).astype(np.float32)  # as the store: one reciprocal
        sums = self._bag("ngrams", torch.from_numpy(rows.ngram_rows).to(dev),
                         torch.from_numpy(rows.ngram_offsets[:-1]).to(dev))
        return out + sums * torch.from_numpy(scale).to(dev)[:, None]

    def forward(self, words, offsets=None, reduce: str | None = None) -> Tensor:
        """Vectors of words, float32.

        - `words` a list of words: (n, dim), as `store.get_many`.
        - `words` a list of token lists: (batch, longest, dim), zero rows as padding; with
          `reduce` one row per list: "mean", "sum", or "sentence" (fastText's sentence vector
          of an unsupervised model: the mean of the unit-length token vectors, zero vectors
          skipped). Empty lists give zero rows.
        - `words` a flat token list and `offsets` (bag starts, as `nn.EmbeddingBag`): one row
          per bag, `reduce` "mean" by default.
        - `words` a LongTensor of indices into `set_vocabulary`'s list: 1-D as a word list
          (with `offsets` as bags), 2-D (batch, length) with negative indices as padding.
        """
        if reduce not in REDUCE:
            raise ValueError(f"reduce must be one of {REDUCE[1:]}, not {reduce!r}")
        if isinstance(words, Tensor):
            return self._forward_ids(words, offsets, reduce)
        if isinstance(words, (str, bytes)):
            raise TypeError(f"expected a list of words or of token lists, got a single "
                            f"{type(words).__name__} {words[:40]!r} (wrap it in a list)")
        words = list(words)
        if words and isinstance(words[0], (list, tuple)) and offsets is None:
            lists = []
            for i, t in enumerate(words):
                if not isinstance(t, (list, tuple)):
                    raise TypeError(f"batch entry {i} is a {type(t).__name__}, not a token "
                                    "list: pass a list of words or a list of token lists, not "
                                    "a mix")
                lists.append(check_words(t, "token"))
            lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
            flat = [w for t in lists for w in t]
            return self._batch(self.embed_rows(self.rows(flat)), lengths, reduce)
        vecs = self.embed_rows(self.rows(words))
        if offsets is None:
            if reduce not in (None, "none"):
                raise ValueError("reduce needs token lists or offsets: a flat word list "
                                 "gives one vector per word")
            return vecs
        bounds = _as_offsets(offsets, len(words))
        return self._reduce(vecs, bounds, reduce or "mean")

    def _forward_ids(self, ids: Tensor, offsets, reduce: str | None) -> Tensor:
        if self._vocab is None:
            raise RuntimeError("integer input indexes the cached vocabulary: call "
                               "set_vocabulary(words) first, or pass the words themselves")
        if ids.dtype not in (torch.int64, torch.int32) or ids.dim() not in (1, 2):
            raise TypeError(f"indices must be a 1-D or 2-D int64/int32 tensor, got {ids.dtype} "
                            f"of shape {tuple(ids.shape)}")
        flat = ids.detach().cpu().numpy().astype(np.int64).reshape(-1)
        valid = flat >= 0 if ids.dim() == 2 else np.ones(len(flat), dtype=bool)
        size = len(self._vocab)
        if np.any(flat >= size) or (ids.dim() == 1 and np.any(flat < 0)):
            bad = flat[(flat >= size) | ((flat < 0) & (ids.dim() == 1))][:5]
            raise IndexError(f"indices {bad.tolist()} outside the cached vocabulary of {size}")
        vecs = self.embed_rows(self._vocab.take(flat[valid]))
        if ids.dim() == 1:
            if offsets is None:
                if reduce not in (None, "none"):
                    raise ValueError("reduce needs offsets or a 2-D index tensor")
                return vecs
            return self._reduce(vecs, _as_offsets(offsets, len(flat)), reduce or "mean")
        if offsets is not None:
            raise ValueError("offsets go with 1-D indices; a 2-D tensor is already batched")
        lengths = valid.reshape(ids.shape).sum(axis=1)
        if reduce in (None, "none"):  # keep the caller's positions: padding where it was
            out = vecs.new_zeros((len(flat), self.dim))
            pos = torch.from_numpy(np.flatnonzero(valid)).to(vecs.device)
            return out.index_copy(0, pos, vecs).view(*ids.shape, self.dim)
        return self._batch(vecs, lengths, reduce)

    def _batch(self, vecs: Tensor, lengths: np.ndarray, reduce: str | None) -> Tensor:
        bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        if reduce not in (None, "none"):
            return self._reduce(vecs, bounds, reduce)
        longest = int(lengths.max()) if len(lengths) else 0
        seq = np.repeat(np.arange(len(lengths)) * longest - bounds[:-1], lengths)
        pos = torch.from_numpy(seq + np.arange(bounds[-1], dtype=np.int64)).to(vecs.device)
        out = vecs.new_zeros((len(lengths) * longest, self.dim))
        return out.index_copy(0, pos, vecs).view(len(lengths), longest, self.dim)

    def _reduce(self, vecs: Tensor, bounds: np.ndarray, reduce: str) -> Tensor:
        """One row per bag `bounds[i]:bounds[i+1]` of `vecs` (differentiable, empty: zeros)."""
        dev = vecs.device
        index = torch.arange(len(vecs), device=dev)
        starts = torch.from_numpy(bounds[:-1]).to(dev)
        if reduce in ("mean", "sum"):
            return F.embedding_bag(index, vecs, starts, mode=reduce)
        # fastText's unsupervised sentence vector: sum of v / |v| over nonzero v, / count
        norms = torch.linalg.vector_norm(vecs, dim=1)
        nonzero = norms > 0
        weights = torch.where(nonzero, 1.0 / torch.where(nonzero, norms, 1.0), 0.0)
        sums = F.embedding_bag(index, vecs, starts, mode="sum", per_sample_weights=weights)
        counts = F.embedding_bag(index, nonzero.float()[:, None], starts, mode="sum")[:, 0]
        return sums * torch.where(counts > 0, 1.0 / counts.clamp(min=1), 0.0)[:, None]

    # -- tables and saving ---------------------------------------------------------------
    def table(self, name: str) -> np.ndarray:
        """Table "words" or "ngrams" as it stands (trained rows included), float32 numpy."""
        if name not in TABLES:
            raise ValueError(f"table must be one of {TABLES}, not {name!r}")
        base = getattr(self, f"{name}_table").detach()
        if self._mode[name] != "seen":
            return base.float().cpu().numpy() if self._mode[name] != "frozen" else (
                base.cpu().numpy())
        out = base.float().cpu().numpy().copy()
        rows = getattr(self, f"{name}_seen_rows").cpu().numpy()
        out[rows] = getattr(self, f"{name}_seen").detach().float().cpu().numpy()
        return out

    def save_store(self, path: str | os.PathLike, dtype: str | None = None):
        """Write the tables as they stand as a store at `path`, atomically (same vocabulary,
        hashing and prune map as the source; `dtype` "float16"/"float32", default the
        source's), so tuned vectors can be opened, served or compressed like any store."""
        from vecsmith.nn.save import write_store

        return write_store(self, path, dtype)
