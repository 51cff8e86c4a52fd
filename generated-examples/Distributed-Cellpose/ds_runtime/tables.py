"""CSV and TSV tables a user hands over: one reader for makeJobs' sources and the worker's LoadData CSVs.

Read the same way on both sides, so a file makeJobs accepts is one the worker reads alike:
- UTF-8, with or without the byte-order mark Excel's "CSV UTF-8" writes; any other
  encoding (Latin-1, Excel's plain "CSV") is refused, naming the line, the byte and the fix;
- a header row naming every column, each once (csv's DictReader would silently keep the
  last of two columns of one name);
- rows no wider than the header (a narrower one reads its missing cells as empty);
- csv's own refusals (a cell over its size limit, a NUL byte) name the line instead of
  raising from inside the reader.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class TableError(ValueError):
    """The table cannot be read; the message names the file, the line and the fix."""


def _text_lines(handle: BinaryIO, name: str) -> Iterator[str]:
    """The file's lines as text, decoded one by one so that a bad byte is named by its line."""
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TableError(
                f"{name} line {number}: byte 0x{raw[exc.start]:02x} (column {exc.start + 1}) is not UTF-8, so the"
                " file is in another encoding (Latin-1, or Excel's plain CSV); save it as UTF-8 (Excel: CSV UTF-8)"
            ) from None


@dataclass
class Table:
    """An open table: its `columns`, then its rows by iterating, as (line number, {column: text})."""

    name: str
    columns: list[str]
    _reader: Iterator[list[str]]
    _line: Callable[[], int]  # the reader's current line number

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        width = len(self.columns)
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TableError(
                    f"{self.name} line {self._line()}: {exc}; a cell that long usually means a quote left open"
                    if "field larger" in str(exc)
                    else f"{self.name} line {self._line()}: {exc}"
                ) from None
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) > width:
                raise TableError(
                    f"{self.name} line {self._line()}: {len(cells)} cells, but the header names {width} columns;"
                    " remove the extra cells or name their columns in line 1"
                )
            yield self._line(), dict(zip(self.columns, cells + [""] * (width - len(cells)), strict=True))


@contextlib.contextmanager
def open_table(path: Path, delimiter: str | None = None, name: str | None = None) -> Iterator[Table]:
    """The table at `path`, read as the module says; `delimiter` None: tabs for .tsv/.tab files or a header
    with tabs and no comma, else commas. `name` is how errors call the file (default: its path)."""
    name = name or str(path)
    with path.open("rb") as handle:
        lines = _text_lines(handle, name)
        first = next(lines, "")
        if delimiter is None:
            tabbed = path.suffix.lower() in (".tsv", ".tab") or ("\t" in first and "," not in first)
            delimiter = "\t" if tabbed else ","
        reader = csv.reader(_chain(first, lines), delimiter=delimiter)
        try:
            header = next(reader, [])
        except csv.Error as exc:
            raise TableError(f"{name} line 1: {exc}") from None
        columns = [c.strip() for c in header]
        if not columns or any(not c for c in columns):
            raise TableError(f"{name}: line 1 must name every column (a header row); name or delete the empty ones")
        seen: dict[str, int] = {}
        for position, column in enumerate(columns, start=1):
            if column in seen:
                raise TableError(
                    f"{name} line 1: column {column!r} appears twice (columns {seen[column]} and {position});"
                    " rename or remove one"
                )
            seen[column] = position
        yield Table(name, columns, reader, lambda: reader.line_num)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest
