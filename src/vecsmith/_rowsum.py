"""Exact row sums for the lookup kernels: a word's vector is the float32 sum of table rows.

fastText zeroes a vector and adds rows to it in order. `sum_rows_into` writes the same bits
without needing a zeroed output: the first row is added to +0.0 (so -0.0 becomes +0.0, as in
0.0f + x), the rest are added in order. Callers can then hand over `np.empty` arrays, or reuse
one, instead of paying for a zeroing pass. float16 tables come as their uint16 bits and are
widened exactly by the CPU's own conversion (F16C's vcvtph2ps on x86, vectorised by LLVM).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload


@intrinsic
def half_to_float(typingctx, bits):
    """The float16 with these uint16 bits, as float32: IEEE `fpext`, exact for every value
    (numba has no float16 arithmetic of its own on the CPU)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@njit(cache=True, nogil=True, inline="always")
def _same_float(x):
    return x


def sum_rows_into(out, i, mat, rows, count):
    """out[i] = 0.0 + mat[rows[0]] + ... + mat[rows[count - 1]] in float32, left to right
    (zeros when count is 0). Compiled per table dtype below; this body never runs. One call
    per word, not per row: a call per row measured 25% slower. Element loops into out[i, j]:
    a view out[i] plus array arithmetic per row measured several times slower on small
    dimensions, and no faster on large ones."""
    raise NotImplementedError


@overload(sum_rows_into, inline="always")
def _sum_rows_into(out, i, mat, rows, count):
    if mat.dtype == types.float32:
        widen = _same_float
    elif mat.dtype == types.uint16:
        widen = half_to_float
    else:
        return None

    def impl(out, i, mat, rows, count):
        dim = out.shape[1]
        if count == 0:
            for j in range(dim):
                out[i, j] = 0.0
            return
        r = rows[0]
        for j in range(dim):
            out[i, j] = widen(mat[r, j]) + np.float32(0.0)
        for k in range(1, count):
            r = rows[k]
            for j in range(dim):
                out[i, j] += widen(mat[r, j])

    return impl
