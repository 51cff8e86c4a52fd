"""The tool spec: everything that makes this repo's tool different, as data.

`tool/spec.json` is rendered from the generator's answers. This module loads it,
checks it, checks jobs against the declared fields, and turns a job into the
tool's argv (a list, never a shell string) and its S3 output prefix.
"""

from __future__ import annotations

import re
import shlex
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .buckets import JOB_BUCKETS, ref_problem
from .jsonfile import read_json
from .keys import S3_MAX_KEY_BYTES, join_key, local_path, safe_key
from .placeholders import PLACEHOLDER, config_name, filter_problem, lookup, placeholders, render, scalar_text
from .upload_flags import known as known_flags
from .upload_flags import unknown_flags

FieldType = Literal["string", "integer", "number", "boolean", "s3_key", "s3_prefix", "mapping"]

# Placeholders the worker fills in itself, whatever the job's fields are.
BUILTIN_PLACEHOLDERS: dict[str, str] = {
    "input_dir": "the job's local input folder (downloaded inputs land here)",
    "output_dir": "the job's local output folder (uploaded to the output prefix)",
    "work_dir": "the job's private working folder (parent of input_dir and output_dir)",
    "job_id": "the job's stable id, derived from its content",
    "group": "all of this job's own fields, as a mapping",
}

# `{config.NAME}` in a command reads the tool's config key NAME, which the worker
# receives as an environment variable of that name (`run.py setup` puts it there).
CONFIG_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# DS's own config.py keys that reach the worker's environment under the same name.
DS_WORKER_CONFIG_KEYS = (
    "APP_NAME",
    "AWS_BUCKET",
    "AWS_REGION",
    "LOG_GROUP_NAME",
    "SQS_MESSAGE_VISIBILITY",
    "CHECK_IF_DONE_BOOL",
    "EXPECTED_NUMBER_FILES",
    "MIN_FILE_SIZE_BYTES",
    "NECESSARY_STRING",
    "DOCKER_CORES",
    "SECONDS_TO_START",
)

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
JOB_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class SpecError(ValueError):
    """The tool spec itself is wrong (a template or hand-edit problem)."""


class JobError(ValueError):
    """A job does not fit the tool spec; `problems` lists (where, field, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{where}: {field}: {msg}" for where, field, msg in problems))


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
    # Other keys a Job file may use for this field, e.g. DOZC's "target-min-size" for
    # target_min_size: the name stays a placeholder-friendly identifier, old files keep working.
    aliases: list[str] = []

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not FIELD_NAME.match(name):
            raise ValueError(f"field name {name!r} must start with a letter and hold only letters, digits and _")
        return name

    @field_validator("aliases")
    @classmethod
    def _aliases_are_plain_keys(cls, aliases: list[str]) -> list[str]:
        for alias in aliases:
            if not JOB_KEY.match(alias):
                raise ValueError(f"alias {alias!r} must hold only letters, digits, _ and -, starting with a letter")
        return aliases

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a Job file may give this field under."""
        return (self.name, *self.aliases)


class SplitArg(_Strict):
    """One template whose rendered text becomes several arguments, split into words as a
    POSIX shell would (shlex: quotes group, nothing is expanded), and never run by a shell.
    Empty text adds no argument."""

    split: str


class Condition(_Strict):
    """Holds when `when` has a value (matching `matches`, if given).

    `when` names a job field or a config key (`config.NAME`, as the worker sees it).
    Shared by every conditional part of the spec, so all read conditions one way.
    """

    when: str
    matches: str | None = None

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        return _regex(pattern)

    def holds(self, values: Mapping[str, Any], config: Mapping[str, str] | None) -> bool:
        """Whether this condition holds for a job's values and the worker's config (None: all empty)."""
        key = config_name(self.when)
        if key is not None:
            value: Any = None if config is None else config.get(key)
        else:
            value = values.get(self.when)
        if value in (None, "", {}):
            return False
        return not self.matches or bool(re.search(self.matches, scalar_text(value)))

    def when_problem(self, field_names: set[str], config_names: set[str]) -> str:
        """Why `when` names nothing this spec knows; '' when it is fine."""
        key = config_name(self.when)
        if key is not None:
            return "" if key in config_names else f"'when: {self.when}': {key} is not a config key of this tool"
        return "" if self.when in field_names else f"'when: {self.when}' names no declared field"


