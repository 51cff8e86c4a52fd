"""Where makeJobs finds its jobs: rows of values, each with the place it came from.

Three sources, each giving `Row`s of text values keyed by column:
- a LoadData CSV, one row per distinct combination of the grouping columns (DCP's groups);
- a listing of an S3 prefix or a local folder, matched against a pattern with named fields;
- a CSV/TSV table, one row per job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...jobs import JobFileError
from ...keys import safe_key
from ...tables import TableError, open_table

KEY_COLUMN = "key"  # a listing's column holding the object's whole key (one job per object)
_PATTERN_PART = re.compile(r"\{([^{}]*)\}|\*")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Row:
    origin: str  # e.g. "load_data.csv line 5", for errors that name the source row
    values: dict[str, str]


def _table(path: Path) -> Any:
    """The table at `path` (tables.open_table), its errors as JobFileError."""
    if not path.is_file():
        raise JobFileError(f"{path}: file not found; give the path of a CSV or TSV file")
    return open_table(path)


def loaddata_rows(path: Path, group_by: Sequence[str]) -> list[Row]:
    """One row per distinct combination of `group_by` columns, in order of first appearance."""
    seen: dict[tuple[str, ...], Row] = {}
    problems: list[str] = []
    try:
        with _table(path) as table:
            missing = [c for c in group_by if c not in table.columns]
            if missing:
                metadata = [c for c in table.columns if c.startswith("Metadata_")] or table.columns
                raise JobFileError(
                    f"{path}: no column {', '.join(missing)}; --group-by takes columns of its header:"
                    f" {', '.join(metadata)}"
                )
            for line, record in table:
                combo = tuple(record[c].strip() for c in group_by)
                empty = [c for c, v in zip(group_by, combo, strict=True) if not v]
                if empty:
                    problems.append(f"{path} line {line}: {empty[0]} is empty; every row needs a value to group by")
                elif combo not in seen:
                    seen[combo] = Row(f"{path} line {line}", dict(zip(group_by, combo, strict=True)))
    except TableError as exc:
        raise JobFileError(str(exc)) from None
    _refuse(problems, path)
    if not seen:
        raise JobFileError(f"{path}: no rows under the header; give a LoadData CSV with one row per image set")
    return list(seen.values())


def table_rows(path: Path) -> list[Row]:
    """One row per job; empty cells are left out (the field's default, or a named problem)."""
    rows = []
    try:
        with _table(path) as table:
            for line, record in table:
                values = {k: v.strip() for k, v in record.items() if v.strip()}
                if values:
                    rows.append(Row(f"{path} line {line}", values))
    except TableError as exc:
        raise JobFileError(str(exc)) from None
    if not rows:
        raise JobFileError(f"{path}: no rows under the header; give one row per job")
    return rows


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], list[str]]:
    """A path pattern as a regex: `{name}` is one or more characters within a path segment,
    the same name twice must match the same text, `*` is any text within a segment."""
    parts: list[str] = []
    names: list[str] = []
    end = 0
    for match in _PATTERN_PART.finditer(pattern):
        parts.append(re.escape(pattern[end : match.start()]))
        end = match.end()
        if match.group(0) == "*":
            parts.append("[^/]*?")
            continue
        name = match.group(1).strip()
        if not _NAME.match(name) or name == KEY_COLUMN:
            raise JobFileError(
                f"--pattern {pattern!r}: {{{name}}} must be a name of letters, digits and _ (not {KEY_COLUMN!r},"
                " which is the whole key)"
            )
        if name in names:
            parts.append(f"(?P={name})")
        else:
            parts.append(f"(?P<{name}>[^/]+?)")
            names.append(name)
    parts.append(re.escape(pattern[end:]))
    return re.compile("".join(parts)), names


def listing_rows(
    found: Iterable[tuple[str, str]], prefix: str, pattern: str, group_by: Sequence[str] | None, with_key: bool
) -> list[Row]:
    """Rows from (key, where it is) pairs under `prefix` whose rest of the key matches `pattern`.

    One row per distinct combination of `group_by` (default: every named field), or, with
    `with_key`, one per object, holding its whole key in the column `key`.
    """
    regex, names = compile_pattern(pattern)
    group_by = list(group_by) if group_by else names
    unknown = [g for g in group_by if g not in names]
    if unknown:
        raise JobFileError(f"--group-by {', '.join(unknown)}: not a field of --pattern {pattern!r} ({names})")
    base = _prefix(prefix)
    seen: dict[tuple[str, ...], Row] = {}
    skipped: list[str] = []
    for key, origin in found:
        relative = key[len(base) + 1 :] if base else key
        match = regex.fullmatch(relative)
        if match is None:
            skipped.append(key)
            continue
        values = {g: match.group(g) for g in group_by}
        combo = (key,) if with_key else tuple(values.values())
        if combo not in seen:
            seen[combo] = Row(origin, {**values, **({KEY_COLUMN: key} if with_key else {})})
    if not seen:
        examples = ", ".join(skipped[:3]) or "none"
        raise JobFileError(
            f"prefix {base + '/' if base else '(the bucket root)'}: no file matches --pattern {pattern!r}, which"
            f" is matched against the path after the prefix ({len(skipped)} file(s) there, e.g. {examples})"
        )
    return list(seen.values())


def local_keys(folder: Path, prefix: str) -> list[tuple[str, str]]:
    """(key, path) of a folder's files, keyed as `uploadInputs FOLDER PREFIX` would put them, in S3's order."""
    if not folder.is_dir():
        raise JobFileError(f"{folder}: folder not found; give the local folder of inputs")
    base = _prefix(prefix)
    keys = []
    for parent, _, names in os.walk(folder):
        for name in names:
            relative = Path(parent, name).relative_to(folder).as_posix()
            keys.append((f"{base}/{relative}" if base else relative, str(Path(parent, name))))
    return sorted(keys)


def s3_keys(s3: Any, bucket: str, prefix: str) -> Iterable[tuple[str, str]]:
    """(key, s3:// URL) of every object under a folder-like prefix (all of the bucket for ''), all pages."""
    base = _prefix(prefix)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + "/" if base else ""):
        for obj in page.get("Contents", []):
            yield obj["Key"], f"s3://{bucket}/{obj['Key']}"


def _prefix(prefix: str) -> str:
    """The prefix a listing is under, without its trailing slash; JobFileError if it is not a safe key."""
    try:
        return safe_key(prefix, what="prefix").rstrip("/")
    except ValueError as exc:
        raise JobFileError(f"{exc}; give a prefix in the bucket, e.g. projects/demo/images/") from None


def _refuse(problems: list[str], path: Path) -> None:
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise JobFileError(f"{path}: {len(problems)} problem(s), nothing was written:\n  " + "\n  ".join(shown))
