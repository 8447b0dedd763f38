"""Stores inside PyTorch models (needs torch).

:class:`SubwordEmbedding` is a ``torch.nn.Module`` over a vecsmith store, a fastText model or a
transfer table: it embeds known and unknown words exactly as the store does, trains with sparse
gradients (one :class:`vecsmith.optim.DenseSparseOptimizer` for the whole model), and writes
the tuned tables back as a store (:meth:`SubwordEmbedding.save_store`).
"""

from __future__ import annotations

from vecsmith._deps import require

require("torch", "vecsmith.nn")

from ._subword_ids import Rows  # noqa: E402
from .embedding import SubwordEmbedding  # noqa: E402

__all__ = ["Rows", "SubwordEmbedding"]
