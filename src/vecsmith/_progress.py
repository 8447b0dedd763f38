"""Progress bars on stderr (rich), silent when quiet or when stderr is not a terminal.

Training loops give the bar their maximum (epochs x batches, steps), but early stopping or a
time budget usually ends them sooner: for those tasks the time column says "at most ..."
rather than promising a finish time the run will not keep.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

# Task descriptions (prefixes) of loops whose total is a maximum that early stopping or a time
# budget may cut short: transfer epochs, its least-squares start, rnn training, stem training.
CAPPED = ("transfer", "least-squares", "training", "stems", "val loss", "recall@")


class HonestRemainingColumn(TimeRemainingColumn):
    """Remaining time; "at most" for capped loops (see CAPPED) or a task field capped=True."""

    def render(self, task):
        text = super().render(task)
        capped = task.fields.get("capped")
        if capped is None:
            capped = task.description.startswith(CAPPED)
        if capped and not task.finished and task.time_remaining is not None:
            text.plain = f"at most {text.plain}"
        return text

stderr_console = Console(stderr=True)


def progress(quiet: bool = False) -> Progress:
    """A rich Progress that writes to stderr; disabled when `quiet`."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        HonestRemainingColumn(),
        console=stderr_console,
        disable=quiet or not sys.stderr.isatty(),
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None,
          quiet: bool = False) -> Iterator[T]:
    """Iterate over `items` with a progress bar on stderr."""
    with progress(quiet) as bar:
        yield from bar.track(items, total=total, description=description)
