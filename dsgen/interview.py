"""`dsgen new`'s own short interview: the answers a simple tool needs, asked one at a time.

copier's questions (copier.yml) are a whole tool spec, 32 of them, lists typed as one line of YAML.
Here the command is asked first, its {placeholders} become the proposed job fields, each asked
field by field (scope and type picked from a list), and a question that does not apply is not
asked. Every other question keeps its default; the answers go to a file the developer edits and
passes back with `dsgen new --data-file` for anything more (copier.yml documents every question).
"""

from __future__ import annotations

import re
import runpy
import shlex
import shutil
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, get_args

import yaml

from .source import TEMPLATE_ROOT

# {name}, {name|filter}, {name.key} and {config.NAME}: the names a command's placeholders read.
_PLACEHOLDER = re.compile(r"\{(config\.)?([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}")
_TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,39}$")
TYPE_MEANINGS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "s3_key": "one S3 object, downloaded before the tool runs",
    "s3_prefix": "an S3 folder, all of it downloaded before the tool runs",
    "mapping": 'names and values: {Plate: P1, Well: A01} or DS\'s "k=v,k=v"',
}
SCOPES = {"job": "one value per job", "shared": "one value for all jobs of a Job file"}


@cache
def _runtime_names(template: Path = TEMPLATE_ROOT) -> dict[str, Any]:
    """The runtime's own lists of field types and built-in placeholders (one source: ds_runtime/spec)."""
    return runpy.run_path(str(template / "template" / "ds_runtime" / "spec" / "constants.py"))


def field_types() -> list[str]:
    return list(get_args(_runtime_names()["FieldType"]))


class Ask(Protocol):
    """How a question is put: a text answer, or one of several choices (each with what it means)."""

    def text(self, message: str, help: str, default: str = "", check: Callable[[str], str] | None = None) -> str: ...

    def choose(self, message: str, help: str, choices: dict[str, str], default: str) -> str: ...


@dataclass(frozen=True)
class Placeholders:
    fields: list[str]  # job fields, in the command's order
    config_keys: list[str]  # the tool's own config keys ({config.NAME} that are not DS's)


def placeholders(command: Sequence[str]) -> Placeholders:
    """The names a command's {placeholders} read, less the built-ins the worker fills in and DS's config keys."""
    names = _runtime_names()
    fields: list[str] = []
    keys: list[str] = []
    for word in command:
        for config, name in _PLACEHOLDER.findall(word):
            if config and name not in names["DS_WORKER_CONFIG_KEYS"] and name not in keys:
                keys.append(name)
            elif not config and name not in names["BUILTIN_PLACEHOLDERS"] and name not in fields:
                fields.append(name)
    return Placeholders(fields, keys)


def guess_type(name: str) -> str:
    """A proposed type from a field's name (the developer picks from the list with it highlighted)."""
    lowered = name.lower()
    if re.search(r"(dir|folder|prefix|location)s?$", lowered):
        return "s3_prefix"
    if re.search(r"(file|path|key|^in|^input)s?$", lowered) or lowered.startswith("input"):
        return "s3_key"
    return "string"


_INTERPRETERS = re.compile(r"^(python[0-9.]*|Rscript|R|bash|sh|perl|java|node|ruby|julia)$")


def tool_name_from(command: Sequence[str]) -> str:
    """A proposed tool name from the program's name (samtools -> Samtools; python3 segment.py -> Segment),
    "" if it has none usable."""
    words = [w for w in command if not w.startswith("-")]
    while len(words) > 1 and _INTERPRETERS.match(Path(words[0]).name):
        words = words[1:]
    program = re.sub(r"[^A-Za-z0-9]", "", Path(words[0]).stem) if words else ""
    name = program[:1].upper() + program[1:]
    return name if _TOOL_NAME.match(name) else ""


def _value(text: str, type_: str) -> Any:
    """An answer typed as text, as a value of the field's type (YAML reads numbers, booleans, mappings)."""
    return text if type_ in ("string", "s3_key", "s3_prefix") else yaml.safe_load(text)


def _value_problem(text: str, type_: str) -> str:
    expected = {"integer": int, "number": (int, float), "boolean": bool, "mapping": (dict, str)}.get(type_)
    if expected is None or not text:
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    ok = isinstance(value, expected) and not (type_ in ("integer", "number") and isinstance(value, bool))
    return "" if ok else f"not {TYPE_MEANINGS[type_]}: {text!r}"


def _examples_problem(text: str, type_: str) -> str:
    if not text.strip():
        return "give at least one example value"
    return next((p for p in map(lambda v: _value_problem(v, type_), _split(text, type_)) if p), "")


