"""A software prefetch for numba kernels: ask the CPU to load a table row (or a word-table
slot) before it is needed.

Out-of-vocabulary lookups sum about ten random rows of a table of gigabytes: each row is a
cache and TLB miss, and a plain loop waits for them one after the other. Naming the next
word's rows before summing the current word's lets the memory system fetch them in parallel
(measured 1.5-2x on a 2M x 300 table; `benchmarks/RESULTS.md`). A prefetch is only a hint:
it never faults and never changes a result.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

CACHE_LINE = 64


@intrinsic
def prefetch(typingctx, arr, index):
    """llvm.prefetch(read, keep in all cache levels) of the address of arr[index]; `index` is
    an integer for a 1-D array, a tuple of integers otherwise."""
    if not isinstance(arr, types.Array):
        return None
    if isinstance(index, types.Integer) and arr.ndim == 1:
        count = 1
    elif (isinstance(index, types.BaseTuple) and len(index) == arr.ndim
          and all(isinstance(t, types.Integer) for t in index)):
        count = arr.ndim
    else:
        return None
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        if count == 1 and isinstance(idxty, types.Integer):
            parts = [(args[1], idxty)]
        else:
            parts = [(builder.extract_value(args[1], k), idxty[k]) for k in range(count)]
        where = [context.cast(builder, v, t, types.intp) for v, t in parts]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, where, wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte_ptr], ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]))
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), ir.Constant(i32, 0),
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def prefetch_row(mat, row):
    """Prefetch every cache line of row `row` of a C-contiguous 2-D array (row must be valid)."""
    step = max(1, CACHE_LINE // mat.itemsize)
    for col in range(0, mat.shape[1], step):
        prefetch(mat, (row, col))