class ArgGroup(Condition):
    """Arguments emitted only when the condition holds."""

    args: list[str | SplitArg] = Field(min_length=1)


class Gate(Condition):
    """An optional condition: without `when` it always holds (inputs, startup steps)."""

    when: str = ""

    @model_validator(mode="after")
    def _matches_needs_when(self) -> Gate:
        if self.matches is not None and not self.when:
            raise ValueError("matches needs when: the field or config.NAME whose value it tests")
        return self

    def holds(self, values: Mapping[str, Any], config: Mapping[str, str] | None) -> bool:
        return not self.when or super().holds(values, config)


class ListedFiles(_Strict):
    """The files a downloaded list names (a LoadData CSV or a file list: worker/listing.py).

    Paths in the list are written under `path_root` (the original's bucket mount, e.g.
    DCP's /home/ubuntu/bucket); the files come from `bucket` (a bucket reference) and the
    list is rewritten to name the local copies. `rows_matching` names a mapping field: a
    CSV keeps only the rows whose columns equal this job's values of it.
    """

    path_root: str
    bucket: str = ""
    rows_matching: str = ""

    @field_validator("path_root")
    @classmethod
    def _absolute(cls, root: str) -> str:
        if not root.startswith("/") or root.rstrip("/") == "" or ".." in root.split("/"):
            raise ValueError(f"path_root {root!r} must be an absolute folder, e.g. /home/ubuntu/bucket")
        return root.rstrip("/")


class InputSpec(Gate):
    """One input: its key (a field name or key template), its bucket, and when it is wanted.

    `bucket` is a bucket reference (see buckets.py): '' for AWS_BUCKET, config.NAME, or a
    string field. Without `when` the input is always downloaded (when it has a key).
    `lists_files`: the input is a list of further files to fetch (ListedFiles).
    """

    key: str
    bucket: str = ""
    lists_files: ListedFiles | None = None


class Input(NamedTuple):
    """One input a job downloads: its S3 key, whether that is a prefix, its bucket reference,
    and, for a list of files, what it lists."""

    key: str
    is_prefix: bool
    bucket: str
    lists_files: ListedFiles | None = None


# What a startup step may fetch from: the web, or S3 with the worker's own role.
URL_SCHEMES = ("http://", "https://", "s3://")


class _Step(Gate):
    """A startup step: run once per container before its first job, always or when `when` holds.

    No job exists yet, so `when` and every template may read config keys only.
    """

    @abstractmethod
    def templates(self) -> list[tuple[str, str]]:
        """(where, template) of each template string of this step."""

    def config_keys(self) -> list[str]:
        """The config keys this step reads (its condition, then its templates): what to fix if it fails."""
        names = [self.when] + [name for _, text in self.templates() for name, _ in placeholders(text)]
        keys = [config_name(name) for name in names]
        return list(dict.fromkeys(key for key in keys if key))

    def problem(self, config_names: set[str]) -> str:
        """What is wrong with this step for a tool with these config keys; '' when nothing."""
        if self.when and config_name(self.when) is None:
            return f"'when: {self.when}': a startup step runs before any job, so it may test config.NAME only"
        if self.when and (problem := self.when_problem(set(), config_names)):
            return problem
        for where, template in self.templates():
            for name, filt in placeholders(template):
                key = config_name(name)
                if key is None:
                    return f"{where} uses {{{name}}}: a startup step may use {{config.NAME}} only (no job exists yet)"
                if key not in config_names:
                    return f"{where} uses {{{name}}}, but {key} is not a config key of this tool"
                if filt is not None and (problem := filter_problem(filt, set())):
                    return f"{where}: {problem}"
        return ""


class FetchStep(_Step):
    """Download one file into the folder `into`, named as the last segment of the URL's path.

    `fetch`: an http://, https:// or s3://bucket/key URL (s3 is read with the worker's own role).
    """

    fetch: str
    into: str

    def templates(self) -> list[tuple[str, str]]:
        return [("fetch", self.fetch), ("into", self.into)]

    def problem(self, config_names: set[str]) -> str:
        if not self.fetch.startswith(("{", *URL_SCHEMES)):
            return f"fetch {self.fetch!r} must be an http://, https:// or s3:// URL, or {{config.NAME}} holding one"
        if not self.into.startswith(("/", "{")):
            return f"into {self.into!r} must be an absolute folder, e.g. /opt/tool/scripts or {{config.TOOL_DIR}}/x"
        return super().problem(config_names)


