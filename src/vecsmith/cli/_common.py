"""What every verb shares: the same options, the same checks before work, the same output.

The conventions (README "Command line conventions"): inputs are positional; the file or folder
written is `-o/--output`; `-k` is only ever "how many results"; `-q/--quiet` silences progress;
`--json` prints results as JSON; `--threads` and `--device` have one default everywhere; every
path is checked before any long work starts.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import typer

from vecsmith.cli._app import CliError, usage_error

_CONSOLES: dict = {}  # rich consoles, made on first use (rich costs ~0.05 s to import)


def rich_console(stderr: bool = False):
    """The rich console on stdout (or stderr), made on first use."""
    if stderr not in _CONSOLES:
        from rich.console import Console

        _CONSOLES[stderr] = (Console(stderr=True, soft_wrap=True, highlight=False) if stderr
                             else Console())
    return _CONSOLES[stderr]


class LazyConsole:
    """Stands for a rich console until first used, so importing a verb imports no rich."""

    def __init__(self, stderr: bool = False):
        self._stderr = stderr

    def __getattr__(self, attr: str):
        return getattr(rich_console(self._stderr), attr)


# stdout and stderr consoles for the verbs; rich loads when one first prints
console = LazyConsole()
err_console = LazyConsole(stderr=True)

# Torch CPU threads when --threads is not given: half the cores (at least 1, at most 8). On the
# shared 2-core development box, `rnn train --max-seconds 60` saw 4,736 examples with torch's
# default (every core) and 127,950 with one thread: oversubscribed cores cost far more than a
# second core gains, and training processes here are often two at a time.
DEFAULT_THREADS = max(1, min(8, len(os.sched_getaffinity(0)) // 2
                             if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2) // 2))
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def fail(message: str, code: int = 1) -> CliError:
    """An error to raise: one line on stderr, exit `code` (1 bad data, 2 bad usage)."""
    return CliError(message, code)


# ---- the shared options -------------------------------------------------------------------

def quiet_option():
    return typer.Option(False, "--quiet", "-q", help="No progress or status lines on stderr.")


def json_option():
    return typer.Option(False, "--json", help="Print the results as JSON (one document).")


def threads_option():
    return typer.Option(None, "--threads", min=1, max=1024, show_default=False,
                        help=f"torch CPU threads (default: half the cores, here "
                             f"{DEFAULT_THREADS}; measured fastest on a busy small machine).")


def device_option():
    return typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")


def parents_option():
    return typer.Option(False, "--parents", help="Create the output's missing parent folders.")


# ---- checks before work -------------------------------------------------------------------

def check_device(device: str) -> str:
    """The device name, checked (a usage error otherwise) without starting any work."""
    if not DEVICE_RE.match(device):
        raise usage_error(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise usage_error(f"--device {device}: torch sees no CUDA GPU here (use cpu or auto)")
    return device


def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads to `threads` (default DEFAULT_THREADS); return the number used."""
    n = DEFAULT_THREADS if threads is None else threads
    import torch

    torch.set_num_threads(n)
    return n


def check_input(path: str | os.PathLike, what: str = "input", *, stdin_ok: bool = False,
                folder: bool = False) -> Path:
    """An existing regular file (or folder, with `folder`) that can be read; '-' is stdin when
    `stdin_ok`. Never opens a FIFO or device: those are usage errors."""
    if stdin_ok and str(path) == "-":
        return Path("-")
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise usage_error(f"{what} {p}: no such file") from None
    except OSError as exc:
        raise usage_error(f"{what} {p}: {exc.strerror}") from None
    if folder:
        if not stat.S_ISDIR(st.st_mode):
            raise usage_error(f"{what} {p}: expected a model folder, found a file")
    elif stat.S_ISDIR(st.st_mode):
        raise usage_error(f"{what} {p} is a folder, expected a file")
    elif not stat.S_ISREG(st.st_mode):
        raise usage_error(f"{what} {p} is not a regular file (a pipe or device); "
                          "pass '-' to read stdin")
    if not os.access(p, os.R_OK):
        raise usage_error(f"{what} {p}: permission denied")
    return p


