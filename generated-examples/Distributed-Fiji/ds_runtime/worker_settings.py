"""What a worker needs to know, passed as environment variables.

The control plane writes them into the ECS task definition (`to_env`), local mode
into each worker process, and the worker reads them back (`from_env`): one list of
names for both sides. Never credentials: AWS access comes from the task role.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields

from .outcomes import default_prefix


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"expected True or False, got {text!r}")
    return value == "true"


@dataclass(frozen=True)
class WorkerSettings:
    app_name: str
    queue_url: str
    bucket: str
    region: str
    log_group: str
    visibility_timeout: int = 60
    check_if_done: bool = False
    expected_number_files: int = 0
    min_file_size_bytes: int = 0
    necessary_string: str = ""
    docker_cores: int = 1
    seconds_to_start: int = 0
    idle_exit_seconds: int = 60  # 0: exit at the first receive that finds no message
    # The longest a receive waits for a message (SQS's long poll, at most 20 s): also how long
    # an idle worker may take to notice a stop. Local mode asks for 1 s (its receives are free).
    receive_wait_seconds: int = 20
    job_timeout_seconds: int = 0  # 0: no per-job timeout
    spec_path: str = "tool/spec.json"
    image: str = ""  # the image the task runs, by digest (setup pins it); '' where not known

    @property
    def outcome_prefix(self) -> str:
        return default_prefix(self.app_name)  # the one place control reads them from too

    def to_env(self) -> dict[str, str]:
        return {ENV_NAMES[f.name]: _text(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        values = {}
        missing = []
        for f in fields(cls):
            name = ENV_NAMES[f.name]
            if name not in env:
                if f.default is MISSING:
                    missing.append(name)
                continue
            raw = env[name]
            try:
                values[f.name] = _bool(raw) if f.type == "bool" else int(raw) if f.type == "int" else raw
            except ValueError as exc:
                raise ValueError(f"environment variable {name}: {exc}") from None
        if missing:
            raise ValueError(f"worker environment lacks {', '.join(missing)} (set by `run.py setup`)")
        return cls(**values)


def _text(value: object) -> str:
    return str(value) if not isinstance(value, bool) else ("True" if value else "False")


# DS's config.py names where one exists, so a DS user recognises them in the task definition.
ENV_NAMES = {
    "app_name": "APP_NAME",
    "queue_url": "SQS_QUEUE_URL",
    "bucket": "AWS_BUCKET",
    "region": "AWS_REGION",
    "log_group": "LOG_GROUP_NAME",
    "visibility_timeout": "SQS_MESSAGE_VISIBILITY",
    "check_if_done": "CHECK_IF_DONE_BOOL",
    "expected_number_files": "EXPECTED_NUMBER_FILES",
    "min_file_size_bytes": "MIN_FILE_SIZE_BYTES",
    "necessary_string": "NECESSARY_STRING",
    "docker_cores": "DOCKER_CORES",
    "seconds_to_start": "SECONDS_TO_START",
    "idle_exit_seconds": "WORKER_IDLE_EXIT_SECONDS",
    "receive_wait_seconds": "WORKER_RECEIVE_WAIT_SECONDS",
    "job_timeout_seconds": "JOB_TIMEOUT_SECONDS",
    "spec_path": "TOOL_SPEC",
    "image": "DS_IMAGE",
}
