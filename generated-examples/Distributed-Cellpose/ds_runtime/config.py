"""config.py, the user's settings: loaded, checked and typed before any AWS call.

config.py is a plain Python module of DS's constants (APP_NAME, AWS_BUCKET, ...).
Every value is checked here once, so a typo fails at the start of a command with
the file, the key, the bad value and the fix, never half way through a run.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from .bucket_names import JOB_BUCKETS, BucketError
from .buckets import allowed_buckets
from .config_keys import DS_KEYS, KEYS, REQUIRED, Derived
from .placeholders import config_name, placeholders
from .spec import DS_WORKER_CONFIG_KEYS, ToolSpec
from .upload_flags import UploadFlagsError, parse_upload_flags

MAX_VISIBILITY_SECONDS = 12 * 60 * 60  # SQS's limit
MIN_EBS_GB = 22  # the ECS-optimised AMI's Docker volume needs at least this
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"


class ConfigError(ValueError):
    """config.py cannot be used; the message names the file, the key, the value and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            problems[0] if len(problems) == 1 else f"{len(problems)} problem(s) in config:\n  " + "\n  ".join(problems)
        )


def parse_bool(value: Any) -> Any:
    """True/False or the text 'True'/'False' (any case), as DS configs write both."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _machine_types(value: Any) -> Any:
    # DS configs once held one machine type as a string; keep accepting it (and a tuple).
    return [value] if isinstance(value, str) else list(value) if isinstance(value, tuple) else value


def _whole(value: Any) -> Any:
    # 1.5 * 60 * 60 is a float in Python; a whole one is meant as a whole number.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Bool = Annotated[bool, BeforeValidator(parse_bool), Field(strict=True)]
Int = Annotated[StrictInt, BeforeValidator(_whole)]
Name = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
Number = StrictFloat | StrictInt


class DSConfig(BaseModel):
    """The DS constants of config.py, with types and ranges; defaults live in config_keys.KEYS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    APP_NAME: Name
    DOCKERHUB_TAG: Annotated[StrictStr, Field(min_length=1)]
    AWS_REGION: Annotated[StrictStr, Field(pattern=REGION_PATTERN)]
    AWS_PROFILE: StrictStr | None
    SSH_KEY_NAME: StrictStr
    AWS_BUCKET: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    ECS_CLUSTER: Name
    CLUSTER_MACHINES: Annotated[Int, Field(ge=1)]
    TASKS_PER_MACHINE: Annotated[Int, Field(ge=1)]
    MACHINE_TYPE: Annotated[list[Annotated[StrictStr, Field(min_length=1)]], BeforeValidator(_machine_types)] = Field(
        min_length=1
    )
    MACHINE_PRICE: Annotated[Number, Field(gt=0)]
    EBS_VOL_SIZE: Annotated[Int, Field(ge=MIN_EBS_GB, le=16384)]
    ASSIGN_IP: Bool
    DOCKER_CORES: Annotated[Int, Field(ge=1)]
    CPU_SHARES: Annotated[Int, Field(ge=128)]
    MEMORY: Annotated[Int, Field(gt=0)]
    SECONDS_TO_START: Annotated[Int, Field(ge=0)]
    SQS_QUEUE_NAME: Name
    SQS_MESSAGE_VISIBILITY: Annotated[Int, Field(ge=1, le=MAX_VISIBILITY_SECONDS)]
    SQS_DEAD_LETTER_QUEUE: Name  # an ARN in config.py is reduced to its name first (as DCP does)
    JOB_RETRIES: Annotated[Int, Field(ge=1, le=1000)]
    LOG_GROUP_NAME: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_/.#-]{1,500}$")]
    AUTO_MONITOR: Bool
    CREATE_DASHBOARD: Bool
    CLEAN_DASHBOARD: Bool
    CHECK_IF_DONE_BOOL: Bool
    EXPECTED_NUMBER_FILES: Annotated[Int, Field(ge=0)]
    MIN_FILE_SIZE_BYTES: Annotated[Int, Field(ge=0)]
    NECESSARY_STRING: StrictStr
    MAX_COST: Annotated[Number, Field(ge=0)]  # dollars; 0 = no cap
    MAX_HOURS: Annotated[Number, Field(ge=0)]  # hours since startCluster; 0 = no cap
    MACHINE_IDLE_SECONDS: Annotated[Int, Field(ge=0)]  # idle this long, nothing waiting: released
    JOB_TIMEOUT: Annotated[Int, Field(ge=1)] | None  # seconds a job may run; None: no limit
    ON_DEMAND_AFTER_INTERRUPTIONS: Annotated[Int, Field(ge=0)]  # on-demand machines replace missing spot; 0 = off
    # The tool's own keys (spec.config_keys), passed to the worker as they are.
    extra: dict[str, Any] = {}

    def extra_text(self) -> dict[str, str]:
        """The tool's own keys as environment text, the way `run.py setup` passes them to the worker."""
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.extra.items()}

    def worker_config(self) -> dict[str, str]:
        """Every config key a spec may read ({config.NAME}), as the worker's environment has it."""
        ds = {k: _env_text(getattr(self, k)) for k in DS_WORKER_CONFIG_KEYS}
        return {**self.extra_text(), **ds}


