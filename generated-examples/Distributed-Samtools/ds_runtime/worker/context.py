"""What every part of a worker shares: settings, the tool spec, AWS clients and the stop flag."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config as BotoConfig

from ..aws import RETRIES, make_session
from ..provenance import file_sha256, recorded_settings, runtime_commit
from ..s3_files import CONCURRENCY
from ..spec import ToolSpec, load_spec
from ..worker_settings import WorkerSettings

# Logging must not hold a job up: few retries, short timeouts.
LOGS_CONFIG = BotoConfig(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)
# Room for every concurrent transfer, so none waits for a connection.
S3_CONFIG = RETRIES.merge(BotoConfig(max_pool_connections=2 * CONCURRENCY))


@dataclass
class WorkerContext:
    settings: WorkerSettings
    spec: ToolSpec
    s3: Any
    sqs: Any
    logs: Any
    stop: threading.Event = field(default_factory=threading.Event)  # set by SIGTERM
    host: str = field(default_factory=socket.gethostname)
    # The config keys a command may read (spec.config_names), as this worker's environment has them.
    tool_config: dict[str, str] = field(default_factory=dict)
    # Read once at start, for every outcome record (provenance.py).
    spec_sha256: str = ""  # the tool spec file's SHA-256
    runtime: str = ""  # the template commit this runtime came from ('' when not known)

    @property
    def recorded_settings(self) -> dict[str, str]:
        """The config keys that reach the worker, as each record keeps them: its settings and the tool's keys."""
        return recorded_settings({**self.settings.to_env(), **self.tool_config})

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> WorkerContext:
        # No profile: in a container, credentials come from the task role (or the emulator).
        session = make_session(None, settings.region)
        spec = load_spec(settings.spec_path)
        return cls(
            settings=settings,
            spec=spec,
            tool_config=tool_config(spec, os.environ),
            spec_sha256=file_sha256(settings.spec_path),
            runtime=runtime_commit(),
            s3=session.client("s3", config=S3_CONFIG),
            sqs=session.client("sqs", config=RETRIES),
            logs=session.client("logs", config=LOGS_CONFIG),
        )


def tool_config(spec: ToolSpec, env: Mapping[str, str]) -> dict[str, str]:
    """The tool's config keys from the environment `run.py setup` gave the worker (absent ones left out)."""
    return {key: env[key] for key in sorted(spec.config_names) if key in env}
