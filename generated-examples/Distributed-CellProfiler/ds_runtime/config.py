"""config.py, the user's settings: loaded, checked and typed before any AWS call.

config.py is a plain Python module of DS's constants (APP_NAME, AWS_BUCKET, ...).
Every value is checked here once, so a typo fails at the start of a command with
the file, the key, the bad value and the fix, never half way through a run.
"""

from __future__ import annotations

import json
import re
import runpy
import sys
from collections.abc import Callable
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

from .buckets import JOB_BUCKETS, BucketError, allowed_buckets
from .placeholders import config_name, placeholders
from .spec import DS_WORKER_CONFIG_KEYS, ToolSpec
from .upload_flags import UploadFlagsError, parse_upload_flags

MAX_VISIBILITY_SECONDS = 12 * 60 * 60  # SQS's limit
MIN_EBS_GB = 22  # the ECS-optimised AMI's Docker volume needs at least this


class ConfigError(ValueError):
    """config.py cannot be used; the message names the file, the key, the value and the fix."""


def parse_bool(value: Any) -> Any:
    """True/False or the text 'True'/'False' (any case), as DS configs write both."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _machine_types(value: Any) -> Any:
    # DS configs once held one machine type as a string; keep accepting it.
    return [value] if isinstance(value, str) else value


Bool = Annotated[bool, BeforeValidator(parse_bool), Field(strict=True)]
Name = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
Number = StrictFloat | StrictInt


class DSConfig(BaseModel):
    """The DS constants of config.py, with types and ranges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    APP_NAME: Name
    DOCKERHUB_TAG: Annotated[StrictStr, Field(min_length=1)]
    AWS_REGION: Annotated[StrictStr, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    AWS_PROFILE: StrictStr | None = None
    SSH_KEY_NAME: StrictStr = ""
    AWS_BUCKET: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    ECS_CLUSTER: Name = "default"
    CLUSTER_MACHINES: Annotated[StrictInt, Field(ge=1)]
    TASKS_PER_MACHINE: Annotated[StrictInt, Field(ge=1)]
    MACHINE_TYPE: Annotated[list[Annotated[StrictStr, Field(min_length=1)]], BeforeValidator(_machine_types)] = Field(
        min_length=1
    )
    MACHINE_PRICE: Annotated[Number, Field(gt=0)]
    EBS_VOL_SIZE: Annotated[StrictInt, Field(ge=MIN_EBS_GB, le=16384)]
    ASSIGN_IP: Bool = True
    DOCKER_CORES: Annotated[StrictInt, Field(ge=1)] = 1
    CPU_SHARES: Annotated[StrictInt, Field(ge=128)]
    MEMORY: Annotated[StrictInt, Field(gt=0)]
    SECONDS_TO_START: Annotated[StrictInt, Field(ge=0)] = 0
    SQS_QUEUE_NAME: Name
    SQS_MESSAGE_VISIBILITY: Annotated[StrictInt, Field(ge=1, le=MAX_VISIBILITY_SECONDS)]
    SQS_DEAD_LETTER_QUEUE: Name
    JOB_RETRIES: Annotated[StrictInt, Field(ge=1, le=1000)] = 3
    LOG_GROUP_NAME: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_/.#-]{1,500}$")]
    AUTO_MONITOR: Bool = False
    CREATE_DASHBOARD: Bool = False
    CLEAN_DASHBOARD: Bool = True
    CHECK_IF_DONE_BOOL: Bool = False
    EXPECTED_NUMBER_FILES: Annotated[StrictInt, Field(ge=0)] = 0
    MIN_FILE_SIZE_BYTES: Annotated[StrictInt, Field(ge=0)] = 0
    NECESSARY_STRING: StrictStr = ""
    MAX_COST: Annotated[Number, Field(ge=0)] = 0  # dollars; 0 = no cap
    MAX_HOURS: Annotated[Number, Field(ge=0)] = 0  # hours since startCluster; 0 = no cap
    MACHINE_IDLE_SECONDS: Annotated[StrictInt, Field(ge=0)] = 120  # idle this long, nothing waiting: released
    JOB_TIMEOUT: Annotated[StrictInt, Field(ge=1)] | None = None  # seconds a job may run; None: no limit
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
    "AWS_PROFILE": "a profile from ~/.aws/config, or None for your default credentials",
    "AWS_BUCKET": "your S3 bucket's name, lower case, without s3://",
    "ECS_CLUSTER": "letters, digits, - or _, e.g. ECS_CLUSTER = 'default'",
    "CLUSTER_MACHINES": "a whole number of machines, at least 1, e.g. CLUSTER_MACHINES = 3",
    "TASKS_PER_MACHINE": "a whole number, at least 1, e.g. TASKS_PER_MACHINE = 1",
    "MACHINE_TYPE": "a list of one or more EC2 types, e.g. MACHINE_TYPE = ['m5.xlarge']",
    "MACHINE_PRICE": "the most you will pay per machine-hour in dollars, e.g. MACHINE_PRICE = 0.10",
    "EBS_VOL_SIZE": f"disk size in GB, at least {MIN_EBS_GB}, e.g. EBS_VOL_SIZE = 30",
    "DOCKER_CORES": "a whole number of cores per container, at least 1",
    "CPU_SHARES": "CPU units for one container, 1024 per core, e.g. CPU_SHARES = 1024",
    "MEMORY": "memory per container in MB, above 0, e.g. MEMORY = 7500",
    "SECONDS_TO_START": "a whole number of seconds, 0 or more",
    "SQS_QUEUE_NAME": "letters, digits, - or _, e.g. SQS_QUEUE_NAME = APP_NAME + 'Queue'",
    "SQS_MESSAGE_VISIBILITY": f"seconds a job may run before it is retried, 1 to {MAX_VISIBILITY_SECONDS} (12 h)",
    "SQS_DEAD_LETTER_QUEUE": "letters, digits, - or _, e.g. SQS_DEAD_LETTER_QUEUE = APP_NAME + 'DeadMessages'",
    "JOB_RETRIES": "how many times a job is tried before it is dead-lettered, 1 to 1000",
    "LOG_GROUP_NAME": "letters, digits and _ / . # -, e.g. LOG_GROUP_NAME = APP_NAME",
    "EXPECTED_NUMBER_FILES": "a whole number, 0 or more",
    "MIN_FILE_SIZE_BYTES": "a whole number of bytes, 0 or more",
    "MAX_COST": "the most a run may spend in dollars before it is stopped, e.g. MAX_COST = 50; 0 for no cap",
    "MAX_HOURS": "the longest a run may last in hours before it is stopped, e.g. MAX_HOURS = 12; 0 for no cap",
    "MACHINE_IDLE_SECONDS": "seconds a machine may run no job, while none waits, before it is released, e.g. 120",
    "JOB_TIMEOUT": "the most seconds one job may run before it is stopped as failed, e.g. JOB_TIMEOUT = 3600; or None",
}
BOOL_FIX = "write True or False"
TEXT_FIX = "write a text value in quotes"


