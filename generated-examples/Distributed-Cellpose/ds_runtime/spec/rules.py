"""The tool spec's cross-field rules: each reads several keys of a spec and yields every problem.

Each problem names where it is (the spec key, with its index) and what to do. ToolSpec's
validator runs all the rules and refuses the spec with all their problems at once, so
a spec is fixed in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from ..bucket_names import JOB_BUCKETS, ref_problem
from ..keys import safe_key
from ..placeholders import PLACEHOLDER, config_name, filter_problem, placeholders
from ..upload_flags import known as known_flags
from ..upload_flags import unknown_flags
from .constants import BUILTIN_PLACEHOLDERS, CONFIG_NAME, LOCAL_FOLDERS
from .document import SpecDocument
from .scripts import script_problems
from .shapes import ArgGroup, FieldSpec, InputSpec, is_template

Rule = Callable[[SpecDocument], Iterator[str]]


def _all_fields(spec: SpecDocument) -> list[FieldSpec]:
    return [*spec.shared_fields, *spec.job_fields]


def fields_declared_once(spec: SpecDocument) -> Iterator[str]:
    """No two fields share a name or an alias: a Job file key must mean one field."""
    keys = [key for f in _all_fields(spec) for key in f.keys]
    dupes = sorted({key for key in keys if keys.count(key) > 1})
    if dupes:
        yield f"fields declared twice (as a name or an alias): {', '.join(dupes)}; keep one of each"


def field_names_not_reserved(spec: SpecDocument) -> Iterator[str]:
    """A field may not be called as a built-in placeholder or as the job list."""
    clash = sorted({f.name for f in _all_fields(spec)} & (set(BUILTIN_PLACEHOLDERS) | {spec.job_list_key}))
    if clash:
        yield f"field names {', '.join(clash)} are reserved; rename them"


def config_keys_upper_case(spec: SpecDocument) -> Iterator[str]:
    bad = sorted(k for k in spec.config_keys if not CONFIG_NAME.match(k))
    if bad:
        yield f"config_keys: {', '.join(bad)} must be UPPER_CASE names"


def placeholders_known_where_used(spec: SpecDocument) -> Iterator[str]:
    """Every `{name}` of every template names something that template may read, with a known filter."""
    names = {f.name for f in _all_fields(spec)}
    known = names | set(BUILTIN_PLACEHOLDERS)
    for where, template in spec.templates():
        for name, filt in placeholders(template):
            name = name.strip()
            if problem := _placeholder_problem(spec, where, name, known):
                yield f"{where} {problem}"
            if filt is not None and (problem := filter_problem(filt, names)):
                yield f"{where}: {problem}"


def _placeholder_problem(spec: SpecDocument, where: str, name: str, known: set[str]) -> str:
    key = config_name(name)
    if key is not None:
        if not where.startswith(("command", "upload_flags")):
            return f"cannot use {{{name}}}: config keys may appear only in the command and upload_flags"
        if key not in spec.config_names:
            return f"uses {{{name}}}, but {key} is not a config key of this tool; add it to config_keys"
        return ""
    if name not in known and not spec.is_mapping_key(name):
        return f"uses {{{name}}}, which is neither a declared field nor a built-in"
    if name in LOCAL_FOLDERS and not where.startswith("command"):
        return f"cannot use the local folder {{{name}}}; it is relative to outputs"
    if name in BUILTIN_PLACEHOLDERS and where.startswith("input_fields"):
        return f"uses {{{name}}}; an input key is built from job fields only"
    if name in BUILTIN_PLACEHOLDERS and where == "upload_flags":
        return f"uses {{{name}}}; upload flags are built from fields and config keys"
    return ""


def conditions_name_something(spec: SpecDocument) -> Iterator[str]:
    """Each `when` of the command's groups and of the inputs names a field or a config key."""
    names = {f.name for f in _all_fields(spec)}
    for placed in spec.command_steps():
        for i, item in enumerate(placed.step.run):
            if isinstance(item, ArgGroup) and (problem := item.when_problem(names, spec.config_names)):
                yield f"{placed.items}[{i}] {problem}"
    for i, entry in enumerate(spec.input_fields):
        if entry.when and (problem := entry.when_problem(names, spec.config_names)):
            yield f"input_fields[{i}] {problem}"


def no_values_in_scripts(spec: SpecDocument) -> Iterator[str]:
    """No placeholder inside a script a shell or interpreter parses (`sh -c 'echo {sample}'`): code injection."""
    for placed in spec.command_steps():
        yield from script_problems(placed.step.run, placed.items)


