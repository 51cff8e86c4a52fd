"""`run.py makeJobs loaddata|listing|table SOURCE ... --out FILE`: a DS-format Job file built from data.

Rows from a source (job_sources.py) become jobs: each column goes to the job field of
its name, or to `--map COLUMN=FIELD` (`FIELD.KEY` puts it under KEY of a mapping field,
`COLUMN=` leaves it out); a column no field takes goes under its own name into the
tool's one mapping job field, if it has one (DCP's Metadata). The keys of a field the worker matches
as CellProfiler's -g does (an input list's rows_matching) are written as they are matched there
(metadata_values.py: `002` in a column of integers is `2`). `--set FIELD=VALUE` gives
a shared field, or a job field every job has. Every job is checked exactly as submitJob
checks it (jobs.jobs_from_data and jobs.check_run) before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...jobs import JobFileError, check_run, jobs_from_data
from ...metadata_values import column_kind, measured_text
from ...spec import FieldSpec, ToolSpec
from ..common.context import CommandError, Context
from .data import chosen_bucket
from .job_sources import KEY_COLUMN, Row, listing_rows, loaddata_rows, local_keys, s3_keys, table_rows

SHOWN = 3  # jobs printed before writing
FIX = "fix those rows, map columns with --map COLUMN=FIELD, or give every job a value with --set FIELD=VALUE"


def run_make_jobs(ctx: Context, args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        raise CommandError(f"{args.out} exists; give another --out, or --force to replace it")
    maps = _pairs(args.maps, "--map")
    sets = _pairs(args.sets, "--set")
    if args.source == "loaddata":
        rows = loaddata_rows(args.csv, _names(args.group_by))
    elif args.source == "table":
        rows = table_rows(args.table)
    else:
        if args.folder is not None:
            found = local_keys(args.folder, args.prefix)
        else:
            found = s3_keys(ctx.client("s3"), chosen_bucket(ctx.spec, ctx.config, args.bucket), args.prefix)
        group_by = _names(args.group_by) if args.group_by else None
        rows = listing_rows(found, args.prefix, args.pattern, group_by, with_key=KEY_COLUMN in maps)
    data = build_job_file(ctx, rows, maps, sets)
    shown = data[ctx.spec.job_list_key]
    ctx.console.print(f"{len(shown)} job(s); the first {min(SHOWN, len(shown))}:", highlight=False)
    for entry in shown[:SHOWN]:
        ctx.console.print("  " + json.dumps(entry), highlight=False, soft_wrap=True)
    write_new(args.out, data, args.force)
    send = f"{ctx.backend.run_py} submitJob {args.out}"
    # A command to copy: never wrapped at the terminal's width.
    ctx.console.print(f"wrote {args.out}; send it with: {send}", highlight=False, soft_wrap=True)
    return 0


def build_job_file(ctx: Context, rows: Sequence[Row], maps: dict[str, str], sets: dict[str, str]) -> dict[str, Any]:
    """The Job file's data for these rows, every job checked as submitJob checks it; JobFileError if any fails."""
    spec = ctx.spec
    job_names = {key: f.name for f in spec.job_fields for key in f.keys}
    shared = {k: v for k, v in sets.items() if k not in job_names}
    every_job = {job_names[k]: v for k, v in sets.items() if k in job_names}
    columns = list(dict.fromkeys(column for row in rows for column in row.values))
    targets = _targets(spec, columns, maps, every_job)
    kinds = _matched_kinds(spec, rows, targets)
    groups = [_group(row, targets, every_job, kinds) for row in rows]
    source = "makeJobs"
    where = [f"{spec.job_list_key}[{i}] ({row.origin})" for i, row in enumerate(rows)]
    data = {**shared, spec.job_list_key: groups}
    try:
        jobs = jobs_from_data(data, spec, source, where=where.__getitem__, unsent="written")
        check_run(jobs, spec, ctx.config, source, where=where.__getitem__, unsent="written")
    except JobFileError as exc:
        raise JobFileError(f"{exc}\n{FIX}") from None
    fields = spec.fields
    shared_names = {key: f.name for f in spec.shared_fields for key in f.keys}
    written = {shared_names[k]: _as_written(fields[shared_names[k]], jobs[0].values[shared_names[k]]) for k in shared}
    pairs = zip(groups, jobs, strict=True)
    written[spec.job_list_key] = [{name: _as_written(fields[name], job.values[name]) for name in g} for g, job in pairs]
    return written