def _fix_for(key: str) -> str:
    if key in FIXES:
        return FIXES[key]
    annotation = DSConfig.model_fields[key].annotation if key in DSConfig.model_fields else None
    return BOOL_FIX if annotation is bool else TEXT_FIX


def load_config(
    path: str | Path,
    spec: ToolSpec,
    warn: Callable[[str], None] = lambda text: print(f"warning: {text}", file=sys.stderr),
) -> DSConfig:
    """Run config.py and check its constants; ConfigError lists every problem at once."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; copy it from the repository's config.py")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # any error in the user's module: report it, not a traceback
        raise ConfigError(f"{path}: cannot be run as Python: {type(exc).__name__}: {exc}") from None
    return config_from_mapping(namespace, spec, source=str(path), warn=warn)


def config_from_mapping(
    namespace: dict[str, Any], spec: ToolSpec, source: str, warn: Callable[[str], None]
) -> DSConfig:
    constants = {k: v for k, v in namespace.items() if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}
    known = set(DSConfig.model_fields) - {"extra"}
    tool_keys = set(spec.config_keys)
    missing_tool = sorted(tool_keys - set(constants))
    for key in sorted(set(constants) - known - tool_keys):
        warn(f"{source}: unknown key {key} is ignored (a typo? known keys: see the comments in config.py)")
    values = {k: v for k, v in constants.items() if k in known}
    values["extra"] = {k: constants[k] for k in sorted(tool_keys & set(constants))}
    problems = [f"{source}: {key} is missing; add it (this tool needs it)" for key in missing_tool]
    try:
        config = DSConfig.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0])
            if err["type"] == "missing":
                problems.append(f"{source}: {key} is missing; add it: {_fix_for(key)}")
            else:
                problems.append(f"{source}: {key} = {constants.get(key)!r} is wrong ({err['msg']}); {_fix_for(key)}")
        config = None
    if config is not None:
        problems += [f"{source}: {problem}" for problem in run_problems(spec, config)]
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in config:\n  " + "\n  ".join(problems))
    assert config is not None
    return config


def run_problems(spec: ToolSpec, config: DSConfig) -> list[str]:
    """What the spec asks of the tool's own keys: bucket names, and upload flags made from config alone."""
    problems = []
    try:
        allowed_buckets(spec, config.AWS_BUCKET, config.extra)
    except BucketError as exc:
        problems.append(f"{exc} ({JOB_BUCKETS} and the bucket keys hold bucket names; '' means AWS_BUCKET)")
    # Flags that use job fields are checked per job by submitJob.
    if all(config_name(name) is not None for name, _ in placeholders(spec.upload_flags)):
        try:
            parse_upload_flags(spec.upload_text({}, config.worker_config()))
        except UploadFlagsError as exc:
            keys = ", ".join(sorted({config_name(n) or n for n, _ in placeholders(spec.upload_flags)}))
            problems.append(f"{keys or 'upload_flags'}: {exc}")
    return problems
