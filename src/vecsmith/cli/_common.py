"""Shared CLI helpers: stdout console, errors, TSV when piped, tables for humans."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # errors stay on one greppable line


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` in red on stderr and return an Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def print_rows(header: Sequence[str], rows: Iterable[Sequence], title: str | None = None,
               tsv: bool | None = None) -> None:
    """A rich table on a terminal, plain TSV (with header) when stdout is piped or `tsv`."""
    if tsv is None:
        tsv = not stdout_is_terminal()
    if tsv:
        out = sys.stdout
        out.write("\t".join(header) + "\n")
        for row in rows:
            out.write("\t".join(_fmt(v) for v in row) + "\n")
        return
    table = Table(title=title, show_lines=False)
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    console.print(table)


def read_words(words: Sequence[str] | None) -> list[str]:
    """Words from the arguments, or whitespace-separated from stdin when none are given."""
    if words:
        return list(words)
    if sys.stdin.isatty():
        raise fail("give words as arguments or on stdin")
    return sys.stdin.read().split()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
