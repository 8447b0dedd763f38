"""Read training data from files or stdin in bounded chunks: VW lines and label<TAB>text lines.

Files are untrusted: text must be UTF-8 (an error names the file and line otherwise), and a
format error names the line it was found near.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

CHUNK_LINES = 8192


class DataFormatError(ValueError):
    """A data file (or stdin) that is not in the format a reader expects."""


def _name(source: str | os.PathLike) -> str:
    return "stdin" if str(source) == "-" else str(source)


def read_lines(source: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) of a UTF-8 file, or of stdin for '-'."""
    fh = sys.stdin if str(source) == "-" else open(Path(source), encoding="utf-8")
    n = 0
    try:
        for n, line in enumerate(fh, 1):
            yield n, line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{_name(source)}: line {n + 1} is not UTF-8 text (byte "
                              f"{exc.start}); is this the right file?") from None
    finally:
        if fh is not sys.stdin:
            fh.close()


def vw_chunks(source: str | os.PathLike, chunk_lines: int = CHUNK_LINES
              ) -> Iterator[tuple[list[str], list, object]]:
    """(feature texts, labels, importance weights) per chunk of VW-format lines, as `read_vw`
    returns them; a format error names the source and the line it was found near."""
    from vecsmith.linear.features import FeatureFormatError, read_vw

    buf: list[str] = []
    lineno = 0
    for lineno, line in read_lines(source):
        buf.append(line)
        if len(buf) == chunk_lines:
            try:  # read_vw's errors name the line: number them from this chunk's first
                yield read_vw(buf, first_line=lineno - len(buf) + 1)
            except FeatureFormatError as exc:
                raise DataFormatError(f"{_name(source)}: {exc}") from None
            buf = []
    if buf:
        try:
            yield read_vw(buf, first_line=lineno - len(buf) + 1)
        except FeatureFormatError as exc:
            raise DataFormatError(f"{_name(source)}: {exc}") from None


def vw_labels(source: str | os.PathLike) -> list[str]:
    """The sorted distinct labels of a labelled VW file (one pass over it)."""
    labels: set[str] = set()
    for _texts, labs, _w in vw_chunks(source):
        if any(lab is None for lab in labs):
            raise DataFormatError(f"{_name(source)}: every training line needs a label "
                                  "before the '|'")
        labels.update(labs)
    return sorted(labels)


def read_tsv(source: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(texts, labels) from label<TAB>text lines; blank lines are skipped; no lines is an
    error."""
    texts, labels = [], []
    for n, line in read_lines(source):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataFormatError(f"{_name(source)}:{n}: expected label<TAB>text, found no tab")
        label, text = line.split("\t", 1)
        if not label:
            raise DataFormatError(f"{_name(source)}:{n}: empty label")
        labels.append(label)
        texts.append(text)
    if not texts:
        raise DataFormatError(f"{_name(source)}: no label<TAB>text lines: nothing to train or "
                              "score")
    return texts, labels
