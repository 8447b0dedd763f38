"""The least-squares side of transfer: the sparse mean-of-rows matrix, block CGLS from zero
(the start, and the plain table blended in at the end), the blend and its cosine.

Functions take `torch` as an argument: the package imports it lazily (`fit` asks for it with
a message naming the extra).
"""

from __future__ import annotations

import math

import numpy as np


def blend(torch, trained, plain, weight: float, a):
    """(1 - weight) * trained + weight * c * plain, in place in `trained`; c matches the
    median vector length the two tables give the words of `a` (a mean-of-rows matrix)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        len_trained = float(np.median((a @ trained).norm(dim=1).numpy()))
        len_plain = float(np.median((a @ plain).norm(dim=1).numpy()))
    c = len_trained / len_plain if len_plain > 0 else 0.0
    return trained.mul_(1.0 - weight).add_(plain, alpha=weight * c)


def mean_cosine(torch, table, a, targets: np.ndarray) -> float:
    """Mean cosine of the table's vectors for the words of `a` (a mean-of-rows matrix) to
    their own vectors `targets`."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        pred = a @ table
    return float(torch.nn.functional.cosine_similarity(
        pred, torch.from_numpy(targets), dim=1, eps=1e-8).mean())


def mean_matrix(torch, ids_np: np.ndarray, offsets_np: np.ndarray, rows: np.ndarray, bucket: int,
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


def lstsq_start(torch, bar, ids_np, offsets_np, train, held, target, bucket, dev,
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
        a = mean_matrix(torch, ids_np, offsets_np, train, bucket, dev)
        at = a.t().to_sparse_csr()
        a_held = mean_matrix(torch, ids_np, offsets_np, held, bucket, dev) if len(held) else None
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