class RunStep(_Step):
    """Run one program, never through a shell, in the folder `cwd` (default: the worker's own)."""

    run: list[str | SplitArg] = Field(min_length=1)
    cwd: str | None = None

    def templates(self) -> list[tuple[str, str]]:
        found = [
            (f"run[{i}]" + (".split" if isinstance(a, SplitArg) else ""), _text_of(a)) for i, a in enumerate(self.run)
        ]
        return found + ([("cwd", self.cwd)] if self.cwd is not None else [])

    def problem(self, config_names: set[str]) -> str:
        if self.cwd is not None and not self.cwd.startswith(("/", "{")):
            return f"cwd {self.cwd!r} must be an absolute folder, e.g. /opt/tool or {{config.TOOL_DIR}}"
        return super().problem(config_names)


def _step_kind(data: Any) -> str | None:
    if isinstance(data, Mapping):
        return "fetch" if "fetch" in data else "run" if "run" in data else None
    return "fetch" if isinstance(data, FetchStep) else "run" if isinstance(data, RunStep) else None


StartupStep = Annotated[
    Annotated[FetchStep, Tag("fetch")] | Annotated[RunStep, Tag("run")],
    Discriminator(
        _step_kind,
        custom_error_type="startup_step",
        custom_error_message="a startup step is {fetch: URL, into: /folder} or {run: [program, args...]}",
    ),
]