def _env_text(value: Any) -> str:
    return ("True" if value else "False") if isinstance(value, bool) else str(value)


# What to write instead, per key, for the error message.
FIXES: dict[str, str] = {
    "APP_NAME": "use 1-80 letters, digits, - or _, e.g. APP_NAME = 'DistributedFiji'",
    "DOCKERHUB_TAG": "the worker image, e.g. DOCKERHUB_TAG = 'myorg/distributed-fiji:1.0'",
    "AWS_REGION": "a region name, e.g. AWS_REGION = 'us-east-1'",
    "AWS_PROFILE": "a profile from ~/.aws/config (list them: aws configure list-profiles), or None",
    "SSH_KEY_NAME": "an EC2 key pair name in quotes, or '' for none",
    "AWS_BUCKET": "your S3 bucket's name, lower case, without s3://",
    "ECS_CLUSTER": "letters, digits, - or _, e.g. ECS_CLUSTER = 'default'",
    "CLUSTER_MACHINES": "a whole number of machines, at least 1, e.g. CLUSTER_MACHINES = 3",
    "TASKS_PER_MACHINE": "a whole number, at least 1, e.g. TASKS_PER_MACHINE = 1",
    "MACHINE_TYPE": "a list of one or more EC2 types, e.g. MACHINE_TYPE = ['m5.xlarge']",
    "MACHINE_PRICE": "the most you will pay per machine-hour in dollars, e.g. MACHINE_PRICE = 0.10",
    "EBS_VOL_SIZE": f"disk size in GB, at least {MIN_EBS_GB}, e.g. EBS_VOL_SIZE = 30",
    "DOCKER_CORES": "a whole number of cores per container, at least 1",
    "CPU_SHARES": "CPU units for one container, 1024 per core, e.g. CPU_SHARES = DOCKER_CORES * 1024",
    "MEMORY": "memory per container in MB, above 0, e.g. MEMORY = 7500",
    "SECONDS_TO_START": "a whole number of seconds, 0 or more",
    "SQS_QUEUE_NAME": "letters, digits, - or _, e.g. SQS_QUEUE_NAME = APP_NAME + 'Queue'",
    "SQS_MESSAGE_VISIBILITY": f"seconds a job may run before it is retried, 1 to {MAX_VISIBILITY_SECONDS} (12 h)",
    "SQS_DEAD_LETTER_QUEUE": "a queue name (letters, digits, - or _) or its ARN, "
    "e.g. SQS_DEAD_LETTER_QUEUE = APP_NAME + 'DeadMessages'",
    "JOB_RETRIES": "how many times a job is tried before it is dead-lettered, 1 to 1000",
    "LOG_GROUP_NAME": "letters, digits and _ / . # -, e.g. LOG_GROUP_NAME = APP_NAME",
    "EXPECTED_NUMBER_FILES": "a whole number, 0 or more",
    "MIN_FILE_SIZE_BYTES": "a whole number of bytes, 0 or more",
    "MAX_COST": "the most a run may spend in dollars before it is stopped, e.g. MAX_COST = 50; 0 for no cap",
    "MAX_HOURS": "the longest a run may last in hours before it is stopped, e.g. MAX_HOURS = 12; 0 for no cap",
    "MACHINE_IDLE_SECONDS": "seconds a machine may run no job, while none waits, before it is released, e.g. 120",
    "JOB_TIMEOUT": "the most seconds one job may run before it is stopped as failed, e.g. JOB_TIMEOUT = 3600; or None",
    "ON_DEMAND_AFTER_INTERRUPTIONS": (
        "a whole number: after this many interrupted jobs (or a spot capacity error) on-demand machines "
        "replace missing spot ones, e.g. ON_DEMAND_AFTER_INTERRUPTIONS = 5; 0 for never"
    ),
}
BOOL_FIX = "write True or False"
TEXT_FIX = "write a text value in quotes"