def _targets(spec: ToolSpec, columns: list[str], maps: dict[str, str], every_job: dict[str, str]) -> dict[str, str]:
    """column -> FIELD or FIELD.KEY (columns left out are absent); CommandError names the column and the fix."""
    job_fields = {key: f for f in spec.job_fields for key in f.keys}
    mappings = [f.name for f in spec.job_fields if f.type == "mapping"]
    unused = [c for c in maps if c not in columns]
    if unused:
        raise CommandError(f"--map {unused[0]}=...: the source has no column {unused[0]!r}; its columns: {columns}")
    targets: dict[str, str] = {}
    for column in columns:
        target = maps.get(column, column if column in job_fields or len(mappings) != 1 else f"{mappings[0]}.{column}")
        if not target:
            continue
        name, dot, key = target.partition(".")
        field = job_fields.get(name)
        if field is None and any(name in f.keys for f in spec.shared_fields):
            raise CommandError(
                f"column {column!r}: {name} is a shared field, one value for every job; give it with --set {name}=VALUE"
                f" and leave the column out with --map {column}="
            )
        if field is None or (dot and (field.type != "mapping" or not key)):
            kinds = "a job field, or MAPPING.KEY" if mappings else "a job field"
            raise CommandError(
                f"column {column!r} has no job field to go to; give {kinds} with --map {column}=FIELD"
                f" (job fields: {', '.join(sorted(f.name for f in spec.job_fields))}), or leave it out with"
                f" --map {column}="
            )
        targets[column] = f"{field.name}.{key}" if dot else field.name
    whole = [t for t in targets.values() if "." not in t] + list(every_job)
    keyed = [t for t in targets.values() if "." in t]
    both = whole + keyed
    twice = sorted({t for t in both if both.count(t) > 1} | set(whole) & {k.partition(".")[0] for k in keyed})
    if twice:
        raise CommandError(f"job field {twice[0]} is given twice (by two columns, or a column and --set); keep one")
    return targets


def _matched_kinds(spec: ToolSpec, rows: Sequence[Row], targets: dict[str, str]) -> dict[str, str]:
    """column -> its CellProfiler type, for the columns that fill a key of a field matched as CellProfiler's -g
    matches (ToolSpec.row_matched_fields): their values are written as they will be matched (metadata_values)."""
    kinds = {}
    for column, target in targets.items():
        name, dot, key = target.partition(".")
        if dot and name in spec.row_matched_fields:
            kinds[column] = column_kind(key, (row.values[column] for row in rows if column in row.values))
    return kinds


def _group(row: Row, targets: dict[str, str], every_job: dict[str, str], kinds: dict[str, str]) -> dict[str, Any]:
    group: dict[str, Any] = dict(every_job)
    for column, value in row.values.items():
        target = targets.get(column)
        if target is None:
            continue
        if column in kinds:
            value = measured_text(value, kinds[column])
        name, dot, key = target.partition(".")
        if dot:
            group.setdefault(name, {})[key] = value
        else:
            group[name] = value
    return group


def _as_written(field: FieldSpec, value: Any) -> Any:
    """A checked value as a Job file holds it: a mapping as DCP's k=v,k=v where that reads back the same."""
    if field.type != "mapping" or not isinstance(value, dict):
        return value
    texts = [str(t) for kv in value.items() for t in kv]
    if all(t == t.strip() and t and not set(t) & set(",=") for t in texts):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return value


def write_new(path: Path, data: dict[str, Any], force: bool) -> None:
    """Write the whole file or nothing; never replace an existing file unless `force`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        if force:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if the file appeared meanwhile: nothing is replaced
    except FileExistsError:
        raise CommandError(f"{path} exists; give another --out, or --force to replace it") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    """NAME=VALUE options (an empty VALUE is allowed: an empty text, or a column left out)."""
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandError(f"{option} {item!r}: write NAME=VALUE")
        if name in pairs:
            raise CommandError(f"{option} {name} is given twice; keep one")
        pairs[name] = value.strip() if option == "--map" else value
    return pairs


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CommandError("--group-by: give column or field names separated by commas")
    return names
