"""Atomic file writes: a crash never leaves a half-written file where a good one was.

Every writer in vecsmith goes through `atomic_path` / `atomic_open`:

- the data goes to a hidden temporary file beside the target, ``.NAME.<pid>.<token>.tmp``,
  created with the permissions the umask gives (as ``open`` would), then fsync, rename, and
  fsync of the folder;
- SIGINT and SIGTERM remove the temporary file before the previous handler runs (the default
  SIGTERM action then still ends the process); the previous handlers are restored when the last
  write finishes;
- a SIGKILL cannot be caught: its leftover names a dead pid, and the next write to the same
  path removes it;
- the folder is created only with ``parents=True`` (else FileNotFoundError names it), and a
  write whose target is one of its ``inputs`` is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)
_lock = threading.RLock()
_live: set[str] = set()  # temporary files of writes in progress (this process)
_previous: dict[int, object] = {}  # handlers we replaced, while any write is in progress
_depth = 0


def temp_name(target: Path) -> Path:
    """A fresh hidden temporary name beside `target` that records this process's pid."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _leftover_pid(target: Path, name: str) -> int | None:
    m = re.fullmatch(rf"\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]+\.tmp", name)
    return int(m.group(1)) if m else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process (or unknowable): leave its file alone
    return True


def remove_leftovers(target: str | os.PathLike) -> list[Path]:
    """Remove temporary files of earlier writes to `target` whose process no longer exists."""
    target = Path(target)
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            pid = _leftover_pid(target, entry.name)
            if pid is not None and pid != os.getpid() and not _alive(pid):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _cleanup_handler(signum, frame) -> None:
    with _lock:
        for name in list(_live):
            with contextlib.suppress(OSError):
                os.unlink(name)
        _live.clear()
        previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # e.g. Python's SIGINT handler: raises KeyboardInterrupt
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # the default action (terminate), now without our files


def _enter(tmp: Path) -> None:
    global _depth
    with _lock:
        _live.add(str(tmp))
        _depth += 1
        if _depth == 1 and threading.current_thread() is threading.main_thread():
            for s in _SIGNALS:
                with contextlib.suppress(ValueError, OSError):
                    _previous[s] = signal.signal(s, _cleanup_handler)


def _leave(tmp: Path) -> None:
    global _depth
    with _lock:
        _live.discard(str(tmp))
        _depth -= 1
        if _depth == 0 and threading.current_thread() is threading.main_thread():
            for s, prev in list(_previous.items()):
                with contextlib.suppress(ValueError, OSError, TypeError):
                    if signal.getsignal(s) is _cleanup_handler:
                        signal.signal(s, prev)
            _previous.clear()


def _check_target(target: Path, parents: bool, inputs: Iterable) -> None:
    folder = target.parent
    if not folder.is_dir():
        if parents:
            folder.mkdir(parents=True, exist_ok=True)
        elif folder.exists():
            raise NotADirectoryError(f"cannot write {target}: {folder} is not a folder")
        else:
            raise FileNotFoundError(f"cannot write {target}: folder {folder} does not exist")
    for src in inputs:
        if src is None:
            continue
        src_path = Path(src)
        same = target.resolve() == src_path.resolve()
        with contextlib.suppress(OSError):
            same = same or os.path.samefile(target, src_path)
        if same:
            raise ValueError(f"refusing to overwrite the input {src_path} with the output")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, parents: bool = False,
                inputs: Iterable[str | os.PathLike | None] = ()) -> Iterator[Path]:
    """Yield a hidden temporary path beside `path`; on success fsync it and rename it over `path`.

    Use it with writers that want a file name (safetensors, numpy):
    ``with atomic_path(out) as tmp: save_file(tensors, tmp)``. The temporary file exists (empty)
    when the block starts, with the umask's permissions.
    """
    target = Path(path)
    _check_target(target, parents, inputs)
    remove_leftovers(target)
    tmp = temp_name(target)
    _enter(tmp)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        _leave(tmp)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, parents: bool = False,
                inputs: Iterable[str | os.PathLike | None] = (), **kwargs) -> Iterator:
    """Open a temporary file for writing; it replaces `path` only if the block succeeds."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_open is for writing, got mode {mode!r}")
    with atomic_path(path, parents=parents, inputs=inputs) as tmp, \
            open(tmp, mode.replace("x", "w"), **kwargs) as fh:
        yield fh
        fh.flush()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