def _fix_for(key: str) -> str:
    if key in FIXES:
        return FIXES[key]
    annotation = DSConfig.model_fields[key].annotation if key in DSConfig.model_fields else None
    return BOOL_FIX if annotation is bool else TEXT_FIX


Notes = Callable[[str], None]


def load_config(
    path: str | Path,
    spec: ToolSpec,
    warn: Notes = lambda text: print(f"note: {text}", file=sys.stderr),
) -> DSConfig:
    """Run config.py and check its constants; ConfigError lists every problem at once.

    `warn` gets each note once: a default used for a key the file lacks, a key ignored.
    """
    path = Path(path)
    namespace, lines = run_config_file(path)
    return config_from_mapping(namespace, spec, source=str(path), warn=warn, lines=lines)


def config_from_mapping(
    namespace: dict[str, Any],
    spec: ToolSpec,
    source: str,
    warn: Notes,
    lines: Mapping[str, int] | None = None,
) -> DSConfig:
    lines = lines or {}

    def where(key: str) -> str:
        return f"{source}:{lines[key]}" if key in lines else source

    constants = {k: v for k, v in namespace.items() if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}
    tool_keys = list(spec.config_keys)
    notes: list[str] = []
    problems: list[str] = []
    values = _ds_values(constants, notes, problems, where)
    extra = _tool_values(constants, spec, notes, problems, where)
    for key in sorted(set(constants) - set(DSConfig.model_fields) - set(tool_keys)):
        known = KEYS.get(key)
        if known is None:
            notes.append(
                f"{where(key)}: unknown key {key} is ignored (a typo? known keys: see the comments in config.py)"
            )
        elif not (known.replaced_by and known.replaced_by in tool_keys):
            notes.append(f"{where(key)}: {key} ({known.meaning}) is not used by this tool; ignored")
    config = None
    try:
        config = DSConfig.model_validate({**values, "extra": extra})
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0])
            if err["type"] == "missing":  # a required key (reported above) or a default made from a wrong key
                continue
            problems.append(f"{where(key)}: {key} = {values.get(key)!r} is wrong ({err['msg']}); {_fix_for(key)}")
    if config is not None and not problems:
        problems += [f"{source}: {problem}" for problem in run_problems(spec, config)]
    for note in notes:
        warn(note)
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def _ds_values(
    constants: dict[str, Any], notes: list[str], problems: list[str], where: Callable[[str], str]
) -> dict[str, Any]:
    """DS's keys from config.py, each missing one with its default from the key table (and a note)."""
    values: dict[str, Any] = {}
    for key in DS_KEYS:
        if key.name in constants:
            values[key.name] = constants[key.name]
        elif key.default is REQUIRED:
            problems.append(f"{where(key.name)}: {key.name} is missing; add it: {_fix_for(key.name)}")
        else:
            try:
                value = key.default.compute(values) if isinstance(key.default, Derived) else key.default
            except Exception:  # what it is made from is missing or wrong: reported for that key
                continue
            shown = f"{key.default.text} = {value!r}" if isinstance(key.default, Derived) else repr(value)
            notes.append(f"using {key.origin}'s default for {key.name} = {shown}")
            values[key.name] = value
    dead = values.get("SQS_DEAD_LETTER_QUEUE")
    if isinstance(dead, str) and dead.startswith("arn:"):
        values["SQS_DEAD_LETTER_QUEUE"] = _queue_name_of_arn(dead, values.get("AWS_REGION"), problems, where)
        notes.append(f"SQS_DEAD_LETTER_QUEUE is an ARN: using its queue name {values['SQS_DEAD_LETTER_QUEUE']!r}")
    return values


def _queue_name_of_arn(arn: str, region: Any, problems: list[str], where: Callable[[str], str]) -> str:
    # arn:aws:sqs:REGION:ACCOUNT:NAME; DS's own placeholder has 'some-region', which DCP ignores too.
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        problems.append(
            f"{where('SQS_DEAD_LETTER_QUEUE')}: SQS_DEAD_LETTER_QUEUE = {arn!r} is not an SQS queue ARN; "
            f"{FIXES['SQS_DEAD_LETTER_QUEUE']}"
        )
    elif re.fullmatch(REGION_PATTERN, parts[3]) and parts[3] != region:
        problems.append(
            f"{where('SQS_DEAD_LETTER_QUEUE')}: SQS_DEAD_LETTER_QUEUE = {arn!r} is in {parts[3]}, not AWS_REGION "
            f"{region!r}; a dead-letter queue must be in the queue's region: give its name only"
        )
    return parts[-1]


