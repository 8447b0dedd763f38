"""`fit`: learn an n-gram table for word vectors without one (the training loop).

The least-squares start and the blend are in `lstsq.py`, the settings in `config.py`, the
result in `table.py`; the method is described in the package docstring.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from vecsmith.transfer.config import WEIGHTINGS, TransferConfig, TransferError
from vecsmith.transfer.lstsq import blend, lstsq_start, mean_cosine, mean_matrix
from vecsmith.transfer.table import SubwordTable, ngram_ids


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


def fit(words: Sequence[str], vectors: np.ndarray, minn: int | None = None,
        maxn: int | None = None, bucket: int | None = None, *,
        config: TransferConfig | None = None, counts: np.ndarray | None = None,
        **overrides) -> SubwordTable:
    """Learn an n-gram table whose fastText-style mean reproduces each word's vector.

    Three steps: a least-squares start (``init="lstsq"``), training with the cosine loss from
    there, and a blend of the trained table with the plain least-squares one
    (``lstsq_blend``). Defaults and why: ``README.md`` and ``benchmarks/RESULTS.md``.

    Args:
        words, vectors: the vocabulary (most frequent first for ``weighting="log-rank"``) and
            its ``(n, dim)`` matrix.
        minn, maxn, bucket: fastText hashing parameters of the table to learn; ``bucket``
            None (default) sizes it to the vocabulary: 10 a word within [10,000, 1,000,000]
            (:func:`vecsmith.transfer.config.auto_bucket`).
        config: a :class:`TransferConfig` with every setting; keyword ``overrides`` (any of
            its field names) change single settings on it (or on the defaults).
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
        epochs, holdout, patience: at most ``epochs`` passes (None: sized to the vocabulary,
            :func:`vecsmith.transfer.config.auto_epochs`); ``holdout`` of the words (spread
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

    cfg = config if config is not None else TransferConfig()
    given = {k: v for k, v in (("minn", minn), ("maxn", maxn), ("bucket", bucket))
             if v is not None}
    cfg = cfg.with_overrides(**given, **overrides).validate()
    torch = require("torch", "subword transfer")
    words = list(words)
    vectors = _check_inputs(words, vectors)
    cfg = cfg.sized_for(len(words)).validate()
    weights_all = frequency_weights(len(words), cfg.weighting, counts)
    cfg = cfg.with_overrides(device=resolve_device(cfg.device))

    old_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _fit(torch, words, vectors, weights_all, cfg)
    finally:
        torch.set_num_threads(old_threads)


def _fit(torch, words, vectors, weights_all, cfg: TransferConfig) -> SubwordTable:
    from vecsmith._progress import progress

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
            first, plain, lstsq_history = lstsq_start(
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
        # The bar's total is where early stopping ends if held-out cosine stops improving now
        # (best epoch + patience, at most `epochs`); each improvement moves it on. Its time
        # estimate is then for the run early stopping will make, not for `epochs` passes.
        planned = _planned_epochs(cfg, best_epoch, len(held) > 0)
        task = bar.add_task(f"transfer (≤ {planned} of {cfg.epochs} epochs)",
                            total=planned * nbatches)
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
            grows = cos > best + 1e-4 and len(held) > 0
            planned = _planned_epochs(cfg, epoch if grows else best_epoch, len(held) > 0)
            bar.update(task, total=max(planned, epoch) * nbatches,
                       description=f"transfer (epoch {epoch}, ≤ {planned} of {cfg.epochs}, "
                                   f"held-out cos {cos:.3f})")
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
        bar.update(task, total=len(history) * nbatches, completed=len(history) * nbatches)
    table = best_table if best_table is not None else bag.weight.detach().to("cpu")
    bag = opt = None  # the optimizer state goes before the blend allocates
    if plain is not None:
        rows = held if len(held) else train[:8192]
        a = mean_matrix(torch, ids_np, offsets_np, rows, cfg.bucket, "cpu")
        table = blend(torch, table, plain, cfg.lstsq_blend, a)
        best = mean_cosine(torch, table, a, vectors[rows])
    return SubwordTable(table=table.numpy().astype(np.float32, copy=False), minn=cfg.minn,
                        maxn=cfg.maxn, bucket=cfg.bucket, history=history,
                        best_epoch=best_epoch,
                        heldout_cosine=best if len(held) else float("nan"),
                        seconds=time.perf_counter() - start, device=str(dev),
                        lstsq_history=lstsq_history, lstsq_blend=cfg.lstsq_blend)


def _planned_epochs(cfg: TransferConfig, best_epoch: int, early_stopping: bool) -> int:
    """The last epoch if held-out cosine does not improve again: best + patience, capped."""
    return min(cfg.epochs, best_epoch + cfg.patience) if early_stopping else cfg.epochs
