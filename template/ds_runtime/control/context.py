"""What every command needs: the checked config, the tool spec, one AWS session, names and tags."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from rich.console import Console

from ..aws import RETRIES, QueueLoad, queue_load
from ..config import DSConfig
from ..spec import ToolSpec

# Errors worth a retry or a plain report, rather than a traceback. An unparseable answer
# (e.g. an HTTP 500 page) is not a BotoCoreError.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)


class CommandError(RuntimeError):
    """A command cannot go on; the message says why and what to do."""


def error_code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


@dataclass
class Context:
    config: DSConfig
    spec: ToolSpec
    session: boto3.Session
    console: Console = field(default_factory=Console)
    local: bool = False  # served by the local emulator (ds_runtime.local), not AWS
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ clients

    def client(self, service: str) -> Any:
        """One client per service, all from the session (boto3 clients are thread-safe)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=RETRIES)
        return self._clients[service]

    @functools.cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    # ------------------------------------------------------------ names

    @property
    def service_name(self) -> str:
        return f"{self.config.APP_NAME}Service"

    @property
    def task_family(self) -> str:
        return f"{self.config.APP_NAME}Task"

    @property
    def dashboard_name(self) -> str:
        return self.config.APP_NAME

    @property
    def instance_log_group(self) -> str:
        """DS's group for the containers' own output (startup steps, the worker loop); jobs log to LOG_GROUP_NAME."""
        return f"{self.config.LOG_GROUP_NAME}_perInstance"

    @property
    def log_groups(self) -> list[str]:
        return [self.config.LOG_GROUP_NAME, self.instance_log_group]

    def role_arn(self, role: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{role}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.config.AWS_REGION}:{self.account_id}:{name}"

    def queue_url(self, name: str) -> str | None:
        """The queue's URL, or None if it does not exist."""
        try:
            return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if "NonExistentQueue" in error_code(exc):
                return None
            raise

    def queue_load(self, name: str) -> QueueLoad | None:
        """The named queue's counts, or None if it does not exist."""
        url = self.queue_url(name)
        return None if url is None else queue_load(self.client("sqs"), url)

    def require_queue(self) -> str:
        url = self.queue_url(self.config.SQS_QUEUE_NAME)
        if url is None:
            raise CommandError(
                f"queue {self.config.SQS_QUEUE_NAME} does not exist in {self.config.AWS_REGION}; "
                "run `python run.py setup` first"
            )
        return url

    # ------------------------------------------------------------ tags

    def tags(self, run_id: str | None = None) -> dict[str, str]:
        tags = {"ds:app": self.config.APP_NAME}
        if run_id:
            tags["ds:run"] = run_id
        return tags

    def name_tag(self) -> dict[str, str]:
        """DS's Name tag of a worker machine."""
        return {"Key": "Name", "Value": f"{self.config.APP_NAME}Worker"}

    def tag_list(self, run_id: str | None = None, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
        """Tags as [{'Key': k, 'Value': v}]; ECS spells them key/value."""
        return [{key: k, value: v} for k, v in self.tags(run_id).items()]
