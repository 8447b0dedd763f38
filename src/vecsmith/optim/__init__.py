"""Optimizers for models that mix sparse and dense gradients (needs torch).

- :class:`SMORMS3`: Simon Funk's nearly tuning-free optimizer, dense and (lazy) sparse; on CPU
  a one-pass numba kernel (``fused``, extra ``vecsmith[fast]``) when numba is installed.
- :class:`DenseSparseOptimizer`: one ``torch.optim.Optimizer`` for ``model.parameters()`` that
  routes each gradient by layout at step time (Adam + lazy Adam by default, SMORMS3 or any
  :class:`UpdateRule` pair as options).
"""

from __future__ import annotations

from vecsmith._deps import require

require("torch", "vecsmith.optim")

from .dense_sparse import (  # noqa: E402
    AdamRule,
    DenseSparseOptimizer,
    LazyAdamRule,
    SMORMS3Rule,
    UpdateRule,
    lazy_adam,
)
from .smorms3 import SMORMS3, smorms3  # noqa: E402

__all__ = [
    "SMORMS3",
    "AdamRule",
    "DenseSparseOptimizer",
    "LazyAdamRule",
    "SMORMS3Rule",
    "UpdateRule",
    "lazy_adam",
    "smorms3",
]