def step_outputs_inside(spec: SpecDocument) -> Iterator[str]:
    """A step's stdout names a file in the job's folders: under one of its local folders, or relative to
    its folder (the worker checks each job's rendered path again: a value may hold `..` or a leading /)."""
    for placed in spec.command_steps():
        path = placed.step.stdout
        fixed = PLACEHOLDER.sub("x", path).split("/")
        folder_only = path.rstrip("/") in {f"{{{folder}}}" for folder in LOCAL_FOLDERS}
        if path and (fixed[0] == "" or ".." in fixed or fixed[-1] == "" or folder_only):
            yield (
                f"{placed.where}.stdout {path!r} must name a file in the job's folders: under {{output_dir}}"
                " (uploaded, e.g. {output_dir}/{sample}.flagstat.txt), under {work_dir} (not uploaded),"
                " or relative to the job's folder"
            )


def inputs_are_keys(spec: SpecDocument) -> Iterator[str]:
    """An input is an s3_key or s3_prefix field, or a key template whose fixed parts are a safe key."""
    fields = spec.fields
    for i, entry in enumerate(spec.input_fields):
        if is_template(entry.key):
            try:  # the fixed parts must already be a safe key: no /, .. or s3://
                safe_key(PLACEHOLDER.sub("x", entry.key), what=f"input_fields[{i}]")
            except ValueError as exc:
                yield str(exc)
        elif entry.key not in fields or fields[entry.key].type not in ("s3_key", "s3_prefix"):
            yield (
                f"input_fields[{i}]: input field {entry.key!r} must be a declared field of type s3_key or s3_prefix,"
                " or a key template such as {prefix_field}/{name_field}/"
            )
        if entry.lists_files and (problem := _listing_problem(entry, fields)):
            yield f"input_fields[{i}].lists_files: {problem}"


def _listing_problem(entry: InputSpec, fields: Mapping[str, FieldSpec]) -> str:
    """Why an input cannot list files; '' when it can."""
    if entry.key.endswith("/") or (entry.key in fields and fields[entry.key].type == "s3_prefix"):
        return "a list is one file, not a prefix; name one file"
    matching = entry.lists_files.rows_matching if entry.lists_files else ""
    if matching and (matching not in fields or fields[matching].type != "mapping"):
        return f"rows_matching {matching!r} must name a mapping field (e.g. Metadata)"
    return ""


def buckets_known(spec: SpecDocument) -> Iterator[str]:
    """Each bucket reference names AWS_BUCKET, a config key or a string field; jobs that choose
    buckets need JOB_BUCKETS, the list they may choose from."""
    types = {name: field.type for name, field in spec.fields.items()}
    named_by_jobs = []
    for where, ref in spec.bucket_refs():
        if problem := ref_problem(ref, types, spec.config_keys):
            yield f"{where} {problem}"
        if ref in types:
            named_by_jobs.append(where)
    if named_by_jobs and JOB_BUCKETS not in spec.config_keys:
        yield (
            f"{named_by_jobs[0]} names a field, so jobs choose buckets: add {JOB_BUCKETS} to config_keys"
            " (the buckets a job may name, in config.py)"
        )


def upload_flags_known(spec: SpecDocument) -> Iterator[str]:
    if unknown := unknown_flags(PLACEHOLDER.sub(" ", spec.upload_flags)):
        yield f"upload_flags: {', '.join(unknown)} unknown; supported: {known_flags()}"


def output_exclude_inside(spec: SpecDocument) -> Iterator[str]:
    for i, pattern in enumerate(spec.output_exclude):
        if not pattern.strip() or pattern.startswith("/") or ".." in pattern.split("/"):
            yield f"output_exclude[{i}] {pattern!r}: give a pattern inside the output folder, e.g. *.tmp"


def min_files_readable(spec: SpecDocument) -> Iterator[str]:
    minimum = spec.done.min_files
    if isinstance(minimum, str) and config_name(minimum) not in spec.config_names:
        yield f"done.min_files {minimum!r} must be a number or config.NAME of a config key"


def startup_steps_read_config(spec: SpecDocument) -> Iterator[str]:
    for i, step in enumerate(spec.startup):
        for problem in step.problems(spec.config_names):
            yield f"startup[{i}]: {problem}"


RULES: tuple[Rule, ...] = (
    fields_declared_once,
    field_names_not_reserved,
    config_keys_upper_case,
    placeholders_known_where_used,
    conditions_name_something,
    no_values_in_scripts,
    step_outputs_inside,
    inputs_are_keys,
    buckets_known,
    upload_flags_known,
    output_exclude_inside,
    min_files_readable,
    startup_steps_read_config,
)


def spec_problems(spec: SpecDocument) -> list[str]:
    """Every problem every rule finds, in rule order; [] for a consistent spec."""
    return [problem for rule in RULES for problem in rule(spec)]