class DoneRule(_Strict):
    exit_code: int = 0
    # A number, or `config.NAME`: the whole number in that config key (e.g. EXPECTED_NUMBER_FILES).
    min_files: int | str = 0
    required_file: str = ""
    required_content: str = ""
    # "contains": the text appears in the file; "first_line": the file's first line is exactly it (DCP's Complete).
    content_match: Literal["contains", "first_line"] = "contains"

    @field_validator("min_files")
    @classmethod
    def _count_or_config(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("min_files must be 0 or more")
        if isinstance(value, str) and not CONFIG_NAME.match(config_name(value) or ""):
            raise ValueError(f"min_files {value!r}: use a whole number or config.NAME (config.EXPECTED_NUMBER_FILES)")
        return value


class ToolSpec(_Strict):
    tool_name: str
    app_name: str
    docker_image: str
    job_list_key: str = "groups"
    command: list[str | ArgGroup | SplitArg] = Field(min_length=1)
    shared_fields: list[FieldSpec] = []
    job_fields: list[FieldSpec] = []
    # Inputs downloaded to input_dir/<key>: a field name (s3_key or s3_prefix field), or a
    # key template from fields, e.g. "{input_location}/{plate}/" (a trailing / marks a prefix);
    # or an object {key, bucket, when, matches} (InputSpec) for another bucket or a condition.
    input_fields: list[InputSpec] = []
    output_prefix: str
    output_bucket: str = ""  # a bucket reference, as an input's bucket
    # aws-cli upload flags (upload_flags.py), a template of {field} and {config.NAME}.
    upload_flags: str = ""
    done: DoneRule = DoneRule()
    # Output files neither uploaded nor counted (shell-style patterns on the path in the output
    # folder), e.g. DCP's cp.is.done: read by the done rule, then left behind.
    output_exclude: list[str] = []
    # When jobs share one output prefix (DOZC: every plate under output_location), the folder
    # in it that this job alone writes, e.g. "{plate}.ome.zarr": CHECK_IF_DONE_BOOL counts there.
    own_output_folder: str = ""
    needs_fuse: bool = False
    # An absolute folder at which the tool reads the bucket as a tree (DF's and DCP's
    # /home/ubuntu/bucket): while it runs, the job's inputs appear there under their keys,
    # read-only, and nothing else (worker/bucket_view.py). '' for none.
    bucket_view: str = ""
    # The tool's own config.py keys, beyond DS's; the config loader accepts them.
    config_keys: list[str] = []
    # Their values in the answers: what a config.py without one of them gets (with a note).
    config_defaults: dict[str, Any] = {}
    # Run once per container, in order, before any job is taken (worker/startup.py).
    startup: list[StartupStep] = []

    @property
    def fields(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in [*self.shared_fields, *self.job_fields]}

    @field_validator("bucket_view")
    @classmethod
    def _view_is_a_folder(cls, path: str) -> str:
        if path and (not path.startswith("/") or path.rstrip("/") == "" or ".." in path.split("/")):
            raise ValueError(f"bucket_view {path!r} must be an absolute folder, e.g. /home/ubuntu/bucket")
        return path.rstrip("/")

    @field_validator("input_fields", mode="before")
    @classmethod
    def _strings_are_keys(cls, entries: Any) -> Any:
        # The short form: a field name or key template, from AWS_BUCKET, always wanted.
        if isinstance(entries, list):
            return [{"key": e} if isinstance(e, str) else e for e in entries]
        return entries

    @property
    def config_names(self) -> set[str]:
        """Config keys a command may read: the tool's own and DS's that reach the worker."""
        return set(self.config_keys) | set(DS_WORKER_CONFIG_KEYS)

    def templates(self) -> list[tuple[str, str]]:
        """Every template string in the spec, with where it is, for checking."""
        found = []
        for i, item in enumerate(self.command):
            args = item.args if isinstance(item, ArgGroup) else [item]
            for j, arg in enumerate(args):
                where = f"command[{i}]" + (f".args[{j}]" if isinstance(item, ArgGroup) else "")
                found.append((where + (".split" if isinstance(arg, SplitArg) else ""), _text_of(arg)))
        for i, entry in enumerate(self.input_fields):
            if _is_template(entry.key):
                found.append((f"input_fields[{i}]", entry.key))
        found.append(("output_prefix", self.output_prefix))
        if self.own_output_folder:
            found.append(("own_output_folder", self.own_output_folder))
        if self.done.required_file:
            found.append(("done.required_file", self.done.required_file))
        if self.upload_flags:
            found.append(("upload_flags", self.upload_flags))
        return found

    def bucket_refs(self) -> list[tuple[str, str]]:
        """(where, bucket reference) of every input, then of the outputs."""
        found = [(f"input_fields[{i}].bucket", entry.bucket) for i, entry in enumerate(self.input_fields)]
        found += [
            (f"input_fields[{i}].lists_files.bucket", entry.lists_files.bucket)
            for i, entry in enumerate(self.input_fields)
            if entry.lists_files
        ]
        return [*found, ("output_bucket", self.output_bucket)]

    @model_validator(mode="after")
    def _consistent(self) -> ToolSpec:
        names = [f.name for f in [*self.shared_fields, *self.job_fields]]
        keys = [key for f in [*self.shared_fields, *self.job_fields] for key in f.keys]
        dupes = sorted({n for n in keys if keys.count(n) > 1})
        if dupes:
            raise ValueError(f"fields declared twice (as a name or an alias): {', '.join(dupes)}")
        clash = sorted(set(names) & (set(BUILTIN_PLACEHOLDERS) | {self.job_list_key}))
        if clash:
            raise ValueError(f"field names {', '.join(clash)} are reserved; rename them")
        bad_config = sorted(k for k in self.config_keys if not CONFIG_NAME.match(k))
        if bad_config:
            raise ValueError(f"config keys {', '.join(bad_config)} must be UPPER_CASE names")
        known = set(names) | set(BUILTIN_PLACEHOLDERS)
        config_names = self.config_names
        local = {"input_dir", "output_dir", "work_dir"}
        for where, template in self.templates():
            for name, filt in placeholders(template):
                name = name.strip()
                key = config_name(name)
                if key is not None:
                    if not where.startswith(("command", "upload_flags")):
                        only = "config keys may appear only in the command and upload_flags"
                        raise ValueError(f"{where} cannot use {{{name}}}: {only}")
                    if key not in config_names:
                        raise ValueError(f"{where} uses {{{name}}}, but {key} is not a config key of this tool")
                elif name not in known and not self._is_mapping_key(name):
                    raise ValueError(f"{where} uses {{{name}}}, which is neither a declared field nor a built-in")
                elif name in local and not where.startswith("command"):
                    raise ValueError(f"{where} cannot use the local folder {{{name}}}; it is relative to outputs")
                elif name in BUILTIN_PLACEHOLDERS and where.startswith("input_fields"):
                    raise ValueError(f"{where} uses {{{name}}}; an input key is built from job fields only")
                elif name in BUILTIN_PLACEHOLDERS and where == "upload_flags":
                    raise ValueError(f"{where} uses {{{name}}}; upload flags are built from fields and config keys")
                if filt is not None and (problem := filter_problem(filt, set(names))):
                    raise ValueError(f"{where}: {problem}")
        for i, item in enumerate(self.command):
            if isinstance(item, ArgGroup) and (problem := item.when_problem(set(names), config_names)):
                raise ValueError(f"command[{i}] {problem}")
        fields = self.fields
        for i, entry in enumerate(self.input_fields):
            if _is_template(entry.key):
                try:  # the fixed parts must already be a safe key: no /, .. or s3://
                    safe_key(PLACEHOLDER.sub("x", entry.key), what=f"input_fields[{i}]")
                except ValueError as exc:
                    raise ValueError(str(exc)) from None
            elif entry.key not in fields or fields[entry.key].type not in ("s3_key", "s3_prefix"):
                raise ValueError(
                    f"input field {entry.key!r} must be a declared field of type s3_key or s3_prefix,"
                    " or a key template such as {prefix_field}/{name_field}/"
                )
            if entry.when and (problem := entry.when_problem(set(names), config_names)):
                raise ValueError(f"input_fields[{i}] {problem}")
            if entry.lists_files and (problem := _listing_problem(entry, fields)):
                raise ValueError(f"input_fields[{i}].lists_files: {problem}")
        self._check_buckets()
        if unknown := unknown_flags(PLACEHOLDER.sub(" ", self.upload_flags)):
            raise ValueError(f"upload_flags: {', '.join(unknown)} unknown; supported: {known_flags()}")
        for i, pattern in enumerate(self.output_exclude):
            if not pattern.strip() or pattern.startswith("/") or ".." in pattern.split("/"):
                raise ValueError(
                    f"output_exclude[{i}] {pattern!r}: give a pattern inside the output folder, e.g. *.tmp"
                )
        minimum = self.done.min_files
        if isinstance(minimum, str):
            key = config_name(minimum)
            if key is None or key not in config_names:
                raise ValueError(f"done.min_files {minimum!r} must be a number or config.NAME of a config key")
        for i, step in enumerate(self.startup):
            if problem := step.problem(config_names):
                raise ValueError(f"startup[{i}]: {problem}")
        return self

    def _is_mapping_key(self, name: str) -> bool:
        """`field.key`: one key of a mapping field (placeholders.lookup)."""
        head, dot, key = name.partition(".")
        return bool(dot and key) and head in self.fields and self.fields[head].type == "mapping"

    def _check_buckets(self) -> None:
        types = {name: field.type for name, field in self.fields.items()}
        named_by_jobs = []
        for where, ref in self.bucket_refs():
            if problem := ref_problem(ref, types, self.config_keys):
                raise ValueError(f"{where} {problem}")
            if ref in types:
                named_by_jobs.append(where)
        if named_by_jobs and JOB_BUCKETS not in self.config_keys:
            raise ValueError(
                f"{named_by_jobs[0]} names a field, so jobs choose buckets: add {JOB_BUCKETS} to config_keys"
                " (the buckets a job may name, in config.py)"
            )

    # ------------------------------------------------------------ jobs

    def check_job(self, shared: Mapping[str, Any], group: Mapping[str, Any], where: str) -> dict[str, Any]:
        """One job's values, coerced to their types with defaults filled; raises JobError."""
        problems: list[tuple[str, str, str]] = []
        values: dict[str, Any] = {}
        for scope_name, declared, given in (
            ("shared", self.shared_fields, shared),
            (where, self.job_fields, group),
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
        # Keys built from the values must stay inside their prefix: refuse at submit time.
        for name, build in (
            ("output_prefix", self.output_key),
            ("own_output_folder", self.own_output_key),
            ("done.required_file", self.required_file),
            ("input_fields", lambda v, _id: self.inputs(v, config=None)),
        ):
            try:
                build(values, "0" * 16)
            except ValueError as exc:
                raise JobError([(where, name, str(exc))]) from exc
        # And the command must build (filters fit the values, split text is well quoted);
        # config keys are not known here and count as empty.
        try:
            self.argv(values, "0" * 16, "/w", "/w/input", "/w/output", config=None)
        except (ValueError, TypeError) as exc:
            raise JobError([(where, "command", str(exc))]) from exc
        return values

    def group_of(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {f.name: values[f.name] for f in self.job_fields if values.get(f.name) is not None}

    def _fill(self, values: Mapping[str, Any], job_id: str, **folders: str) -> dict[str, Any]:
        # A prefix reads as a folder: `{prefix}/{name}` joins without a double slash.
        prefixes = {f.name for f in [*self.shared_fields, *self.job_fields] if f.type == "s3_prefix"}
        shown = {k: v.rstrip("/") if k in prefixes and isinstance(v, str) else v for k, v in values.items()}
        return {**shown, "job_id": job_id, "group": self.group_of(values), **folders}

    def inputs(self, values: Mapping[str, Any], config: Mapping[str, str] | None = None) -> list[Input]:
        """Every input this job downloads, in spec order, with its bucket reference.

        An entry is skipped when its condition does not hold (config None: config keys
        read as empty), a field entry when the field has no value, and a template entry
        when any field (or mapping key, `{field.key}`) it names has none.
        """
        fields = self.fields
        found: list[Input] = []
        for entry in self.input_fields:
            if not entry.holds(values, config):
                continue
            if not _is_template(entry.key):
                if values.get(entry.key):
                    is_prefix = fields[entry.key].type == "s3_prefix"
                    found.append(Input(values[entry.key], is_prefix, entry.bucket, entry.lists_files))
                continue
            if any(_given(values, name.strip()) in (None, "", {}) for name, _ in placeholders(entry.key)):
                continue
            key = render(entry.key, self._fill(values, ""))
            if self.bucket_view and key.startswith(self.bucket_view + "/"):
                key = key[len(self.bucket_view) + 1 :]  # DF writes inputs as paths under the view
            key = safe_key(key, what=f"input {entry.key!r}")
            if not key.rstrip("/"):
                raise ValueError(f"input {entry.key!r} is empty for this job")
            found.append(Input(key, entry.key.endswith("/"), entry.bucket, entry.lists_files))
        return found

    def argv(
        self,
        values: Mapping[str, Any],
        job_id: str,
        work_dir: str,
        input_dir: str,
        output_dir: str,
        config: Mapping[str, str] | None = None,
    ) -> list[str]:
        """The tool's argv for one checked job: one template item, one argument
        (a `split` item: as many as its words).

        Input fields stand for where the worker downloaded them: `input_dir/<key>`.
        `config` holds the tool's config keys as the worker's environment has them;
        None (a check before submitting) reads every config key as empty.
        """
        env = self._fill(values, job_id, work_dir=work_dir, input_dir=input_dir, output_dir=output_dir)
        for entry in self.input_fields:
            if not _is_template(entry.key) and values.get(entry.key):
                env[entry.key] = local_path(input_dir, values[entry.key])
        for where, template in self.templates():
            if where.startswith("command"):
                for name, _ in placeholders(template):
                    key = config_name(name)
                    if key is not None:
                        env[name.strip()] = config_value(config, key)
        argv: list[str] = []
        for index, item in enumerate(self.command):
            if isinstance(item, ArgGroup):
                if item.holds(values, config):
                    argv.extend(expand_args(item.args, env, f"command[{index}]"))
            else:
                argv.extend(expand_args([item], env, f"command[{index}]"))
        return argv

    def upload_text(self, values: Mapping[str, Any], config: Mapping[str, str]) -> str:
        """The job's upload flags as text: upload_flags with its fields and config keys filled in
        (a field without a value as empty text), for upload_flags.parse_upload_flags."""
        env = {k: "" if v is None else v for k, v in self._fill(values, "").items()}
        for name, _ in placeholders(self.upload_flags):
            key = config_name(name)
            if key is not None:
                env[name.strip()] = config_value(config, key)
        return render(self.upload_flags, env)

    def min_files(self, config: Mapping[str, str]) -> int:
        """The done rule's least number of output files, read from config if it names a key."""
        minimum = self.done.min_files
        if isinstance(minimum, int):
            return minimum
        key = config_name(minimum) or minimum
        text = config_value(config, key).strip()
        if not re.fullmatch(r"\d+", text):
            raise ValueError(f"config {key}={text!r} is not a whole number (done rule: at least that many files)")
        return int(text)

    def required_file(self, values: Mapping[str, Any], job_id: str) -> str:
        """The done rule's file for this job, relative to its output folder ('' if none)."""
        if not self.done.required_file:
            return ""
        return safe_key(render(self.done.required_file, self._fill(values, job_id)), what="required file")

    def own_output_key(self, values: Mapping[str, Any], job_id: str) -> str:
        """Where this job's outputs alone are (no trailing slash): its output prefix, or own_output_folder in it."""
        prefix = self.output_key(values, job_id)
        if not self.own_output_folder:
            return prefix
        own = self._folder(self.own_output_folder, values, job_id, "own output folder")
        return join_key(prefix, own).rstrip("/")

    def output_key(self, values: Mapping[str, Any], job_id: str) -> str:
        """The job's S3 output prefix (no trailing slash), refused if it would escape."""
        return self._folder(self.output_prefix, values, job_id, "output prefix")

    def _folder(self, template: str, values: Mapping[str, Any], job_id: str, what: str) -> str:
        """A folder key from a template, refused if it escapes or if a part of it is empty for this job.

        An empty part (`out//x`, `out/` from `{output}/{sample}`) would make the job's folder
        another's, or the shared prefix itself: CHECK_IF_DONE_BOOL would then count files
        that other jobs wrote and skip a job that never ran.
        """
        rendered = render(template, self._fill(values, job_id))
        key = safe_key(rendered, what=what).rstrip("/")
        if not key:
            raise ValueError(f"{what} is empty for this job")
        parts = rendered[:-1].split("/") if template.endswith("/") else rendered.split("/")
        if "" in parts:
            raise ValueError(f"{what} {rendered!r} has an empty part for this job ({template!r}); give it a value")
        size = len(key.encode())
        if size + 2 > S3_MAX_KEY_BYTES:  # no room left for `/<file>` under it
            raise ValueError(f"{what} is {size} bytes; S3 keys under it would pass {S3_MAX_KEY_BYTES}")
        return key


def _given(values: Mapping[str, Any], name: str) -> Any:
    """A field's value, or one key's of a mapping field; None when there is none."""
    try:
        return lookup(values, name)
    except (KeyError, ValueError):
        return None


def _unset(field: FieldSpec, value: Any) -> bool:
    """No value: null, or DS's habit of `false` for an optional field that is not boolean."""
    return value is None or (value is False and field.type != "boolean" and not field.required)


def _listing_problem(entry: InputSpec, fields: Mapping[str, FieldSpec]) -> str:
    """Why an input cannot list files; '' when it can."""
    if entry.key.endswith("/") or (entry.key in fields and fields[entry.key].type == "s3_prefix"):
        return "a list is one file, not a prefix"
    matching = entry.lists_files.rows_matching if entry.lists_files else ""
    if matching and (matching not in fields or fields[matching].type != "mapping"):
        return f"rows_matching {matching!r} must name a mapping field (e.g. Metadata)"
    return ""


def _is_template(entry: str) -> bool:
    """An input_fields entry is a key template when it holds a placeholder (or any brace)."""
    return "{" in entry or "}" in entry


def _text_of(arg: str | SplitArg) -> str:
    return arg.split if isinstance(arg, SplitArg) else arg


def _regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"matches {pattern!r} is not a valid regular expression: {exc}") from exc
    return pattern


def expand_args(args: Sequence[str | SplitArg], env: Mapping[str, Any], where: str) -> list[str]:
    """Arguments from templates: one per text, as many as its words per `split` item."""
    argv: list[str] = []
    for arg in args:
        if isinstance(arg, SplitArg):
            text = render(arg.split, env)
            try:
                argv.extend(shlex.split(text))
            except ValueError as exc:
                raise ValueError(f"{where}: cannot split {text!r} into arguments: {exc}") from None
        else:
            argv.append(render(arg, env))
    return argv


def config_value(config: Mapping[str, str] | None, key: str) -> str:
    """A config key's value as the worker's environment has it (None: every key reads as empty)."""
    if config is None:
        return ""
    if key not in config:
        raise ValueError(f"config key {key} is not in the worker's environment; run `python run.py setup` again")
    return str(config[key])


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


def load_spec(path: str | Path) -> ToolSpec:
    """Load tool/spec.json; a SpecError names the file and what is wrong."""
    path = Path(path)
    data = read_json(path, SpecError, "it is rendered by dsgen (run `copier update` to restore it)")
    try:
        return ToolSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(spec)'}: {e['msg']}" for e in exc.errors()]
        raise SpecError(f"{path}: invalid tool spec:\n  " + "\n  ".join(lines)) from None
