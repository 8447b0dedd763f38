"""The `vecsmith` command: a thin typer layer over the library, one module per verb group.

Each verb parses, checks every argument and path, calls one library function and prints.
Heavy libraries are imported inside the commands, so `vecsmith --help` stays fast. The app
lives in `_app` (verb modules import it from there), so this package imports its verbs
without a cycle; the order below is the order of `vecsmith --help`.
"""

from __future__ import annotations

from vecsmith.cli._app import app
from vecsmith.cli import fasttext  # noqa: F401 - verbs register in --help order
from vecsmith.cli import store  # noqa: F401
from vecsmith.cli import cluster  # noqa: F401
from vecsmith.cli import linear  # noqa: F401
from vecsmith.cli import rnn  # noqa: F401
from vecsmith.cli import transfer  # noqa: F401
from vecsmith.cli import serve  # noqa: F401
from vecsmith.cli import demo  # noqa: F401

__all__ = ["app", "main"]


def main() -> None:  # console-script entry point
    app()
