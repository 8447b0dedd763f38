"""One-pass SMORMS3 kernels (numba) for CPU tensors: the ``fused`` path of :class:`SMORMS3`.

The torch kernels make about 15 passes over memory per step (one per elementwise op), so on
large CPU tensors SMORMS3 cost twice Adam; on many small tensors the cost is the per-op call
overhead. These kernels read each parameter, gradient and state element once and write it once,
and one call updates every tensor of a (dtype) group: the tensors are handed over as addresses
(``Tensor.data_ptr()``), so no per-tensor NumPy views or dispatch are needed.

Why the loop vectorises (checked in tests/optim/test_optim_fused.py from the generated
assembly): ``error_model="numpy"`` (IEEE division instead of a ZeroDivisionError branch in the
loop), scalars of the arrays' own dtype (a Python int or float would promote float32 to float64)
and ``lr if x > lr else x`` (one ``min`` instruction that keeps a NaN in ``x``, as
``clamp_max`` does). No fastmath: every operation is IEEE-rounded, in the order the equations
are written (no FMA contraction), so vector and scalar iterations give the same bits (the
tests split steps across threads at arbitrary points and compare bits) and float64 results
stay within the tests' 1e-12 of a plain reference.

Callers validate the tensors (CPU, contiguous, one dtype, same sizes, not a view with the
negation bit) and keep them alive during the call; the kernels trust the addresses.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

__all__ = ["dense_step", "large_gradients", "sparse_step"]

# Below this many elements a step runs on the calling thread only (starting and joining a thread
# took 35-50 µs here, about what the kernel needs for 2^16 float32 elements).
PARALLEL_MIN_ELEMENTS = 1 << 18


@intrinsic
def _pointer(typingctx, address, like):
    """The int64 `address` as a pointer to elements of the scalar type of `like`."""
    sig = types.CPointer(like)(address, like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _update(p, grad, mem, g, g2, lr, eps, decay, sign):  # pragma: no cover - compiled
    one = sign * sign
    for i in range(p.size):
        gr = grad[i] * sign
        m = mem[i]
        r = one / (m + one)
        gi = g[i] + r * (gr - g[i])
        g2i = g2[i] + r * (gr * gr - g2[i])
        x = gi * gi / (g2i + eps)
        g[i] = gi
        g2[i] = g2i
        mem[i] = one + m * (one - x)
        step = lr if x > lr else x
        p[i] = p[i] * decay - gr * step / (np.sqrt(g2i) + eps)


@njit(cache=True, nogil=True, error_model="numpy")
def _dense_kernel(addresses, sizes, lo, hi, lr, eps, decay, sign):  # pragma: no cover
    """Update elements [lo, hi) of the tensors laid end to end; addresses[k] = (param, grad,
    mem, g, g2) of tensor k, all of the dtype of `lr`."""
    start = 0
    for t in range(sizes.size):
        n = sizes[t]
        a = max(lo - start, 0)
        b = min(hi - start, n)
        if a < b:
            _update(carray(_pointer(addresses[t, 0], lr), n)[a:b],
                    carray(_pointer(addresses[t, 1], lr), n)[a:b],
                    carray(_pointer(addresses[t, 2], lr), n)[a:b],
                    carray(_pointer(addresses[t, 3], lr), n)[a:b],
                    carray(_pointer(addresses[t, 4], lr), n)[a:b], lr, eps, decay, sign)
        start += n


@njit(cache=True, nogil=True, error_model="numpy")
def _sparse_kernel(addresses, size, offsets, values, lo, hi, lr, eps, decay,
                   sign):  # pragma: no cover
    """Lazy update of the blocks values[k] (k in [lo, hi)) at element offsets[k] of one tensor
    of `size` elements; addresses = (param, mem, g, g2). Offsets must be unique."""
    width = values.shape[1]
    p = carray(_pointer(addresses[0], lr), size)
    mem = carray(_pointer(addresses[1], lr), size)
    g = carray(_pointer(addresses[2], lr), size)
    g2 = carray(_pointer(addresses[3], lr), size)
    for k in range(lo, hi):
        o = offsets[k]
        _update(p[o:o + width], values[k], mem[o:o + width], g[o:o + width], g2[o:o + width],
                lr, eps, decay, sign)


@njit(cache=True, nogil=True, error_model="numpy")
def _large_kernel(addresses, sizes, limit, out):  # pragma: no cover - compiled
    """out[k] = whether any |grad| of tensor k is >= limit (NaN is not): one vectorised read."""
    for t in range(sizes.size):
        x = carray(_pointer(addresses[t, 1], limit), sizes[t])
        hit = False
        for i in range(x.size):
            hit |= abs(x[i]) >= limit
        out[t] = hit


def large_gradients(addresses: np.ndarray, sizes: np.ndarray, dtype: np.dtype,
                    limit: float) -> np.ndarray:
    """Which tensors (rows of the (n, 5) `addresses`) have a gradient element >= `limit` in
    magnitude: their squares would overflow, and the caller computes their step wide."""
    out = np.zeros(sizes.size, dtype=np.bool_)
    _large_kernel(addresses, sizes, np.dtype(dtype).type(limit), out)
    return out


def _scalars(dtype: np.dtype, lr: float, eps: float, decay: float, sign: float) -> tuple:
    t = np.dtype(dtype).type
    return t(lr), t(eps), t(decay), t(sign)


def _split(n: int, elements: int, threads: int) -> list[tuple[int, int]]:
    """[0, n) in one range per thread, each worth at least PARALLEL_MIN_ELEMENTS elements."""
    parts = max(1, min(threads, elements // PARALLEL_MIN_ELEMENTS))
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))


def _run(ranges: list[tuple[int, int]], call) -> None:
    """call(lo, hi) for each range: the first on this thread, the others on fresh threads (the
    kernels release the GIL). Fresh threads rather than a pool, so a fork never inherits one."""
    if len(ranges) == 1:
        call(*ranges[0])
        return
    errors: list[BaseException] = []

    def work(lo: int, hi: int) -> None:
        try:
            call(lo, hi)
        except BaseException as exc:  # re-raised on the calling thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=r, daemon=True) for r in ranges[1:]]
    for w in workers:
        w.start()
    work(*ranges[0])
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def dense_step(addresses: np.ndarray, sizes: np.ndarray, dtype: np.dtype, *, lr: float,
               eps: float, decay: float, sign: float, threads: int = 1) -> None:
    """One SMORMS3 step over tensors given as an (n, 5) int64 array of addresses (param, grad,
    mem, g, g2) and their element counts; `threads` > 1 splits large steps across threads."""
    s = _scalars(dtype, lr, eps, decay, sign)
    total = int(sizes.sum())
    _run(_split(total, total, threads),
         lambda lo, hi: _dense_kernel(addresses, sizes, lo, hi, *s))


def sparse_step(addresses: np.ndarray, size: int, offsets: np.ndarray, values: np.ndarray, *,
                lr: float, eps: float, decay: float, sign: float, threads: int = 1) -> None:
    """Lazy SMORMS3 on one tensor: `values` (k, width) are the gradient blocks at the unique
    element `offsets` (k,); addresses (4,) = param, mem, g, g2."""
    s = _scalars(values.dtype, lr, eps, decay, sign)
    _run(_split(values.shape[0], values.size, threads),
         lambda lo, hi: _sparse_kernel(addresses, size, offsets, values, lo, hi, *s))
