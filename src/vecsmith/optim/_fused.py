"""Fused CPU kernel for dense SMORMS3 (numba): one pass over memory instead of ~15 tensor ops.

The multi-tensor path issues a fixed number of ops per step, which wins when a model has many
small tensors; on a few large CPU tensors every op is another trip through memory, so a single
compiled loop that reads p, grad, mem, g, g2 once and writes them back is faster. The arithmetic
follows the per-tensor kernel step by step (torch's lerp formula included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from vecsmith._deps import require

# Below this many elements a parallel launch costs more than it saves.
_PARALLEL_MIN = 1 << 16

_KERNELS: dict[bool, Any] = {}


def _kernel(parallel: bool) -> Any:
    if parallel not in _KERNELS:
        numba = require("numba", "SMORMS3(fused=True)")

        def smorms3_fused(p, grad, mem, g, g2, lr, eps, decay, sign, one):  # pragma: no cover
            # scalars arrive in the arrays' dtype, so float32 math stays float32
            for i in numba.prange(p.size):
                gr = sign * grad[i]
                m = mem[i]
                r = one / (m + one)
                # torch.lerp's formula for weights below 0.5 (mem >= 1 keeps r <= 0.5)
                gi = g[i] + r * (gr - g[i])
                g2i = g2[i] + r * (gr * gr - g2[i])
                x = gi * gi / (g2i + eps)
                mem[i] = m - m * x + one
                c = x if x < lr else lr
                p[i] = p[i] * decay - c * gr / (np.sqrt(g2i) + eps)
                g[i] = gi
                g2[i] = g2i

        _KERNELS[parallel] = numba.njit(parallel=parallel, cache=True, nogil=True)(smorms3_fused)
    return _KERNELS[parallel]


def check_fused_param(p: Tensor) -> None:
    """Raise ValueError unless `p` can take the fused CPU kernel."""
    if p.device.type != "cpu" or p.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"fused=True supports float32/float64 CPU tensors, got {p.dtype} on "
                         f"{p.device}; use foreach=True on GPUs")
    if not p.is_contiguous():
        raise ValueError("fused=True needs contiguous parameters")


def fused_smorms3(params: list[Tensor], grads: list[Tensor], mems: list[Tensor],
                  gs: list[Tensor], g2s: list[Tensor], *, lr: float, eps: float,
                  weight_decay: float, maximize: bool) -> None:
    """Dense SMORMS3 with the compiled kernel; tensors are updated in place through numpy views."""
    decay = 1.0 - lr * weight_decay
    sign = -1.0 if maximize else 1.0
    for param, grad, mem, g, g2 in zip(params, grads, mems, gs, g2s, strict=True):
        check_fused_param(param)
        grad = grad.contiguous()
        if grad.dtype != param.dtype:
            raise ValueError(f"gradient dtype {grad.dtype} differs from parameter {param.dtype}")
        arrays = [t.detach().view(-1).numpy() for t in (param, grad, mem, g, g2)]
        cast = arrays[0].dtype.type
        _kernel(param.numel() >= _PARALLEL_MIN)(*arrays, cast(lr), cast(eps), cast(decay),
                                                cast(sign), cast(1.0))
