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



MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux >= 5.14


def populate(buf: np.memmap | None) -> None:
    """Read a whole file map into memory now, in 2 MB pages where the kernel allows it.

    Random lookups fault rows in one 4 KB page at a time: a cold first batch over a
    multi-gigabyte table is thousands of random reads, and every row stays a TLB miss.
    MADV_HUGEPAGE makes the kernel read and map the file in 2 MB pieces (parts already in the
    page cache keep the pieces they have), and MADV_POPULATE_READ faults it all in with one
    call (a touch per page where that is missing). Pages stay shared page cache. On the
    7.2 GB cc-sized model: one sequential read of 3 s against minutes of random faults for a
    cold first batch; afterwards the store's batch lookups ran 8% faster in the benchmark run
    (the reader's within noise; benchmarks/RESULTS.md).
    """
    if buf is None or buf.size == 0:
        return
    mm = getattr(buf, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_HUGEPAGE)
    if mm is not None:
        try:
            mm.madvise(MADV_POPULATE_READ)
            return
        except (OSError, ValueError):
            pass
    int(buf[:: mmap.PAGESIZE].sum(dtype=np.uint64))  # touch one byte per page


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
