"""Spot interruptions are not failures: notice them, and give the job back without spending a retry.

EC2 announces a spot interruption two minutes ahead in the instance metadata
(`spot/instance-action`); a watcher thread polls it (every 5 s, or every
DS_SPOT_NOTICE_POLL_SECONDS, at most 60) and sets the worker's stop flag,
the same flag SIGTERM sets, so the tool is stopped and the attempt recorded as
interrupted.

SQS counts every receive toward the redrive policy (JOB_RETRIES), and a receive
count cannot be lowered. So an interrupted job is sent again as a new message with
the same body, carrying how often it was interrupted and how many attempts it
already had, and only then is the old message deleted: the new message starts with
a receive count of 0, and a crash in between leaves two copies (workers are
idempotent), never none. A job's failed attempts before an interruption are thus
not counted again by the redrive policy: it may get up to JOB_RETRIES more tries.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..outcomes import app_attribute

log = logging.getLogger(__name__)

METADATA_ENV = "DS_INSTANCE_METADATA_URL"  # tests point the watcher at their own server
EC2_METADATA = "http://169.254.169.254"
NOTICE_PATH = "/latest/meta-data/spot/instance-action"
TOKEN_PATH = "/latest/api/token"  # IMDSv2
POLL_SECONDS = 5.0  # AWS's advice; well inside the two minutes' notice
POLL_ENV = "DS_SPOT_NOTICE_POLL_SECONDS"  # another interval (tests notice their notice sooner)
MAX_POLL_SECONDS = 60.0  # half the notice: the job must still be given back in time
INTERRUPTIONS = "ds-interruptions"  # message attributes carried by a re-sent job
EARLIER_ATTEMPTS = "ds-earlier-attempts"


def metadata_url(env: Mapping[str, str] | None = None) -> str | None:
    """Where the instance metadata is: the override, EC2's address inside an ECS task, else None (not on EC2)."""
    env = os.environ if env is None else env
    if env.get(METADATA_ENV):
        return env[METADATA_ENV].rstrip("/")
    return EC2_METADATA if env.get("AWS_EXECUTION_ENV") == "AWS_ECS_EC2" else None


def poll_seconds(env: Mapping[str, str] | None = None) -> float:
    """Seconds between two looks for a notice: DS_SPOT_NOTICE_POLL_SECONDS if set, else POLL_SECONDS."""
    env = os.environ if env is None else env
    text = env.get(POLL_ENV, "").strip()
    if not text:
        return POLL_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_POLL_SECONDS:
        raise ValueError(
            f"environment variable {POLL_ENV}: expected seconds above 0 and at most {MAX_POLL_SECONDS:g}, got {text!r}"
        )
    return seconds


def notice_given(root: str, timeout: float = 2.0) -> bool:
    """True once EC2 has scheduled this instance's interruption (the document exists: HTTP 200)."""
    headers = {}
    try:  # IMDSv2 wants a session token; IMDSv1 answers without one
        request = urllib.request.Request(
            root + TOKEN_PATH, method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            headers["X-aws-ec2-metadata-token"] = answer.read().decode()
    except (urllib.error.URLError, OSError):
        pass
    try:
        with urllib.request.urlopen(urllib.request.Request(root + NOTICE_PATH, headers=headers), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return False  # 404: no interruption scheduled
    except (urllib.error.URLError, OSError):
        return False  # metadata unreachable now: ask again next time


def watch_for_notice(root: str, stop: threading.Event, interval: float = POLL_SECONDS) -> threading.Thread:
    """A daemon thread that sets `stop` when the interruption notice appears, then ends."""

    def watch() -> None:
        while not stop.is_set():
            if notice_given(root):
                log.warning("spot interruption notice: stopping the job and giving it back")
                stop.set()
                return
            stop.wait(interval)

    thread = threading.Thread(target=watch, name="spot-notice", daemon=True)
    thread.start()
    return thread


def carried(message: Mapping[str, Any]) -> tuple[int, int]:
    """(interruptions so far, attempts before this message) that a re-sent message carries; (0, 0) otherwise."""
    attributes = message.get("MessageAttributes", {})

    def number(name: str) -> int:
        try:
            return max(0, int(attributes.get(name, {}).get("StringValue", 0)))
        except (TypeError, ValueError):
            return 0

    return number(INTERRUPTIONS), number(EARLIER_ATTEMPTS)


def give_back(sqs: Any, queue_url: str, message: Mapping[str, Any], attempt: int, app_name: str) -> None:
    """Send the job again as a new message of `app_name` (one more interruption, `attempt` attempts so far),
    then delete this one."""
    interruptions, _ = carried(message)
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=message["Body"],
        MessageAttributes={
            INTERRUPTIONS: {"DataType": "Number", "StringValue": str(interruptions + 1)},
            EARLIER_ATTEMPTS: {"DataType": "Number", "StringValue": str(attempt)},
            **app_attribute(app_name),
        },
    )
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
