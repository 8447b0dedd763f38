"""The `vecsmith` command: a thin typer layer over the library, one module per verb group.

Each verb parses, checks every argument and path, calls one library function and prints.
Heavy libraries are imported inside the commands. The app lives in `_app` (verb modules
import it from there), so this package imports its verbs without a cycle, and only when `app`
is first asked for: `main()` first lets `_fast` answer `vecsmith --help` and
`vecsmith vectors MODEL WORD ...` without importing typer at all. `VERB_MODULES` is the order
of `vecsmith --help` (`_fast.VERBS` lists the same verbs with their summaries).
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["VERB_MODULES", "app", "main"]

VERB_MODULES = ("fasttext", "store", "cluster", "linear", "rnn", "transfer", "compress", "serve", "demo")


def _load_app():
    from vecsmith.cli._app import app

    for name in VERB_MODULES:  # each registers its verbs on `app` when imported
        importlib.import_module(f"vecsmith.cli.{name}")
    return app


def __getattr__(name: str):
    if name == "app":
        return _load_app()
    raise AttributeError(f"module 'vecsmith.cli' has no attribute {name!r}")


def main() -> None:  # console-script entry point
    from vecsmith.cli import _fast

    code = _fast.main()
    if code is not None:
        sys.exit(code)
    _load_app()()
