"""How a failure reads on stderr: one line, no markup. Free of typer, so the fast path
(`vecsmith.cli._fast`) says things the way the full command line does."""

from __future__ import annotations

import sys


def one_line(message: str) -> str:
    """Messages are greppable: one line, no rich markup, no trailing spaces."""
    return " ".join(str(message).split("\n")).strip()


def say_error(message: str) -> None:
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def describe(exc: BaseException) -> str:
    """The message of a library exception, led by its type only when the text alone is vague."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}); is this the right file?"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    known = ("Error" in type(exc).__name__ and type(exc).__module__.startswith("vecsmith"))
    if known or isinstance(exc, (ValueError, KeyError, LookupError)):
        return text or type(exc).__name__
    return f"internal error ({type(exc).__name__}: {text}); run 'vecsmith --debug ...' " \
           "for the traceback"
