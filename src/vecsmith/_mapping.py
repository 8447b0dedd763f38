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



def release(buf: np.memmap | None, view: np.ndarray) -> None:
    """Unmap the pages under `view` (a slice of the file map `buf`) from this process.

    Pages of a read-only file map count in RSS once touched, though they are only the
    kernel's page cache: a long scan that never comes back to them (the word rows a
    conversion has written) would otherwise show gigabytes of RSS. MADV_DONTNEED drops the
    mapping, not the data; reading the range again simply maps it back. No-op off Linux.
    """
    mm = getattr(buf, "_mmap", None)
    if mm is None or not hasattr(mmap, "MADV_DONTNEED") or view.size == 0:
        return
    start = view.ctypes.data - buf.ctypes.data
    end = start + view.nbytes
    start -= start % mmap.PAGESIZE
    if 0 <= start < end <= buf.nbytes:
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_DONTNEED, start, end - start)
