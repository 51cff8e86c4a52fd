"""A job's values from a Job file's (or a message's) keys: each coerced to its field's type,
defaults filled in, and every key the job builds checked before anything is sent.

Beside jobs.py, which reads Job files and messages; the tool spec says what the fields are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .keys import safe_key
from .placeholders import scalar_text
from .spec import FieldSpec, JobError, ToolSpec

# The id a job's keys are built with before it has one: they must build for any id.
TRIAL_ID = "0" * 16


def check_job(spec: ToolSpec, shared: Mapping[str, Any], group: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One job's values, coerced to their types with defaults filled; raises JobError listing every problem."""
    problems: list[tuple[str, str, str]] = []
    values: dict[str, Any] = {}
    for scope_name, declared, given in (
        ("shared", spec.shared_fields, shared),
        (where, spec.job_fields, group),
    ):
        allowed = {key for f in declared for key in f.keys}
        for key in given:
            if key not in allowed and not str(key).startswith("_comment"):
                hint = "a shared key" if scope_name == "shared" else "a key of each job"
                names = sorted(f.name for f in declared)
                problems.append((scope_name, str(key), f"unknown field; declared as {hint}: {names}"))
        for field in declared:
            present = [key for key in field.keys if key in given]
            if len(present) > 1:
                problems.append((scope_name, field.name, f"given twice, as {' and '.join(present)}; keep one"))
                continue
            key = present[0] if present else field.name
            if present and not _unset(field, given[key]):
                try:
                    values[field.name] = coerce(field, given[key])
                except ValueError as exc:
                    problems.append((scope_name, key, str(exc)))
            elif field.required and field.default is None:
                problems.append((scope_name, field.name, "required but missing"))
            else:
                values[field.name] = field.default
    if problems:
        raise JobError(problems)
    _check_builds(spec, values, where)
    return values


def _check_builds(spec: ToolSpec, values: Mapping[str, Any], where: str) -> None:
    """Keys built from the values stay inside their prefix, and the command builds (filters fit the
    values, split text is well quoted): refused at submit time. Config keys are not known here
    and read as empty."""
    job = spec.for_job(values, TRIAL_ID, config=None)
    for name, build in (
        ("output_prefix", job.output_key),
        ("own_output_folder", job.own_output_key),
        ("done.required_file", job.required_file),
        ("input_fields", job.inputs),
    ):
        try:
            build()
        except ValueError as exc:
            raise JobError([(where, name, str(exc))]) from exc
    try:
        job.steps("/w", "/w/input", "/w/output")
    except (ValueError, TypeError) as exc:
        raise JobError([(where, "command", str(exc))]) from exc


def _unset(field: FieldSpec, value: Any) -> bool:
    """No value: null, or DS's habit of `false` for an optional field that is not boolean."""
    return value is None or (value is False and field.type != "boolean" and not field.required)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return isinstance(value, str) and "\x00" in value


def coerce(field: FieldSpec, value: Any) -> Any:
    """A job value in its declared type, or ValueError saying what was expected."""
    t = field.type
    if _holds_nul(value):
        # No argv item, environment value or S3 key can hold a NUL byte.
        raise ValueError("holds a NUL byte (\\x00), which no command argument or S3 key can hold; remove it")
    if t in ("string", "s3_key", "s3_prefix"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected text, got {value!r}")
        text = scalar_text(value)
        return safe_key(text, what=t) if t != "string" else text
    if t == "integer":
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise ValueError(f"expected a whole number, got {value!r}")
    if t == "number":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"expected True or False, got {value!r}")
    # mapping: a dict of scalars, or DS's "k=v,k=v" string
    if isinstance(value, Mapping):
        items = dict(value)
    elif isinstance(value, str):
        items = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, val = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"expected k=v,k=v; {part!r} has no key=value")
            items[key.strip()] = val.strip()
    else:
        raise ValueError(f"expected a mapping or a k=v,k=v string, got {value!r}")
    for key, val in items.items():
        if isinstance(val, (dict, list)):
            raise ValueError(f"mapping value for {key!r} must be a single value, got {val!r}")
    return items