def check_output(path: str | os.PathLike | None, *, inputs: Sequence = (), parents: bool = False,
                 folder: bool = False, what: str = "output") -> Path | None:
    """Check, before any work, that `path` can be written: not a folder (unless `folder`), not
    one of the `inputs`, its parent folder exists (created only with `parents`) and is
    writable. A usage error otherwise."""
    if path is None:
        return None
    p = Path(path)
    if str(p) in ("", "-"):
        raise usage_error(f"{what}: give a file name")
    if p.is_dir() and not folder:
        raise usage_error(f"{what} {p} is a folder; give a file name")
    if folder and p.exists() and not p.is_dir():
        raise usage_error(f"{what} {p} exists and is not a folder")
    if not folder and p.exists() and not (p.is_file() or p.is_symlink()):
        raise usage_error(f"{what} {p} is not a regular file")
    for src in inputs:
        if src is None or str(src) == "-":
            continue
        if _same(p, Path(src)):
            raise usage_error(f"{what} {p} is the input {src}; write somewhere else")
    parent = p.absolute().parent
    if not parent.exists():
        if not parents:
            raise usage_error(f"{what} {p}: folder {parent} does not exist (create it, or pass "
                              "--parents)")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise usage_error(f"{what} {p}: cannot create {parent}: {exc.strerror}") from None
    if not parent.is_dir():
        raise usage_error(f"{what} {p}: {parent} is not a folder")
    if not _can_create_in(parent):
        raise usage_error(f"{what} {p}: folder {parent} is not writable")
    if p.exists() and not os.access(p, os.W_OK) and not folder:
        raise usage_error(f"{what} {p}: not writable")
    return p


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in `folder`: tried for real (an anonymous temporary file,
    gone when closed), since os.access says yes to root even where creating fails (/proc)."""
    import tempfile

    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.absolute() == b.absolute()


# ---- reading ------------------------------------------------------------------------------

def read_words(words: Sequence[str] | None) -> list[str]:
    """Words from the arguments, or whitespace-separated from stdin when none are given."""
    if words:
        return list(words)
    if sys.stdin is None or sys.stdin.isatty():
        raise usage_error("give words as arguments or on stdin")
    got = sys.stdin.read().split()
    if not got:
        raise usage_error("no words: the arguments and stdin are empty")
    return got


def open_text(path: Path, what: str = "input") -> Iterator[str]:
    """Lines (without newline) of a UTF-8 file or '-' (stdin); stdin from a terminal is an
    error, a file that is not UTF-8 a data error naming the line."""
    if str(path) == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise usage_error(f"{what}: pipe lines on stdin or give a file")
        fh = sys.stdin
    else:
        fh = open(path, encoding="utf-8")
    n = 0
    try:
        for n, line in enumerate(fh, 1):  # noqa: B007 - n names the line on error
            yield line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise fail(f"{what} {path}: line {n + 1} is not UTF-8 text (byte {exc.start} of "
                   "it); is this the right file?") from None
    finally:
        if fh is not sys.stdin:
            fh.close()


# ---- printing -----------------------------------------------------------------------------

def info(message: str, quiet: bool = False) -> None:
    """A status line on stderr (what a long run is doing), unless quiet."""
    if not quiet:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def emit_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def print_rows(header: Sequence[str], rows: Iterable[Sequence], title: str | None = None,
               tsv: bool | None = None, as_json: bool = False) -> None:
    """A rich table on a terminal, plain TSV (with header) when piped or `tsv`, a JSON list of
    objects with `as_json`."""
    if as_json:
        emit_json([dict(zip(header, row)) for row in rows])
        return
    if tsv is None:
        tsv = not stdout_is_terminal()
    if tsv:
        out = sys.stdout
        out.write("\t".join(header) + "\n")
        for row in rows:
            out.write("\t".join(_fmt(v) for v in row) + "\n")
        return
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    rich_console().print(table)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return ""
    return str(value)
