"""The tool spec: everything that makes this repo's tool different, as data.

`tool/spec.json` is rendered from the generator's answers. This module loads it,
checks it, checks jobs against the declared fields, and turns a job into the
tool's argv (a list, never a shell string) and its S3 output prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .jsonfile import read_json

FieldType = Literal["string", "integer", "number", "boolean", "s3_key", "s3_prefix", "mapping"]

# Placeholders the worker fills in itself, whatever the job's fields are.
BUILTIN_PLACEHOLDERS: dict[str, str] = {
    "input_dir": "the job's local input folder (downloaded inputs land here)",
    "output_dir": "the job's local output folder (uploaded to the output prefix)",
    "work_dir": "the job's private working folder (parent of input_dir and output_dir)",
    "job_id": "the job's stable id, derived from its content",
    "group": "all of this job's own fields, as a mapping",
}

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# `{name}` or `{name|filter}`; `{{` and `}}` stand for literal braces.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}|]*)(?:\|([^{}]*))?\}")


class SpecError(ValueError):
    """The tool spec itself is wrong (a template or hand-edit problem)."""


class JobError(ValueError):
    """A job does not fit the tool spec; `problems` lists (where, field, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{where}: {field}: {msg}" for where, field, msg in problems))


# ---------------------------------------------------------------- value filters


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected a mapping, got {type(value).__name__}")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kv(value: Any) -> str:
    return ",".join(f"{k}={_scalar_text(v)}" for k, v in _as_mapping(value).items())


def _pairs(value: Any) -> str:
    return ", ".join(f"{k}='{_scalar_text(v)}'" for k, v in _as_mapping(value).items())


def _values(value: Any) -> str:
    return "-".join(_scalar_text(v) for v in _as_mapping(value).values())


def _basename(value: Any) -> str:
    return _scalar_text(value).rstrip("/").rsplit("/", 1)[-1]


def _stem(value: Any) -> str:
    name = _basename(value)
    return name.split(".", 1)[0] if not name.startswith(".") else name


FILTERS = {
    "kv": _kv,  # {a: 1, b: 2} -> a=1,b=2 (the default for mappings)
    "pairs": _pairs,  # {a: 1, b: 2} -> a='1', b='2'
    "values": _values,  # {a: 1, b: 2} -> 1-2
    "basename": _basename,  # dir/file.ext -> file.ext
    "stem": _stem,  # dir/file.ext -> file
}


def placeholders(template: str) -> list[tuple[str, str | None]]:
    """The (name, filter) pairs used in one template string."""
    return [(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(template) if m.group(1) is not None]


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill one template string; mappings render as k=v,k=v unless a filter says otherwise."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name, filt = match.group(1).strip(), match.group(2)
        value = values[name]
        if filt is not None:
            return FILTERS[filt.strip()](value)
        if isinstance(value, Mapping):
            return _kv(value)
        return _scalar_text(value)

    return PLACEHOLDER.sub(fill, template)


# ---------------------------------------------------------------- S3 key safety

_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_key(key: str, *, what: str = "key") -> str:
    """Normalise an S3 key or prefix built from job data, refusing escapes.

    Refused: absolute paths, `..` or `.` segments, backslashes and control characters.
    Repeated slashes collapse; a trailing slash is kept (it marks a prefix).
    """
    if not isinstance(key, str):
        raise ValueError(f"{what} must be text, got {type(key).__name__}")
    if key.startswith("s3://"):
        raise ValueError(f"{what} {key!r} is an s3:// URL; give the key only (the bucket comes from config)")
    if key.startswith("/"):
        raise ValueError(f"{what} {key!r} is absolute; give a key relative to the bucket")
    if _BAD_KEY_CHARS.search(key):
        raise ValueError(f"{what} {key!r} contains a backslash or control character")
    parts = [p for p in key.split("/") if p != ""]
    if any(p in ("..", ".") for p in parts):
        raise ValueError(f"{what} {key!r} contains a '.' or '..' segment")
    normal = "/".join(parts)
    return normal + "/" if key.endswith("/") and normal else normal


def join_key(prefix: str, relative: str) -> str:
    """`prefix/relative`, where `relative` (from a file name or job data) cannot escape `prefix`."""
    rel = safe_key(relative, what="path")
    base = safe_key(prefix, what="prefix").rstrip("/")
    return f"{base}/{rel}" if base else rel


def local_path(folder: str, key: str) -> str:
    """Where an input key or prefix lands under a local folder (keys are already safe)."""
    return folder.rstrip("/") + "/" + safe_key(key).rstrip("/")


# ---------------------------------------------------------------- spec model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    name: str
    type: FieldType = "string"
    required: bool = True
    default: Any = None
    example: Any = None
    help: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not FIELD_NAME.match(name):
            raise ValueError(f"field name {name!r} must start with a letter and hold only letters, digits and _")
        return name


class ArgGroup(_Strict):
    """Arguments emitted only when field `when` has a value (matching `matches`, if given)."""

    when: str
    matches: str | None = None
    args: list[str] = Field(min_length=1)

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"matches {pattern!r} is not a valid regular expression: {exc}") from exc
        return pattern


class DoneRule(_Strict):
    exit_code: int = 0
    min_files: int = Field(default=0, ge=0)
    required_file: str = ""
    required_content: str = ""


class ToolSpec(_Strict):
    tool_name: str
    app_name: str
    docker_image: str
    job_list_key: str = "groups"
    command: list[str | ArgGroup] = Field(min_length=1)
    shared_fields: list[FieldSpec] = []
    job_fields: list[FieldSpec] = []
    input_fields: list[str] = []
    output_prefix: str
    done: DoneRule = DoneRule()
    needs_fuse: bool = False
    # The tool's own config.py keys, beyond DS's; the config loader accepts them.
    config_keys: list[str] = []

    @property
    def fields(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in [*self.shared_fields, *self.job_fields]}

    def templates(self) -> list[tuple[str, str]]:
        """Every template string in the spec, with where it is, for checking."""
        found = []
        for i, item in enumerate(self.command):
            for j, arg in enumerate(item.args if isinstance(item, ArgGroup) else [item]):
                found.append((f"command[{i}]" + (f".args[{j}]" if isinstance(item, ArgGroup) else ""), arg))
        found.append(("output_prefix", self.output_prefix))
        if self.done.required_file:
            found.append(("done.required_file", self.done.required_file))
        return found

    @model_validator(mode="after")
    def _consistent(self) -> ToolSpec:
        names = [f.name for f in [*self.shared_fields, *self.job_fields]]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"fields declared twice: {', '.join(dupes)}")
        clash = sorted(set(names) & (set(BUILTIN_PLACEHOLDERS) | {self.job_list_key}))
        if clash:
            raise ValueError(f"field names {', '.join(clash)} are reserved; rename them")
        known = set(names) | set(BUILTIN_PLACEHOLDERS)
        for where, template in self.templates():
            for name, filt in placeholders(template):
                if name.strip() not in known:
                    raise ValueError(f"{where} uses {{{name}}}, which is neither a declared field nor a built-in")
                if filt is not None and filt.strip() not in FILTERS:
                    raise ValueError(f"{where} uses unknown filter |{filt}; known: {', '.join(FILTERS)}")
        for item in self.command:
            if isinstance(item, ArgGroup) and item.when not in names:
                raise ValueError(f"command group 'when: {item.when}' names no declared field")
        fields = self.fields
        for name in self.input_fields:
            if name not in fields or fields[name].type not in ("s3_key", "s3_prefix"):
                raise ValueError(f"input field {name!r} must be a declared field of type s3_key or s3_prefix")
        local = {"input_dir", "output_dir", "work_dir"}
        for where, template in self.templates():
            used = local & {n.strip() for n, _ in placeholders(template)}
            if used and not where.startswith("command"):
                raise ValueError(f"{where} cannot use the local folder {{{used.pop()}}}; it is relative to outputs")
        return self

    # ------------------------------------------------------------ jobs

    def check_job(self, shared: Mapping[str, Any], group: Mapping[str, Any], where: str) -> dict[str, Any]:
        """One job's values, coerced to their types with defaults filled; raises JobError."""
        problems: list[tuple[str, str, str]] = []
        values: dict[str, Any] = {}
        for scope_name, declared, given in (
            ("shared", self.shared_fields, shared),
            (where, self.job_fields, group),
        ):
            allowed = {f.name for f in declared}
            for key in given:
                if key not in allowed and not str(key).startswith("_comment"):
                    hint = "a shared key" if scope_name == "shared" else "a key of each job"
                    problems.append((scope_name, str(key), f"unknown field; declared as {hint}: {sorted(allowed)}"))
            for field in declared:
                if field.name in given and given[field.name] is not None:
                    try:
                        values[field.name] = coerce(field, given[field.name])
                    except ValueError as exc:
                        problems.append((scope_name, field.name, str(exc)))
                elif field.required and field.default is None:
                    problems.append((scope_name, field.name, "required but missing"))
                else:
                    values[field.name] = field.default
        if problems:
            raise JobError(problems)
        # Keys built from the values must stay inside their prefix: refuse at submit time.
        for name, build in (("output_prefix", self.output_key), ("done.required_file", self.required_file)):
            try:
                build(values, "0" * 16)
            except ValueError as exc:
                raise JobError([(where, name, str(exc))]) from exc
        return values

    def group_of(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {f.name: values[f.name] for f in self.job_fields if values.get(f.name) is not None}

    def _fill(self, values: Mapping[str, Any], job_id: str, **folders: str) -> dict[str, Any]:
        return {**values, "job_id": job_id, "group": self.group_of(values), **folders}

    def argv(self, values: Mapping[str, Any], job_id: str, work_dir: str, input_dir: str, output_dir: str) -> list[str]:
        """The tool's argv for one checked job: one template item, one argument.

        Input fields stand for where the worker downloaded them: `input_dir/<key>`.
        """
        env = self._fill(values, job_id, work_dir=work_dir, input_dir=input_dir, output_dir=output_dir)
        for name in self.input_fields:
            if values.get(name):
                env[name] = local_path(input_dir, values[name])
        argv: list[str] = []
        for item in self.command:
            if isinstance(item, ArgGroup):
                value = values.get(item.when)
                if value in (None, "", {}) or (item.matches and not re.search(item.matches, _scalar_text(value))):
                    continue
                argv.extend(render(arg, env) for arg in item.args)
            else:
                argv.append(render(item, env))
        return argv

    def required_file(self, values: Mapping[str, Any], job_id: str) -> str:
        """The done rule's file for this job, relative to its output folder ('' if none)."""
        if not self.done.required_file:
            return ""
        return safe_key(render(self.done.required_file, self._fill(values, job_id)), what="required file")

    def output_key(self, values: Mapping[str, Any], job_id: str) -> str:
        """The job's S3 output prefix (no trailing slash), refused if it would escape."""
        rendered = render(self.output_prefix, self._fill(values, job_id))
        key = safe_key(rendered, what="output prefix").rstrip("/")
        if not key:
            raise ValueError("output prefix is empty for this job")
        return key


def coerce(field: FieldSpec, value: Any) -> Any:
    """A job value in its declared type, or ValueError saying what was expected."""
    t = field.type
    if t in ("string", "s3_key", "s3_prefix"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected text, got {value!r}")
        text = _scalar_text(value)
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


def load_spec(path: str | Path) -> ToolSpec:
    """Load tool/spec.json; a SpecError names the file and what is wrong."""
    path = Path(path)
    data = read_json(path, SpecError, "it is rendered by dsgen (run `copier update` to restore it)")
    try:
        return ToolSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(spec)'}: {e['msg']}" for e in exc.errors()]
        raise SpecError(f"{path}: invalid tool spec:\n  " + "\n  ".join(lines)) from None
