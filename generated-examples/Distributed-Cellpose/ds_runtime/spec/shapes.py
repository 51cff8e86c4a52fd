"""The parts of a tool spec, as pydantic models: fields, conditions, inputs, the done rule.

Each model checks what it can on its own; rules that read several parts at once are in
rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from ..placeholders import config_name, scalar_text
from .constants import CONFIG_NAME, FIELD_NAME, JOB_KEY, FieldType

# Every part of a spec: an unknown key is a mistake, and a loaded spec never changes.
STRICT = ConfigDict(extra="forbid", frozen=True)


class Strict(BaseModel):
    model_config = STRICT


class FieldSpec(Strict):
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


class SplitArg(Strict):
    """One template whose rendered text becomes several arguments, split into words as a
    POSIX shell would (shlex: quotes group, nothing is expanded), and never run by a shell.
    Empty text adds no argument."""

    split: str


def text_of(arg: str | SplitArg) -> str:
    """The template of an argument, plain or split."""
    return arg.split if isinstance(arg, SplitArg) else arg


def is_template(entry: str) -> bool:
    """An input_fields entry is a key template when it holds a placeholder (or any brace)."""
    return "{" in entry or "}" in entry


class Condition(Strict):
    """Holds when `when` has a value (matching `matches`, if given).

    `when` names a job field or a config key (`config.NAME`, as the worker sees it).
    Shared by every conditional part of the spec, so all read conditions one way.
    """

    when: str
    matches: str | None = None

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"matches {pattern!r} is not a valid regular expression: {exc}") from exc
        return pattern

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


def _split_or_text(data: Any) -> str | None:
    if isinstance(data, str | SplitArg):
        return "split" if isinstance(data, SplitArg) else "text"
    return "split" if isinstance(data, Mapping) and set(data) == {"split"} else None


# One argument: its form is told by its shape, so a wrong one gets one message saying the forms.
Arg = Annotated[
    Annotated[str, Tag("text")] | Annotated[SplitArg, Tag("split")],
    Discriminator(
        _split_or_text,
        custom_error_type="argument",
        custom_error_message='an argument is text or {split: "<template>"} (its words as arguments)',
    ),
]


class ArgGroup(Condition):
    """Arguments emitted only when the condition holds."""

    args: list[Arg] = Field(min_length=1)


def _command_item_kind(data: Any) -> str | None:
    if isinstance(data, ArgGroup) or (isinstance(data, Mapping) and "split" not in data and "when" in data):
        return "when"
    return _split_or_text(data)


CommandItem = Annotated[
    Annotated[str, Tag("text")] | Annotated[ArgGroup, Tag("when")] | Annotated[SplitArg, Tag("split")],
    Discriminator(
        _command_item_kind,
        custom_error_type="command_item",
        custom_error_message='a command item is text, {split: "<template>"} (its words as arguments), or'
        " {when: <field or config.NAME>, args: [...]} (arguments added only when it is set)",
    ),
]


class CommandStep(Strict):
    """One program of a command of several steps: its items (as a single command's), run in the
    job's folder; `stdout`, a path template inside the job's folders, receives its standard output
    (its standard error still goes to the job's log)."""

    run: list[CommandItem] = Field(min_length=1)
    stdout: str = ""


class CommandSteps(Strict):
    """A command of several programs, run one after another; the first that fails ends the job."""

    steps: list[CommandStep] = Field(min_length=1)


def _command_kind(data: Any) -> str | None:
    if isinstance(data, list | tuple):
        return COMMAND_FORMS[0]
    return COMMAND_FORMS[1] if isinstance(data, Mapping | CommandSteps) else None


# The command's two forms, as pydantic's error places name them; load.py leaves them out of the
# places it prints, so an error reads `command.2` or `command.steps.0.run.2`, as the spec is written.
COMMAND_FORMS = ("argv", "steps")

# The command: one argv (the simple case: every DS tool), or {steps: [...]}.
Command = Annotated[
    Annotated[list[CommandItem], Field(min_length=1), Tag(COMMAND_FORMS[0])]
    | Annotated[CommandSteps, Tag(COMMAND_FORMS[1])],
    Discriminator(
        _command_kind,
        custom_error_type="command",
        custom_error_message="the command is a list of arguments, or {steps: [{run: [...]}, ...]} (programs run"
        " one after another)",
    ),
]


class ToolStep(NamedTuple):
    """One program a job runs: its argv, and the file its standard output goes to ('' for the job's log)."""

    argv: list[str]
    stdout: str = ""


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


class ListedFiles(Strict):
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

    `bucket` is a bucket reference (see bucket_names.py): '' for AWS_BUCKET, config.NAME, or a
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


class DoneRule(Strict):
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
