"""Memory-mapping helpers shared by the model reader and the store (no heavy imports)."""

from __future__ import annotations

import contextlib
import mmap

import numpy as np


def advise_random(buf: np.memmap) -> None:
    """Tell the kernel rows are read at random: no readahead of neighbouring pages."""
    mm = getattr(buf, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_RANDOM"):
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_RANDOM)
