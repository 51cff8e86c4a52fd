"""Which failures can never pass, and sending those jobs to the dead-letter queue at once.

Permanent: the job's inputs are missing (S3 NoSuchKey/404, an empty input prefix), its
input list is unusable or no row matches its group, its values are refused by the tool
spec, or its outputs would replace another job's. Retrying those only spends machine
time, so the worker records the outcome and moves the message to the dead-letter queue
with the reason in a message attribute (`retryFailed` still puts it back). Everything
else (network, throttling, a killed machine, a nonzero tool exit) is transient and keeps
the queue's retries.
"""

from __future__ import annotations

import json
from typing import Any

from ..bucket_names import BucketError
from ..outcomes import REASON_ATTRIBUTE, app_attribute
from ..spec import JobError

MAX_REASON = 1000  # SQS attributes count against the 256 KiB message limit: keep them short


class Permanent(Exception):
    """Mixed into an error class: this failure cannot pass on a retry."""


def is_permanent(exc: BaseException) -> bool:
    """Refused values (JobError, BucketError) and errors marked Permanent; anything else may pass later."""
    return isinstance(exc, (Permanent, JobError, BucketError))


_DEAD_LETTER_URLS: dict[str, str] = {}  # queue URL -> its dead-letter queue's URL, for this process


def dead_letter_url(sqs: Any, queue_url: str) -> str:
    """The dead-letter queue behind `queue_url`, read once from its redrive policy (no extra setting needed)."""
    if queue_url in _DEAD_LETTER_URLS:
        return _DEAD_LETTER_URLS[queue_url]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
    *_, account, name = arn.split(":")
    url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    _DEAD_LETTER_URLS[queue_url] = url
    return url


def send_to_dead_letters(sqs: Any, queue_url: str, body: str, receipt: str, reason: str, app_name: str) -> None:
    """Send first (as `app_name`'s message), delete after: a crash in between leaves the job in both queues,
    never in neither."""
    sqs.send_message(
        QueueUrl=dead_letter_url(sqs, queue_url),
        MessageBody=body,
        MessageAttributes={
            REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:MAX_REASON] or "-"},
            **app_attribute(app_name),
        },
    )
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
