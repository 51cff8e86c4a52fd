"""What every command needs: the checked config, the tool spec, one AWS session, the backend, names and tags."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from rich.console import Console
from rich.text import Text

from ...aws import RETRIES, QueueLoad, make_session, queue_load
from ...config import DSConfig
from ...spec import ToolSpec

# Errors worth a retry or a plain report, rather than a traceback. An unparseable answer
# (e.g. an HTTP 500 page) is not a BotoCoreError.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)


class CommandError(RuntimeError):
    """A command cannot go on; the message says why and what to do."""


def warning(text: str) -> Text:
    """A warning line: its label styled, its text as it is (values are never read as Rich markup)."""
    return Text.assemble(("warning:", "bold yellow"), f" {text}")


def error_code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


@dataclass(frozen=True)
class PinnedImage:
    """The image a run's tasks run, as setup pins it (pinned_image.py)."""

    reference: str  # what the task definition names and DS_IMAGE holds: repo@sha256:..., or local mode's own
    how: str  # where it came from, in words, for setup's line


class Backend(Protocol):
    """What really differs between running the commands on AWS and on the local emulator.

    The entry point (ds_runtime/entry.py) picks one; the commands ask it what they need
    to know, never which one it is. AwsBackend is below; LocalBackend is in ds_runtime/local.
    """

    name: str  # where the run happens, as the report says: "AWS" or "local mode"
    spends_money: bool  # its machines are billed: ask before starting them, count their real spend
    accepts_stand_ins: bool  # a Fleet file's stand-in ids and key names may stay (no real subnets or key pairs)
    places_on_machine_types: bool  # ECS places the tasks on MACHINE_TYPE machines, where they must fit
    run_py: str  # how a user runs a command here, for next-step hints: "python run.py [--local]"

    def session(self, region: str) -> boto3.Session:
        """The session every client of the command comes from."""
        ...

    def check_tasks(self, config: DSConfig) -> None:
        """Before anything starts: CommandError if the worker tasks could not be started."""

    def prepare(self, ctx: Context) -> None:
        """Before a command: what a user of AWS has made once, by hand or with setupAccount."""

    def own_image(self, ctx: Context) -> PinnedImage | None:
        """setup: what the tasks run, pinned, when not DOCKERHUB_TAG from its registry (local mode's processes or
        built image); None: DOCKERHUB_TAG, by the digest its registry holds (pinned_image.py)."""
        ...

    def start_tasks(self, ctx: Context, run_id: str) -> None:
        """Once startCluster's fleet is up and the ECS service wants its tasks: start what ECS would not."""

    def end_run(self, ctx: Context, drained: bool) -> None:
        """After monitor (`drained`: the queue emptied): stop what the run left running here."""


@dataclass(frozen=True)
class AwsBackend:
    """AWS itself: ECS starts and stops the tasks, and setupAccount made the roles."""

    profile: str | None = None  # config.py's AWS_PROFILE, resolved (None: the default chain)
    name = "AWS"
    spends_money = True
    accepts_stand_ins = False
    places_on_machine_types = True
    run_py = "python run.py"

    def session(self, region: str) -> boto3.Session:
        return make_session(self.profile, region)

    def check_tasks(self, config: DSConfig) -> None:
        pass  # ECS's service starts them on the fleet's machines

    def prepare(self, ctx: Context) -> None:
        pass  # the buckets are the user's, the roles setupAccount's

    def own_image(self, ctx: Context) -> PinnedImage | None:
        return None  # ECS pulls DOCKERHUB_TAG from its registry

    def start_tasks(self, ctx: Context, run_id: str) -> None:
        pass

    def end_run(self, ctx: Context, drained: bool) -> None:
        pass  # monitor's teardown removed everything


@dataclass
class Context:
    config: DSConfig
    spec: ToolSpec
    session: boto3.Session
    console: Console = field(default_factory=Console)
    backend: Backend = field(default_factory=AwsBackend)
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

    # The auto-monitor's (automonitor.py): exact names, by which teardown, cleanup and the policies find them.
    @property
    def monitor_function(self) -> str:
        return f"{self.config.APP_NAME}-teardown"

    @property
    def cap_rule(self) -> str:
        return f"{self.config.APP_NAME}-caps"

    @property
    def queue_empty_alarm(self) -> str:
        return f"{self.config.APP_NAME}-queue-empty"

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
