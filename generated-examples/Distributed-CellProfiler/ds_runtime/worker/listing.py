"""Files named inside a downloaded input: a LoadData CSV or a file list.

DCP's users write image paths into these files as they appear on the worker's bucket
mount (`/home/ubuntu/bucket/<key>`). The worker mounts nothing: it reads the list,
keeps the rows of this job (a CSV's rows whose metadata equal the job's mapping, compared
as CellProfiler compares them: see `measured_text`), downloads exactly the files those
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
from ..placeholders import scalar_text

FILE_URL = "file://"
INT32 = (-(2**31), 2**31 - 1)
# CellProfiler's is_well_column_token: a Metadata_<token> column is always text.
WELL_COLUMN_TOKENS = frozenset({"wellcol", "well_col", "wellcolumn", "well_column", "column", "col"})


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
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key = listing.key_of(line, f"{list_file.name} line {number}")
        keys.append(key)
        lines.append(listing.local_of(key, line.strip().startswith(FILE_URL)))
    list_file.write_text("".join(f"{line}\n" for line in lines))
    return keys


def _stage_csv(list_file: Path, listing: Listing, rows_matching: Mapping[str, Any] | None) -> list[str]:
    with list_file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    wanted = {str(k): scalar_text(v) for k, v in (rows_matching or {}).items()}
    missing = [k for k in wanted if k not in columns]
    if missing:
        raise ListingError(f"{list_file.name}: no column {', '.join(missing)} to select this job's rows by")
    kinds = {k: column_kind(k, [row[k] for row in rows]) for k in wanted}
    kept = [row for row in rows if all(measured_text(row[k], kinds[k]) == v for k, v in wanted.items())]
    if not kept:
        shown = ",".join(f"{k}={v}" for k, v in wanted.items())
        raise ListingError(f"{list_file.name}: no row matches {shown}; check the job's metadata against the CSV")
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


# CellProfiler 4.2.8 (cellprofiler_core/modules/loaddata.py, LoadData.get_measurement_columns
# and prepare_run) types each CSV column over all its rows: integer while every value is a
# 32-bit int, else float while every value parses as one, else text; its `-g` then compares
# the command line's text with str() of the typed values (Measurements.get_groupings,
# Pipeline.run). So `-g Metadata_Site=2` runs the row written 002, and `=002` runs nothing.


def _value_kind(text: str) -> str:
    """CellProfiler's get_loaddata_type: 'int', 'float' or 'text' (int() and float() as Python reads them)."""
    try:
        number = int(text)
    except ValueError:
        try:
            float(text)
        except ValueError:
            return "text"
        return "float"
    return "int" if INT32[0] <= number <= INT32[1] else "text"


def column_kind(name: str, values: list[str | None]) -> str:
    """The type CellProfiler gives a LoadData column: the widest of its values' kinds."""
    category, _, feature = name.partition("_")
    if category == "Metadata" and feature.split("_")[0].lower() in WELL_COLUMN_TOKENS:
        return "text"
    kinds = {_value_kind(value or "") for value in values}
    return "text" if "text" in kinds else "float" if "float" in kinds else "int"


def measured_text(text: str | None, kind: str) -> str:
    """A CSV value as CellProfiler's groups show it: `002` in an integer column is `2`, `2.50` a float's `2.5`."""
    text = text or ""
    return str(int(text)) if kind == "int" else str(float(text)) if kind == "float" else text
