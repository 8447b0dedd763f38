"""Subword transfer: give word vectors without n-grams (GloVe, word2vec) an n-gram table.

fastText embeds an unseen word as the mean of its hashed character n-gram rows. GloVe and
word2vec have no such rows, so an unseen word has no vector at all. :func:`fit` learns them
in three steps. First the least-squares table (block CGLS from zero, stopped where held-out
words fit best) gives a start whose neighbour structure is already sound. Then an
``nn.EmbeddingBag(mode="mean", sparse=True)`` over the fastText-hashed n-grams of every
vocabulary word, starting from that table, is trained so that the mean of a word's rows points
where the word's own vector points (cosine loss), with a small log-norm term so lengths stay
comparable, frequent words weighted up, random n-gram dropout, and early stopping on held-out
words. Last, a quarter of the plain least-squares table (CGLS run on, not stopped early) is
blended in: the two tables err differently, and the mix keeps more of an unseen word's true
neighbours than either at about the trained table's cosine. The table then goes into a store
(:meth:`SubwordTable.to_store`) whose OOV lookups are exactly fastText's, while vocabulary
words keep their original vectors.

    >>> from vecsmith import transfer, store
    >>> from vecsmith.wordvectors import load_packaged_glove
    >>> words, vectors = load_packaged_glove()
    >>> table = transfer.fit(words, vectors)                  # minn=3, maxn=6, 1M buckets
    >>> table.to_store(words, vectors, "glove.store")
    >>> store.open("glove.store")["unbelieveable"]            # now has a vector

Why these defaults: see ``README.md`` and ``benchmarks/RESULTS.md``
(the ablation over the blend, start, loss, weighting, dropout and bucket count).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vecsmith.subwords import SubwordScheme

__all__ = ["INITS", "LOSSES", "WEIGHTINGS", "SubwordTable", "TransferError", "fit",
           "frequency_weights", "ngram_ids", "stratified_holdout"]

LOSSES = ("cosine", "cosine+norm", "mse")
WEIGHTINGS = ("uniform", "log-rank", "counts")
INITS = ("lstsq", "random", "mean")
MAX_BUCKET = 1 << 31


class TransferError(ValueError):
    """Bad input to subword transfer (shapes, parameters, words without n-grams)."""


# ----------------------------------------------------------------------------- hashing


def _check_ngram_params(minn: int, maxn: int, bucket: int) -> None:
    if not 1 <= minn <= maxn:
        raise TransferError(f"need 1 <= minn <= maxn, got minn={minn}, maxn={maxn}")
    if maxn > 32:
        raise TransferError(f"maxn={maxn} is beyond any sensible n-gram length (max 32)")
    if not 1 <= bucket < MAX_BUCKET:
        raise TransferError(f"bucket must be in [1, 2^31), got {bucket}")


def ngram_ids(words: Sequence[str], minn: int = 3, maxn: int = 6,
              bucket: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """fastText bucket ids of each word's character n-grams: ``(ids, offsets)``.

    Word ``i`` owns ``ids[offsets[i]:offsets[i+1]]`` (empty when it has no n-gram of length
    ``minn..maxn``, e.g. ``"</s>"`` or a too-short word with large ``minn``).
    """
    _check_ngram_params(minn, maxn, bucket)
    words = list(words)
    if not words:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    # Same n-grams, order and `</s>` rule as the store's OOV lookup, so a table trained on
    # these ids answers store queries exactly.
    return SubwordScheme(minn, maxn, bucket).bucket_ids(words)


# ----------------------------------------------------------------------------- splits, weights


def stratified_holdout(n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of ``fraction`` of ``n`` frequency-ranked words, spread evenly over all ranks.

    Words are cut into consecutive blocks of ``round(1/fraction)`` ranks and one random word
    is drawn from each block, so frequent, middling and rare words are held out alike.
    """
    if not 0.0 < fraction < 1.0:
        raise TransferError(f"holdout fraction must be in (0, 1), got {fraction}")
    block = max(2, round(1.0 / fraction))
    rng = np.random.default_rng(seed)
    starts = np.arange(0, n, block)
    sizes = np.minimum(block, n - starts)
    picks = starts + (rng.random(len(starts)) * sizes).astype(np.int64)
    return picks[sizes == block] if len(starts) > 1 else picks


