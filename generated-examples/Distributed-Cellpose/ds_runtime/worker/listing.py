"""Files named inside a downloaded input: a LoadData CSV or a file list.

DCP's users write image paths into these files as they appear on the worker's bucket
mount (`/home/ubuntu/bucket/<key>`). The worker mounts nothing: it reads the list,
keeps the rows of this job (a CSV's rows whose metadata equal the job's mapping, compared
as CellProfiler compares them: metadata_values.py), downloads exactly the files those
rows name, and rewrites the list in place so every path points at the local copy under
the job's input folder.

Formats, by the list's extension:
- `.csv`: each `...FileName_<X>` column pairs with its `...PathName_<X>` column
  (LoadData's images and objects); `URL_<X>` columns hold `file://` URLs.
- `.txt`: one path or `file://` URL per line (CellProfiler's --file-list).
Any other file (e.g. an .h5 batch file) names nothing here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..keys import local_path, safe_key
from ..metadata_values import column_kind, measured_text
from ..placeholders import scalar_text
from ..tables import TableError, open_table

FILE_URL = "file://"


class ListingError(ValueError):
    """The list cannot be read, or names a file outside the bucket root."""


@dataclass(frozen=True)
class Listing:
    """Where the list's paths live: `root` (the original's bucket mount) maps onto `input_dir`."""

    root: str
    input_dir: str

    def key_of(self, path: str, where: str) -> str:
        """The S3 key for a path written under `root`, refused if it points anywhere else."""
        text = path.strip()
        bare = text[len(FILE_URL) :] if text.startswith(FILE_URL) else text
        root = self.root.rstrip("/") + "/"
        if not bare.startswith(root):
            raise ListingError(f"{where}: {text!r} is not under {self.root}; write it as {root}<key in the bucket>")
        try:
            return safe_key(bare[len(root) :], what=where)
        except ValueError as exc:
            raise ListingError(str(exc)) from None

    def local_of(self, key: str, url: bool) -> str:
        path = local_path(self.input_dir, key)
        return FILE_URL + path if url else path


def stage_listing(list_file: Path, listing: Listing, rows_matching: Mapping[str, Any] | None) -> list[str]:
    """Rewrite `list_file` to point at local copies; the S3 keys to download there, in order, once each."""
    suffix = list_file.suffix.lower()
    if suffix == ".csv":
        keys = _stage_csv(list_file, listing, rows_matching)
    elif suffix == ".txt":
        keys = _stage_lines(list_file, listing)
    else:
        return []
    return list(dict.fromkeys(keys))


def _stage_lines(list_file: Path, listing: Listing) -> list[str]:
    keys, lines = [], []
    for number, line in enumerate(_read_lines(list_file), start=1):
        if not line.strip():
            continue
        key = listing.key_of(line, f"{list_file.name} line {number}")
        keys.append(key)
        lines.append(listing.local_of(key, line.strip().startswith(FILE_URL)))
    list_file.write_text("".join(f"{line}\n" for line in lines))
    return keys


def _read_lines(list_file: Path) -> list[str]:
    """A file list's lines: UTF-8, with or without a byte-order mark, as tables.py reads a CSV."""
    data = list_file.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ListingError(
            f"{list_file.name} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 (Latin-1, or another"
            " encoding?); save the file as UTF-8"
        ) from None


def _stage_csv(list_file: Path, listing: Listing, rows_matching: Mapping[str, Any] | None) -> list[str]:
    try:
        with open_table(list_file, delimiter=",", name=list_file.name) as table:
            columns = table.columns
            rows = [row for _, row in table]
    except TableError as exc:
        raise ListingError(str(exc)) from None
    wanted = {str(k): scalar_text(v) for k, v in (rows_matching or {}).items()}
    missing = [k for k in wanted if k not in columns]
    if missing:
        raise ListingError(f"{list_file.name}: no column {', '.join(missing)} to select this job's rows by")
    kinds = {k: column_kind(k, [row[k] for row in rows]) for k in wanted}
    kept = [row for row in rows if all(measured_text(row[k], kinds[k]) == v for k, v in wanted.items())]
    if not kept:
        raise ListingError(_no_row_matches(list_file.name, rows, wanted, kinds))
    pairs = [(c, c.replace("FileName_", "PathName_", 1)) for c in columns if "FileName_" in c]
    pairs = [(name, path) for name, path in pairs if path in columns]
    urls = [c for c in columns if c.startswith("URL_")]
    keys: list[str] = []
    for number, row in enumerate(kept, start=1):
        where = f"{list_file.name} row {number}"
        for name_column, path_column in pairs:
            if not row[name_column]:
                continue
            key = listing.key_of(f"{row[path_column].rstrip('/')}/{row[name_column]}", f"{where} {path_column}")
            keys.append(key)
            row[path_column] = listing.local_of(key.rpartition("/")[0], url=False)
        for column in urls:
            if row[column].startswith(FILE_URL):
                key = listing.key_of(row[column], f"{where} {column}")
                keys.append(key)
                row[column] = listing.local_of(key, url=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    list_file.write_text(out.getvalue())
    return keys


def _no_row_matches(name: str, rows: list[dict[str, str]], wanted: dict[str, str], kinds: dict[str, str]) -> str:
    """Why no row is this job's, with the values to write when the job wrote a number otherwise than CellProfiler
    reads it (Metadata_Site=002 where the column is of integers: 2)."""
    shown = ",".join(f"{k}={v}" for k, v in wanted.items())
    fixed = {k: _as_measured(v, kinds[k]) for k, v in wanted.items()}
    if fixed != wanted and any(all(measured_text(row[k], kinds[k]) == fixed[k] for k in wanted) for row in rows):
        better = ",".join(f"{k}={v}" for k, v in fixed.items())
        return (
            f"{name}: no row matches {shown}; CellProfiler (and its -g) reads numbers in these columns as numbers:"
            f" write {better}, as makeJobs does"
        )
    return f"{name}: no row matches {shown}; check the job's metadata against the CSV"


def _as_measured(text: str, kind: str) -> str:
    try:
        return measured_text(text, kind)
    except ValueError:  # not a number of the column's kind: it matches no row either way
        return text
