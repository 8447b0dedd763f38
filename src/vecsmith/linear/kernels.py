"""numba kernels: the per-sample SGD update and batch prediction over CSR feature batches.

The update for one sample with features (i, x_i), label y in {-1, +1} per one-vs-rest head
and score p = b + sum_i w_i x_i:

* hinge: g = -y if y*p < 1 else 0;  logistic: g = -y / (1 + exp(y*p));
* gradient of weight i: g_i = s * g * x_i + alpha * w_i (s = sample weight; the L2 term is
  "sparse": it decays only the weights of features present in the sample, as VW --sparse_l2);
* step size: constant eta0; invscaling eta0 / t**power_t (t = samples seen, from 1);
  adaptive (AdaGrad) max(eta0 / sqrt(G_i), eta_floor) with G_i += g_i**2 — the floor keeps
  learning alive on drifting streams, where plain AdaGrad's rates decay towards zero;
* w_i -= eta_i * g_i; with averaging from sample t0 on (t0 = 0: from the start),
  u_i += max(t - 1 - t0, 0) * eta_i * g_i, so that the average of the weights after steps
  t0+1 .. t is w + u / (t - t0) (the lazy trick of averaged SGD; no O(d) work per step).
"""

from __future__ import annotations

import math

try:
    import numba as nb
except ImportError as exc:  # numba is in the 'linear' extra
    from ._lazy import missing

    raise missing(exc, "vecsmith.linear's compiled kernels") from exc
import numpy as np

from .constants import Loss, Schedule

HINGE = int(Loss.HINGE)  # plain ints: what the compiled code compares against
LOGISTIC = int(Loss.LOGISTIC)
CONSTANT = int(Schedule.CONSTANT)
INVSCALING = int(Schedule.INVSCALING)
ADAPTIVE = int(Schedule.ADAPTIVE)


@nb.njit(cache=True, inline="always")
def _binary_loss(loss, m):
    if loss == HINGE:
        return max(0.0, 1.0 - m)
    if m > 30.0:
        return math.exp(-m)
    return math.log1p(math.exp(-m))


@nb.njit(cache=True)
def train_kernel(indptr, indices, values, yk, sw, W, G, U, b, Gb, Ub, state, loss, schedule,
                 eta0, power_t, floor, alpha, average, avg_start, fit_intercept, safe, out_pred,
                 out_loss):
    """One pass over the batch, one sample at a time; writes progressive predictions/losses.

    `W` is (n_weights, K) float32; K = 1 for binary (class index 1 is the positive class).
    `state[0]` is the number of samples seen so far (t).
    """
    n = indptr.shape[0] - 1
    K = W.shape[1]
    scores = np.empty(K, np.float64)
    t = state[0]
    for s in range(n):
        t += 1
        lo = indptr[s]
        hi = indptr[s + 1]
        for k in range(K):
            scores[k] = b[k]
        for j in range(lo, hi):  # row-major W: one cache line per feature for all heads
            i = indices[j]
            v = values[j]
            for k in range(K):
                scores[k] += W[i, k] * v
        # progressive prediction and loss, before the update
        lossv = 0.0
        if K == 1:
            out_pred[s] = 1 if scores[0] > 0.0 else 0
            y = 1.0 if yk[s] == 1 else -1.0
            lossv = _binary_loss(loss, y * scores[0])
        else:
            best = 0
            for k in range(1, K):
                if scores[k] > scores[best]:
                    best = k
            out_pred[s] = best
            for k in range(K):
                y = 1.0 if yk[s] == k else -1.0
                lossv += _binary_loss(loss, y * scores[k])
        out_loss[s] = lossv
        wgt = sw[s]
        if schedule == INVSCALING:
            eta_t = eta0 / (t ** power_t)
        else:
            eta_t = eta0
        for k in range(K):
            if K == 1:
                y = 1.0 if yk[s] == 1 else -1.0
            else:
                y = 1.0 if yk[s] == k else -1.0
            m = y * scores[k]
            if loss == HINGE:
                g = -y if m < 1.0 else 0.0
            else:
                g = -y / (1.0 + math.exp(m)) if m > -30.0 else -y
            g *= wgt
            if g == 0.0 and alpha == 0.0:
                continue
            # safe hinge step: scale the step so that y*p moves at most to the margin 1
            clip = 1.0
            if safe and loss == HINGE and g != 0.0:
                dp = 0.0
                for j in range(lo, hi):
                    i = indices[j]
                    gi = g * values[j] + alpha * W[i, k]
                    if schedule == ADAPTIVE:
                        eta = eta0 / math.sqrt(G[i, k] + gi * gi) if gi != 0.0 else 0.0
                        if eta < floor:
                            eta = floor
                    else:
                        eta = eta_t
                    dp += eta * gi * values[j] * (-y)
                if fit_intercept:
                    if schedule == ADAPTIVE:
                        eta = max(eta0 / math.sqrt(Gb[k] + g * g), floor)
                    else:
                        eta = eta_t
                    dp += eta * g * (-y)
                if dp > 1.0 - m and dp > 0.0:
                    clip = (1.0 - m) / dp
            for j in range(lo, hi):
                i = indices[j]
                gi = g * values[j] + alpha * W[i, k]
                if gi == 0.0:
                    continue
                if schedule == ADAPTIVE:
                    acc = G[i, k] + gi * gi
                    G[i, k] = acc
                    eta = eta0 / math.sqrt(acc)
                    if eta < floor:
                        eta = floor
                else:
                    eta = eta_t
                step = eta * gi * clip
                W[i, k] = W[i, k] - step
                if average and t - 1 > avg_start:
                    U[i, k] += (t - 1 - avg_start) * step
            if fit_intercept and g != 0.0:
                if schedule == ADAPTIVE:
                    Gb[k] += g * g
                    eta = eta0 / math.sqrt(Gb[k])
                    if eta < floor:
                        eta = floor
                else:
                    eta = eta_t
                step = eta * g * clip
                b[k] -= step
                if average and t - 1 > avg_start:
                    Ub[k] += (t - 1 - avg_start) * step
    state[0] = t


@nb.njit(cache=True, parallel=True)
def predict_kernel(indptr, indices, values, W, b):
    """Scores (n, K) = b + X @ W for a CSR batch; features beyond W's rows are ignored."""
    n = indptr.shape[0] - 1
    K = W.shape[1]
    nw = W.shape[0]
    out = np.empty((n, K), np.float64)
    for s in nb.prange(n):
        for k in range(K):
            out[s, k] = b[k]
        for j in range(indptr[s], indptr[s + 1]):
            i = indices[j]
            if i < nw:
                v = values[j]
                for k in range(K):
                    out[s, k] += W[i, k] * v
    return out