def frequency_weights(n: int, weighting: str = "log-rank",
                      counts: np.ndarray | None = None) -> np.ndarray:
    """Per-word loss weights (mean 1) for ``n`` words given most frequent first.

    ``log-rank`` estimates Zipf counts from the rank (count ∝ 1/rank) and weighs each word by
    ``log(1 + n/rank)``: frequent words, whose vectors are the best estimated and the most
    queried, count up to ~10x more than the rarest; ``counts`` uses ``log(1 + count)`` from
    real counts (a store made from fastText has them); ``uniform`` weighs all words alike.
    """
    if weighting == "uniform":
        w = np.ones(n, dtype=np.float64)
    elif weighting == "log-rank":
        w = np.log1p(n / np.arange(1, n + 1, dtype=np.float64))
    elif weighting == "counts":
        if counts is None or len(counts) != n:
            raise TransferError("weighting='counts' needs one count per word")
        w = np.log1p(np.maximum(np.asarray(counts, dtype=np.float64), 0.0))
    else:
        raise TransferError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    mean = w.mean() if n else 1.0
    return (w / mean if mean > 0 else np.ones(n)).astype(np.float32)


# ----------------------------------------------------------------------------- the result


@dataclass
class SubwordTable:
    """A learned n-gram table and how it hashes: ``table[hash(ngram) % bucket]``.

    ``history`` has one entry per epoch (training loss, held-out mean cosine); ``best_epoch``
    is the epoch whose table was kept (0: the least-squares start); ``lstsq_history`` is the
    held-out mean cosine after each least-squares (CGLS) iteration; ``lstsq_blend`` is the
    weight of the plain least-squares table blended into ``table``, and ``heldout_cosine``
    the held-out mean cosine of ``table`` as returned (blend included).
    """

    table: np.ndarray
    minn: int
    maxn: int
    bucket: int
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    heldout_cosine: float = float("nan")
    seconds: float = 0.0
    device: str = "cpu"
    lstsq_history: list[float] = field(default_factory=list)
    lstsq_blend: float = 0.0

    @property
    def params(self) -> dict:
        """The hashing parameters, as :func:`vecsmith.store.convert_vectors` takes them."""
        return {"minn": self.minn, "maxn": self.maxn, "bucket": self.bucket}

    def embed(self, words: Sequence[str]) -> np.ndarray:
        """fastText-style vectors of ``words`` from the table alone (mean of n-gram rows;
        zeros for a word with no n-grams), whether or not they were in the training vocabulary.
        """
        ids, offsets = ngram_ids(words, self.minn, self.maxn, self.bucket)
        return _bag_means(self.table, ids, offsets)

    def to_store(self, words: Sequence[str], vectors: np.ndarray, out: str | os.PathLike,
                 dtype: str = "float16", source: str = "", source_format: str = "text",
                 quiet: bool = False) -> Path:
        """Write a store: ``words`` keep ``vectors``, any other word gets its n-gram mean."""
        from vecsmith.store import convert_vectors

        return convert_vectors(words, vectors, out, dtype=dtype, source=source,
                               source_format=source_format, ngrams=(self.table, self.params),
                               quiet=quiet)