def _tool_values(
    constants: dict[str, Any], spec: ToolSpec, notes: list[str], problems: list[str], where: Callable[[str], str]
) -> dict[str, Any]:
    """The tool's own keys: legacy names translated, missing ones from the tool's defaults."""
    extra: dict[str, Any] = {}
    for name in sorted(spec.config_keys):
        legacy = next((k for k in KEYS.values() if k.replaced_by == name and k.name in constants), None)
        if name in constants:
            extra[name] = constants[name]
        elif legacy is not None and legacy.translate is not None:
            extra[name] = legacy.translate(constants[legacy.name])
            notes.append(
                f"{where(legacy.name)}: {legacy.name} = {constants[legacy.name]!r} is read as "
                f"{name} = {extra[name]!r} ({legacy.meaning})"
            )
        elif name in spec.config_defaults:
            extra[name] = spec.config_defaults[name]
            notes.append(f"using this tool's default for {name} = {extra[name]!r}")
        else:
            problems.append(f"{where(name)}: {name} is missing; add it (this tool needs it)")
            continue
        try:
            json.dumps(extra[name])
        except (TypeError, ValueError):
            problems.append(
                f"{where(name)}: {name} = {extra[name]!r} cannot be passed to the worker; "
                "write text, a number, True/False, or a list of those"
            )
    return extra


def run_config_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """config.py's namespace and the line of each constant's last assignment.

    Whatever the file does (bad syntax, sys.exit, an import that fails, any exception),
    the result is a ConfigError naming the file and the line, never a traceback.
    """
    if not path.is_file():
        raise ConfigError([f"{path}: config file not found; copy it from the repository's config.py"])
    try:
        text = path.read_text(encoding="utf-8")
        code = compile(text, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        at = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        raise ConfigError([f"{at}: not valid Python ({exc.msg}); fix that line"]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError([f"{path}: cannot be read as Python text ({exc}); save it as UTF-8 text"]) from None
    namespace: dict[str, Any] = {"__name__": "config", "__file__": str(path)}
    try:
        exec(code, namespace)  # config.py is the user's own Python, as in DS
    except SystemExit:
        raise ConfigError([f"{_line(path)}: config.py calls exit(); it should only set values: remove that"]) from None
    except ImportError as exc:
        raise ConfigError(
            [
                f"{_line(path)}: import failed ({exc}); config.py can import only what is installed here: "
                "remove the import or install the package"
            ]
        ) from None
    except Exception as exc:
        raise ConfigError([f"{_line(path)}: {type(exc).__name__}: {exc}; fix that line"]) from None
    return namespace, _assignment_lines(text)


def _line(path: Path) -> str:
    """file:line of the innermost frame of config.py in the exception being handled."""
    line = None
    tb = sys.exc_info()[2]
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{path}:{line}" if line else str(path)


def _assignment_lines(text: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    for node in ast.walk(ast.parse(text)):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign | ast.AugAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                lines[target.id] = max(lines.get(target.id, 0), node.lineno)
    return lines


def run_problems(spec: ToolSpec, config: DSConfig) -> list[str]:
    """What the spec asks of the tool's own keys: bucket names, and upload flags made from config alone."""
    problems = []
    if config.SQS_QUEUE_NAME == config.SQS_DEAD_LETTER_QUEUE:
        # A queue that is its own dead-letter queue never stops retrying a failing job.
        problems.append(
            f"SQS_DEAD_LETTER_QUEUE = {config.SQS_DEAD_LETTER_QUEUE!r} is SQS_QUEUE_NAME too; give it its own name,"
            " e.g. SQS_DEAD_LETTER_QUEUE = APP_NAME + 'DeadMessages'"
        )
    try:
        allowed_buckets(spec, config.AWS_BUCKET, config.extra)
    except BucketError as exc:
        problems.append(f"{exc} ({JOB_BUCKETS} and the bucket keys hold bucket names; '' means AWS_BUCKET)")
    # Flags that use job fields are checked per job by submitJob.
    if all(config_name(name) is not None for name, _ in placeholders(spec.upload_flags)):
        try:
            parse_upload_flags(spec.for_job({}, "", config.worker_config()).upload_text())
        except (UploadFlagsError, ValueError) as exc:
            keys = ", ".join(sorted({config_name(n) or n for n, _ in placeholders(spec.upload_flags)}))
            problems.append(f"{keys or 'upload_flags'}: {exc}")
    return problems
