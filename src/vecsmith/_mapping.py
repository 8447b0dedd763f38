"""Memory-mapping helpers shared by the model reader and the store (no heavy imports)."""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
from dataclasses import dataclass

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


def regular_file(path, error) -> os.stat_result:
    """stat `path` and refuse anything but a regular file before it is opened: opening a FIFO
    for reading blocks until a writer comes, and a device may never end. `error(message)`
    builds the caller's typed error; a missing file stays FileNotFoundError."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise error(f"is {kind}, not a regular file; refusing to read it")
    return st


@dataclass(frozen=True)
class FileStamp:
    """What a memory-mapped file was when it was mapped: device, inode, size, mtime.

    Reading a page of a map whose file was truncated under it raises SIGBUS, which kills the
    interpreter; a `cp` over the file truncates it first. Comparing the stamp with a fresh
    ``os.stat`` before a read turns that into a typed error. What it cannot guard: a
    truncation between the check and the read (a window of microseconds), and writes that
    keep size and mtime (mtime has nanosecond resolution on the usual filesystems).
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def changed(self, path) -> str | None:
        """None while the mapped file is as it was mapped, else what changed.

        Only a change of the mapped file itself (same inode: truncated, `cp` over it, written
        in place) is reported. A path removed, or renamed over by another file (as atomic
        writes do), leaves the mapped inode whole: the map keeps reading the consistent old
        data, as a running program keeps its replaced executable."""
        try:
            st = os.stat(path)
        except OSError:
            return None  # removed: the mapped inode lives on, untouched
        if st.st_size == self.size and st.st_mtime_ns == self.mtime_ns and \
                st.st_ino == self.ino and st.st_dev == self.dev:
            return None  # the common case first: one stat, ~1.5 us per lookup call
        if (st.st_dev, st.st_ino) != (self.dev, self.ino):
            return None  # renamed over: the old inode is still what the map reads
        if st.st_size != self.size:
            return f"size {self.size} -> {st.st_size} bytes"
        if st.st_mtime_ns != self.mtime_ns:
            return "modified"
        return None