def _bag_means(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    n = len(offsets) - 1
    out = np.zeros((n, table.shape[1]), dtype=np.float32)
    counts = np.diff(offsets)
    has = counts > 0
    if ids.size:
        sums = np.add.reduceat(table[ids].astype(np.float32), offsets[:-1][has], axis=0)
        out[has] = sums * (np.float32(1.0) / counts[has].astype(np.float32))[:, None]
    return out


# ----------------------------------------------------------------------------- training


def _check_inputs(words: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise TransferError(f"vectors must be a 2-D matrix, got shape {vectors.shape}")
    if vectors.shape[0] != len(words):
        raise TransferError(f"need one vector per word: {len(words)} words, "
                            f"{vectors.shape[0]} rows")
    if vectors.dtype.kind not in "fiu":
        raise TransferError(f"vectors must be numbers, dtype is {vectors.dtype}")
    vectors = np.require(vectors, dtype=np.float32, requirements=["C", "W"])  # torch wants W
    if not np.isfinite(vectors).all():
        raise TransferError("vectors contain NaN or infinity")
    return vectors


def fit(
    words: Sequence[str],
    vectors: np.ndarray,
    minn: int = 3,
    maxn: int = 6,
    bucket: int = 1_000_000,
    *,
    init: str = "lstsq",
    lstsq_iter: int = 60,
    lstsq_blend: float = 0.25,
    loss: str = "cosine+norm",
    norm_weight: float = 0.1,
    contrast: float = 0.0,
    temperature: float = 0.05,
    negatives: int = 1024,
    weighting: str = "log-rank",
    counts: np.ndarray | None = None,
    ngram_dropout: float = 0.2,
    weight_decay: float = 0.0,
    lr_decay: float = 0.5,
    optimizer: str = "smorms3",
    lr: float = 0.05,
    batch_size: int = 256,
    epochs: int = 30,
    holdout: float = 0.02,
    patience: int = 3,
    init_scale: float = 0.1,
    device: str = "auto",
    threads: int | None = None,
    seed: int = 0,
    quiet: bool = False,
) -> SubwordTable:
    """Learn an n-gram table whose fastText-style mean reproduces each word's vector.

    Three steps: a least-squares start (``init="lstsq"``), training with the cosine loss from
    there, and a blend of the trained table with the plain least-squares one
    (``lstsq_blend``). Defaults and why: ``README.md`` and ``benchmarks/RESULTS.md``.

    Args:
        words, vectors: the vocabulary (most frequent first for ``weighting="log-rank"``) and
            its ``(n, dim)`` matrix.
        minn, maxn, bucket: fastText hashing parameters of the table to learn.
        init: ``"lstsq"`` (default): start from the least-squares table, found by block
            CGLS from zero (at most ``lstsq_iter`` iterations, the iterate with the best
            held-out cosine kept; rows no training word reaches stay zero); ``"random"``:
            zero plus Gaussian noise of ``init_scale`` times a typical vector length;
            ``"mean"``: that noise around the mean training vector. The least-squares start
            keeps least squares' neighbour structure, which training from random rows loses
            (benchmarks/RESULTS.md).
        lstsq_blend: weight of the plain least-squares table (the last of the ``lstsq_iter``
            CGLS iterations, not stopped early) in the returned table:
            ``(1 - w) * trained + w * c * plain``, with ``c`` matching the two tables' median
            held-out vector lengths. Both are linear in the table, so the blend is one table
            and still fastText's mean of rows. The trained table has the better directions,
            the plain one the more specific n-gram rows; the mix keeps more of an unseen
            word's true neighbours than either (default 0.25; 0 returns the trained table).
        loss: ``"cosine+norm"`` (default: ``1 - cos`` plus ``norm_weight`` times the squared
            log-ratio of lengths), ``"cosine"`` (direction only) or ``"mse"`` (squared error,
            scaled by the mean squared norm).
        contrast, temperature, negatives: weight of an optional InfoNCE term (default 0: off):
            each predicted vector must pick its own word's vector, at ``temperature``, out of
            the batch's and ``negatives`` sampled training words' vectors (cosines), so that
            what a neighbour query sees is preserved, not only each word's own direction.
        weighting: ``"log-rank"`` (default: frequent words count more; the words must come
            most frequent first), ``"uniform"`` or ``"counts"`` (with ``counts``); see
            :func:`frequency_weights`.
        ngram_dropout: fraction of a word's n-grams dropped at random in each training step,
            so that subsets of the n-grams, like an unseen word's, point the right way.
        optimizer: ``"smorms3"`` (:class:`vecsmith.optim.SMORMS3`, lazy on sparse rows) or
            ``"adam"`` (:class:`vecsmith.optim.DenseSparseOptimizer`, lazy Adam); ``lr`` is
            SMORMS3's per-element step cap or Adam's learning rate.
        weight_decay: decoupled weight decay of the optimizer (lazy: touched rows only).
        lr_decay: ``lr`` is multiplied by this after every epoch without held-out progress.
        epochs, holdout, patience: at most ``epochs`` passes; ``holdout`` of the words (spread
            over all frequencies) are kept out of training and the table with their best mean
            cosine is returned (epoch 0: the least-squares start), stopping after ``patience``
            epochs without improvement (``holdout=0`` runs exactly ``lstsq_iter`` CGLS
            iterations and ``epochs`` epochs).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``...
        threads: torch CPU threads during training (restored afterwards); ``None`` keeps
            torch's setting. On a busy machine ``threads=1`` is often several times faster.
        seed: seeds the initial table, the split, batch order, dropout and negatives; the same
            seed on the same device gives the same table.
    """
    from vecsmith._deps import require, resolve_device

    torch = require("torch", "subword transfer")
    from vecsmith._progress import progress

    _check_ngram_params(minn, maxn, bucket)
    words = list(words)
    vectors = _check_inputs(words, vectors)
    if loss not in LOSSES:
        raise TransferError(f"loss must be one of {LOSSES}, got {loss!r}")
    if init not in INITS:
        raise TransferError(f"init must be one of {INITS}, got {init!r}")
    if not 0.0 <= ngram_dropout < 1.0:
        raise TransferError(f"ngram_dropout must be in [0, 1), got {ngram_dropout}")
    if optimizer not in ("smorms3", "adam"):
        raise TransferError(f"optimizer must be 'smorms3' or 'adam', got {optimizer!r}")
    if epochs < 1 or batch_size < 1 or patience < 1 or lstsq_iter < 1:
        raise TransferError("epochs, batch_size, patience and lstsq_iter must be positive")
    if not 0.0 <= lstsq_blend <= 1.0:
        raise TransferError(f"lstsq_blend must be in [0, 1], got {lstsq_blend}")
    if not 0.0 <= holdout < 1.0:
        raise TransferError(f"holdout must be in [0, 1), got {holdout}")
    if lr <= 0 or norm_weight < 0 or init_scale < 0:
        raise TransferError("lr must be > 0; norm_weight and init_scale must be >= 0")
    if contrast < 0 or temperature <= 0 or negatives < 0:
        raise TransferError(f"need contrast >= 0 (got {contrast}), temperature > 0 (got "
                            f"{temperature}) and negatives >= 0 (got {negatives})")
    if not 0.0 < lr_decay <= 1.0 or weight_decay < 0:
        raise TransferError(f"need 0 < lr_decay <= 1 (got {lr_decay}) and weight_decay >= 0 "
                            f"(got {weight_decay})")
    weights_all = frequency_weights(len(words), weighting, counts)
    settings = _Settings(minn=minn, maxn=maxn, bucket=bucket, init=init, lstsq_iter=lstsq_iter,
                         lstsq_blend=lstsq_blend,
                         loss=loss, norm_weight=norm_weight, contrast=contrast,
                         temperature=temperature, negatives=negatives,
                         ngram_dropout=ngram_dropout, weight_decay=weight_decay,
                         lr_decay=lr_decay, optimizer=optimizer, lr=lr, batch_size=batch_size,
                         epochs=epochs, holdout=holdout, patience=patience,
                         init_scale=init_scale, device=resolve_device(device), seed=seed,
                         quiet=quiet)

    old_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise TransferError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        return _fit(torch, progress, words, vectors, weights_all, settings)
    finally:
        torch.set_num_threads(old_threads)


@dataclass
class _Settings:
    """:func:`fit`'s validated arguments, in one place for the training loop."""

    minn: int
    maxn: int
    bucket: int
    init: str
    lstsq_iter: int
    lstsq_blend: float
    loss: str
    norm_weight: float
    contrast: float
    temperature: float
    negatives: int
    ngram_dropout: float
    weight_decay: float
    lr_decay: float
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    holdout: float
    patience: int
    init_scale: float
    device: str
    seed: int
    quiet: bool


def _fit(torch, progress, words, vectors, weights_all, cfg: _Settings) -> SubwordTable:
    start = time.perf_counter()
    dev = torch.device(cfg.device)
    ids_np, offsets_np = ngram_ids(words, cfg.minn, cfg.maxn, cfg.bucket)
    lengths_np = np.diff(offsets_np)
    norms_np = np.linalg.norm(vectors, axis=1)
    usable = (lengths_np > 0) & (norms_np > 0)  # no n-grams or a zero target: nothing to learn
    if cfg.holdout > 0:
        held = stratified_holdout(len(words), cfg.holdout, cfg.seed)
        held = held[usable[held]]
    else:
        held = np.zeros(0, np.int64)
    train_mask = usable.copy()
    train_mask[held] = False
    train = np.flatnonzero(train_mask)
    if len(train) == 0:
        raise TransferError("no word has both an n-gram and a non-zero vector to learn from")

    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    ids = torch.from_numpy(ids_np).to(dev)
    starts = torch.from_numpy(offsets_np[:-1]).to(dev)
    lengths = torch.from_numpy(lengths_np).to(dev)
    target = torch.from_numpy(vectors).to(dev)
    target_norm = torch.from_numpy(norms_np.astype(np.float32)).to(dev)
    target_unit = target / target_norm.clamp_min(1e-12)[:, None]
    weight = torch.from_numpy(weights_all).to(dev)
    train_dev = torch.from_numpy(train).to(dev)
    ms_norm = float(np.mean(norms_np[train] ** 2))
    dim = vectors.shape[1]

    def gather(batch: torch.Tensor, drop: bool) -> tuple[torch.Tensor, torch.Tensor]:
        lens = lengths[batch]
        total = int(lens.sum())
        bag_of = torch.repeat_interleave(torch.arange(len(batch), device=dev), lens,
                                         output_size=total)
        first = torch.cumsum(lens, 0) - lens
        pos = starts[batch][bag_of] + (torch.arange(total, device=dev) - first[bag_of])
        flat = ids[pos]
        if drop and cfg.ngram_dropout > 0:
            keep = torch.rand(total, generator=gen).to(dev) >= cfg.ngram_dropout
            kept = torch.zeros(len(batch), dtype=torch.long, device=dev).index_add_(
                0, bag_of, keep.long())
            keep |= (kept == 0)[bag_of]  # a bag that lost every n-gram keeps them all
            flat, bag_of = flat[keep], bag_of[keep]
            lens = torch.bincount(bag_of, minlength=len(batch))
        offs = torch.cumsum(lens, 0) - lens
        return flat, offs

    def contrastive(pred: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        # InfoNCE: the word's own vector must win over the batch's and sampled words' vectors
        neg = train_dev[torch.randint(len(train), (cfg.negatives,), generator=gen).to(dev)]
        unit_pred = pred / pred.norm(dim=1, keepdim=True).clamp_min(1e-8)
        logits = unit_pred @ target_unit[torch.cat([batch, neg])].T / cfg.temperature
        same = neg[None, :] == batch[:, None]  # a sampled copy of the word is no negative
        logits[:, len(batch):] = logits[:, len(batch):].masked_fill(same, -math.inf)
        labels = torch.arange(len(batch), device=dev)
        return torch.nn.functional.cross_entropy(logits, labels, reduction="none")

    def objective(pred: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        y = target[batch]
        if cfg.loss == "mse":
            per = ((pred - y) ** 2).sum(1) / ms_norm
        else:
            per = 1.0 - torch.nn.functional.cosine_similarity(pred, y, dim=1, eps=1e-8)
            if cfg.loss == "cosine+norm":
                pn = pred.norm(dim=1).clamp_min(1e-8)
                per = per + cfg.norm_weight * (torch.log(pn) - torch.log(target_norm[batch])) ** 2
        if cfg.contrast > 0:
            per = per + cfg.contrast * contrastive(pred, batch)
        w = weight[batch]
        return (per * w).sum() / w.sum()

    history: list[dict] = []
    best, best_epoch, best_table, since = -math.inf, 0, None, 0
    plain = None
    with progress(cfg.quiet) as bar:
        if cfg.init == "lstsq" or cfg.lstsq_blend > 0:
            first, plain, lstsq_history = _lstsq_start(
                torch, bar, ids_np, offsets_np, train, held, target, cfg.bucket, dev,
                cfg.lstsq_iter, keep_last=cfg.lstsq_blend > 0)
            if plain is not None:
                plain = plain.to("cpu")
        else:
            lstsq_history = []
        if cfg.init == "lstsq":
            if len(held):  # epoch 0: the least-squares start, kept unless training beats it
                best, best_table = max(lstsq_history), first.to("cpu", copy=True)
        else:
            # Random noise of ~init_scale of a typical vector length; with init="mean" around
            # the mean training vector: rows no training word reaches (n-grams only unseen
            # words have) then add the best uninformed guess instead of noise.
            scale = cfg.init_scale * math.sqrt(ms_norm / dim)
            first = torch.randn(cfg.bucket, dim, generator=gen) * scale
            if cfg.init == "mean":
                first.add_(torch.from_numpy(vectors[train].mean(0)))
            first = first.to(dev)
        bag = torch.nn.EmbeddingBag(cfg.bucket, dim, mode="mean", sparse=True, _weight=first,
                                    device=dev)
        del first
        if cfg.optimizer == "smorms3":
            from vecsmith.optim import SMORMS3

            opt = SMORMS3(bag.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            from vecsmith.optim import DenseSparseOptimizer

            opt = DenseSparseOptimizer(bag.parameters(), sparse="lazy_adam", lr=cfg.lr,
                                       weight_decay=cfg.weight_decay)

        def heldout_cos() -> float:
            if len(held) == 0:
                return float("nan")
            with torch.no_grad():
                total = 0.0
                for s in range(0, len(held), 8192):
                    b = torch.from_numpy(held[s : s + 8192]).to(dev)
                    flat, offs = gather(b, drop=False)
                    total += float(torch.nn.functional.cosine_similarity(
                        bag(flat, offs), target[b], dim=1, eps=1e-8).sum())
            return total / len(held)

        train_t = torch.from_numpy(train)
        nbatches = (len(train) + cfg.batch_size - 1) // cfg.batch_size
        task = bar.add_task("transfer", total=cfg.epochs * nbatches)
        for epoch in range(1, cfg.epochs + 1):
            order = train_t[torch.randperm(len(train_t), generator=gen)].to(dev)
            running = 0.0
            for s in range(0, len(order), cfg.batch_size):
                batch = order[s : s + cfg.batch_size]
                flat, offs = gather(batch, drop=True)
                opt.zero_grad(set_to_none=True)
                value = objective(bag(flat, offs), batch)
                value.backward()
                opt.step()
                running += float(value.detach()) * len(batch)
                bar.advance(task)
            cos = heldout_cos()
            history.append({"epoch": epoch, "train_loss": running / len(train),
                            "heldout_cosine": cos})
            bar.update(task, description=f"transfer (epoch {epoch}, held-out cos {cos:.3f})")
            if len(held) == 0:
                best_epoch = epoch
                continue
            if cos > best + 1e-4:
                best, best_epoch, since = cos, epoch, 0
                best_table = bag.weight.detach().to("cpu", copy=True)
            else:
                since += 1
                if since >= cfg.patience:
                    break
                for group in opt.param_groups:  # a plateau: smaller steps settle the noise
                    group["lr"] *= cfg.lr_decay
        bar.update(task, completed=cfg.epochs * nbatches)
    table = best_table if best_table is not None else bag.weight.detach().to("cpu")
    bag = opt = None  # the optimizer state goes before the blend allocates
    if plain is not None:
        rows = held if len(held) else train[:8192]
        a = _csr(torch, ids_np, offsets_np, rows, cfg.bucket, "cpu")
        table = _blend(torch, table, plain, cfg.lstsq_blend, a)
        best = _mean_cosine(torch, table, a, vectors[rows])
    return SubwordTable(table=table.numpy().astype(np.float32, copy=False), minn=cfg.minn,
                        maxn=cfg.maxn, bucket=cfg.bucket, history=history,
                        best_epoch=best_epoch,
                        heldout_cosine=best if len(held) else float("nan"),
                        seconds=time.perf_counter() - start, device=str(dev),
                        lstsq_history=lstsq_history, lstsq_blend=cfg.lstsq_blend)


def _blend(torch, trained, plain, weight: float, a):
    """(1 - weight) * trained + weight * c * plain, in place in `trained`; c matches the
    median vector length the two tables give the words of `a` (a mean-of-rows matrix)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        len_trained = float(np.median((a @ trained).norm(dim=1).numpy()))
        len_plain = float(np.median((a @ plain).norm(dim=1).numpy()))
    c = len_trained / len_plain if len_plain > 0 else 0.0
    return trained.mul_(1.0 - weight).add_(plain, alpha=weight * c)


def _mean_cosine(torch, table, a, targets: np.ndarray) -> float:
    """Mean cosine of the table's vectors for the words of `a` (a mean-of-rows matrix) to
    their own vectors `targets`."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        pred = a @ table
    return float(torch.nn.functional.cosine_similarity(
        pred, torch.from_numpy(targets), dim=1, eps=1e-8).mean())


# ----------------------------------------------------------------------------- least squares


def _csr(torch, ids_np: np.ndarray, offsets_np: np.ndarray, rows: np.ndarray, bucket: int,
         dev):
    """The mean-of-rows matrix of words ``rows``: ``A @ table`` is their fastText vectors."""
    lens = np.diff(offsets_np)[rows]
    crow = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lens, out=crow[1:])
    # the chosen words' ids, concatenated (one gather, no per-word loop); a repeated id in a
    # word is two entries, which the products sum, as EmbeddingBag's mean counts it twice
    pos = np.repeat(offsets_np[rows] - crow[:-1], lens) + np.arange(crow[-1])
    val = np.repeat((1.0 / np.maximum(lens, 1)).astype(np.float32), lens)
    return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(ids_np[pos]),
                                   torch.from_numpy(val), size=(len(rows), bucket),
                                   check_invariants=False).to(dev)


def _lstsq_start(torch, bar, ids_np, offsets_np, train, held, target, bucket, dev,
                 max_iter: int, keep_last: bool = False):
    """Least-squares n-gram table by block CGLS from zero (one step size per dimension).

    CGLS iterates from zero follow the minimum-norm least-squares path: rows no training word
    reaches stay exactly zero, and stopping early regularises. Returns the iterate with the
    best held-out mean cosine (the last one when nothing is held out), the last iterate when
    `keep_last` (then all `max_iter` iterations run; else None, and iterating stops 3
    iterations past the best), and the held-out cosine of every iterate.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        a = _csr(torch, ids_np, offsets_np, train, bucket, dev)
        at = a.t().to_sparse_csr()
        a_held = _csr(torch, ids_np, offsets_np, held, bucket, dev) if len(held) else None
    y_held = target[torch.from_numpy(held).to(dev)] if len(held) else None
    r = target[torch.from_numpy(train).to(dev)].clone()
    t = torch.zeros(bucket, r.shape[1], device=dev)
    s = at @ r
    p = s.clone()
    gamma = (s * s).sum(0)
    best, best_t, history, since = -math.inf, None, [], 0
    task = bar.add_task("least-squares start", total=max_iter)
    for _ in range(max_iter):
        q = a @ p
        alpha = gamma / (q * q).sum(0).clamp_min(1e-30)
        t.addcmul_(p, alpha)  # in place, no bucket-sized temporaries (peak memory)
        r.sub_(q * alpha)
        del s
        s = at @ r
        g_new = (s * s).sum(0)
        p.mul_(g_new / gamma.clamp_min(1e-30)).add_(s)
        gamma = g_new
        bar.advance(task)
        if a_held is None:
            continue
        cos = float(torch.nn.functional.cosine_similarity(a_held @ t, y_held, dim=1,
                                                          eps=1e-8).mean())
        history.append(cos)
        bar.update(task, description=f"least-squares start (held-out cos {cos:.3f})")
        if cos > best + 1e-4:
            best, since = cos, 0
            best_t = t.clone() if best_t is None else best_t.copy_(t)
        else:
            since += 1
            if since >= 3 and not keep_last:  # past the optimum for unseen words: overfitting
                break
    bar.update(task, completed=max_iter)
    if best_t is None:  # nothing held out: the last iterate is the start (and the blend's)
        return t, (t.clone() if keep_last else None), history
    return best_t, (t if keep_last else None), history
