"""Biemann's Chinese Whispers loop, compiled with numba; imported lazily by ``whispers``."""
# numba compiles only the legacy np.random API (seeded per call below).
# ruff: noqa: NPY002

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def cw_run(indptr, indices, weights, tindptr, tindices, labels, pass_seeds, vote, keep,
           mut_kind, mut_value, lazy=True):  # pragma: no cover - compiled
    """Run CW in place on ``labels``; return (passes run, nodes changed in each pass).

    Pass ``i`` reseeds the generator with ``pass_seeds[i]`` and shuffles the nodes from index
    order, so a pass depends only on the labels before it and its own seed: a run of passes
    split over several calls (the rounds of the Dask version) gives the same labels as one
    call. One pass visits every node with edges once, in a fresh random order; a node takes the
    label with the largest summed weight among its neighbours at once (later nodes in the
    same pass see it), ties broken uniformly at random. ``vote`` > 0: change only when the
    winner holds more than that share of the weight. ``keep``: chance a node sits a pass out.
    Mutation (``mut_kind`` 1 = constant rate ``mut_value``, 2 = rate 1/pass^mut_value): the
    node moves to an unused label instead; the last allowed pass never mutates. Stops after a
    pass that changes nothing.

    Work saving that leaves the result unchanged: a node is recomputed only when one of the
    nodes it listens to (``tindptr``/``tindices``: the transposed graph) changed label since its
    last visit, or when its last vote drew a random number (a tie, even one a heavier label
    then beat: it draws again). Otherwise its winner is
    the label it already holds, and skipping it consumes no random numbers either.
    ``lazy=False`` recomputes every node (the tests check both give the same labels).
    """
    iterations = pass_seeds.shape[0]
    n = indptr.shape[0] - 1
    n_active = 0
    max_deg = 0
    for v in range(n):
        d = indptr[v + 1] - indptr[v]
        if d > 0:
            n_active += 1
        if d > max_deg:
            max_deg = d
    nodes = np.empty(n_active, np.int64)
    j = 0
    for v in range(n):
        if indptr[v + 1] > indptr[v]:
            nodes[j] = v
            j += 1
    # label space 2n: n in use at the start, n spare for mutations (never more than n in use)
    n_lab = 2 * n
    acc = np.zeros(n_lab, np.float64)
    stamp = np.full(n_lab, -1, np.int64)
    touched = np.empty(max(max_deg, 1), np.int64)
    size = np.zeros(n_lab, np.int64)
    for v in range(n):
        size[labels[v]] += 1
    free = np.empty(n_lab, np.int64)
    n_free = 0
    for lab in range(n_lab - 1, -1, -1):
        if size[lab] == 0:
            free[n_free] = lab
            n_free += 1
    dirty = np.ones(n, np.bool_)
    changes = np.zeros(iterations, np.int64)
    visit = 0
    passes = 0
    for it in range(iterations):
        passes += 1
        rate = 0.0
        if it < iterations - 1:
            if mut_kind == 1:
                rate = mut_value
            elif mut_kind == 2:
                rate = 1.0 / (it + 1.0) ** mut_value
        np.random.seed(pass_seeds[it])
        j = 0
        for v in range(n):  # index order, then this pass's shuffle
            if indptr[v + 1] > indptr[v]:
                nodes[j] = v
                j += 1
        np.random.shuffle(nodes)
        changed = 0
        for v in nodes:
            if keep > 0.0 and np.random.random() < keep:
                continue
            old = labels[v]
            new = old
            if rate > 0.0 and np.random.random() < rate:
                while n_free > 0 and size[free[n_free - 1]] != 0:
                    n_free -= 1
                if n_free > 0:
                    n_free -= 1
                    new = free[n_free]
                    dirty[v] = True  # its neighbours' vote will differ from its new label
            elif dirty[v] or not lazy:
                visit += 1
                nt = 0
                total = 0.0
                for e in range(indptr[v], indptr[v + 1]):
                    lab = labels[indices[e]]
                    if stamp[lab] != visit:
                        stamp[lab] = visit
                        acc[lab] = 0.0
                        touched[nt] = lab
                        nt += 1
                    acc[lab] += weights[e]
                    total += weights[e]
                best = -np.inf
                ties = 0
                drew = False
                for t in range(nt):
                    lab = touched[t]
                    a = acc[lab]
                    if a > best:
                        best = a
                        new = lab
                        ties = 1
                    elif a == best:
                        ties += 1
                        drew = True
                        if np.random.random() * ties < 1.0:
                            new = lab
                # a vote that drew a random number (a tie, even one a later label beat) draws
                # again on the next visit: skipping it would shift the random stream
                dirty[v] = drew
                if vote > 0.0 and total > 0.0 and best / total <= vote:
                    new = old
            if new != old:
                for e in range(tindptr[v], tindptr[v + 1]):
                    dirty[tindices[e]] = True
                labels[v] = new
                size[old] -= 1
                size[new] += 1
                if size[old] == 0:
                    free[n_free] = old
                    n_free += 1
                changed += 1
        changes[it] = changed
        if changed == 0:
            break
    return passes, changes[:passes]
