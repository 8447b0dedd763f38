"""The `vecsmith` command: a thin typer layer over the library, one module per verb group.

Heavy libraries are imported inside the commands, so `vecsmith --help` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vecsmith",
    help=(
        "Word-embedding tools: read fastText models exactly, serve vectors from a compact "
        "store, cluster without k, train char-RNNs and online linear models.\n\n"
        "Run 'vecsmith VERB --help' for each verb's options and examples."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

# Each module registers its verbs on `app` when imported; the order here is the order of
# `vecsmith --help`. (verb modules are added below as they land)
from . import fasttext  # noqa: E402,F401
from . import store  # noqa: E402,F401
from . import cluster  # noqa: E402,F401
from . import linear  # noqa: E402,F401
from . import rnn  # noqa: E402,F401
from . import transfer  # noqa: E402,F401
from . import compress  # noqa: E402,F401
from . import demo  # noqa: E402,F401


def main() -> None:  # console-script entry point
    app()