def _split(text: str, type_: str) -> list[str]:
    # A mapping's own commas are its own: one mapping example; other values are comma-separated.
    parts = [text] if type_ == "mapping" else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def _ask_field(ask: Ask, name: str) -> dict[str, Any]:
    scope = ask.choose(
        f"{name}: one value per job, or shared?",
        f"Field {name} (from the command). A Job file lists jobs; a shared field is written once above them.",
        SCOPES,
        "job",
    )
    type_ = ask.choose(f"{name}: type", f"What {name} holds:", TYPE_MEANINGS, guess_type(name))
    examples = ask.text(
        f"{name}: example values",
        f"Values of {name} for the example Job file, separated by commas (one is enough: a second is made "
        "from it)" + (", as one YAML mapping" if type_ == "mapping" else "") + ".",
        check=lambda text: _examples_problem(text, type_),
    )
    default = ask.text(
        f"{name}: default",
        f"The value of {name} when a Job file leaves it out; Enter for none (every Job file must then give it).",
        check=lambda text: _value_problem(text, type_),
    )
    values = [_value(v, type_) for v in _split(examples, type_)]
    field: dict[str, Any] = {"name": name, "scope": scope, "type": type_}
    if default:
        field |= {"required": False, "default": _value(default, type_)}
    field["example"] = values if scope == "job" and len(values) > 1 else values[0]
    return field


def _command_problem(text: str) -> str:
    try:
        return "" if shlex.split(text) else "give the command, e.g. samtools flagstat {bam}"
    except ValueError as exc:
        return f"{exc}: close the quote"


def _int_problem(least: int) -> Callable[[str], str]:
    return lambda text: "" if text.isdigit() and int(text) >= least else f"a whole number, at least {least}"


def interview(ask: Ask) -> dict[str, Any]:
    """The answers for `dsgen new`, asked one at a time; every question not asked keeps its default."""
    command = shlex.split(
        ask.text(
            "Command",
            "The tool's command line for one job, as you would type it (no shell: quotes group words). "
            "{name} marks a job field (e.g. {bam}); built-ins: {input_dir} {output_dir} {work_dir} "
            "{job_id}; {config.NAME} reads a config.py key.",
            check=_command_problem,
        )
    )
    found = placeholders(command)
    answers: dict[str, Any] = {
        "tool_name": ask.text(
            "Tool name",
            "Letters and digits: the repository is Distributed-<name>.",
            tool_name_from(command),
            check=lambda text: "" if _TOOL_NAME.match(text) else "1-40 letters and digits, starting with a letter",
        )
    }
    answers["docker_image"] = ask.text(
        "Docker image",
        "The tool's image, as you would pull it. BioContainers has images of over 1,000 tools, e.g. "
        "quay.io/biocontainers/samtools:1.21--h50ea8bc_0.",
        "python:3.11-slim",
    )
    fields = [_ask_field(ask, name) for name in found.fields]
    answers["fields"] = fields
    answers["command"] = command
    answers["input_fields"] = [f["name"] for f in fields if f["type"] in ("s3_key", "s3_prefix")]
    if found.config_keys:
        answers["extra_config"] = {
            key: yaml.safe_load(ask.text(f"{key}: default", f"config.py's default for {key} (the command reads it)."))
            or ""
            for key in found.config_keys
        }
        answers["extra_config_help"] = {
            key: ask.text(f"{key}: meaning", f"One line above {key} in config.py, for the users who edit it.")
            for key in found.config_keys
        }
    answers["output_prefix"] = ask.text(
        "Output prefix",
        "Where each job's outputs go in the bucket: an S3 prefix, from the job's fields and {job_id} "
        "(everything the command writes in {output_dir} is uploaded there).",
        "outputs/{job_id}",
    )
    answers["done_min_files"] = int(
        ask.text(
            "Files a job must write",
            "Besides exit code 0, the least number of output files that makes a job done (0: no check).",
            "0",
            check=_int_problem(0),
        )
    )
    answers["cpu_shares"] = int(
        ask.text("CPU units per container", "1024 is one vCPU.", "4096", check=_int_problem(128))
    )
    answers["memory_mb"] = int(
        ask.text(
            "Memory per container (MB)",
            "The most memory one container may use; the machines (m5.xlarge by default) must hold it.",
            "15000",
            check=_int_problem(128),
        )
    )
    return answers


class TerminalAsk:
    """Questions on the terminal (questionary), each help text wrapped to the terminal's width, never cut."""

    def __init__(self, width: int | None = None) -> None:
        self.width = min(width or shutil.get_terminal_size().columns, 100) - 1

    def _help(self, help: str) -> None:
        print()
        print("\n".join(textwrap.wrap(help, self.width)))

    def text(self, message: str, help: str, default: str = "", check: Callable[[str], str] | None = None) -> str:
        import questionary

        self._help(help)
        validate = (lambda text: check(text.strip()) or True) if check else None
        return questionary.text(message, default=default, validate=validate).unsafe_ask().strip()

    def choose(self, message: str, help: str, choices: dict[str, str], default: str) -> str:
        import questionary

        self._help(help)
        pad = max(map(len, choices))
        options = [questionary.Choice(f"{name:<{pad}}  {meaning}", name) for name, meaning in choices.items()]
        chosen = next(o for o in options if o.value == default)
        return questionary.select(message, options, default=chosen).unsafe_ask()


ANSWERS_HEADER = (
    "# Answers for `dsgen new --data-file THIS_FILE`: edit them and run it again. Every question left\n"
    "# out takes its default; copier.yml lists them all (e.g. startup steps, extra_config, machine_types).\n"
)
