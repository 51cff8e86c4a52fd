"""`run.py setup`: queues, ECS cluster, task definition and service (desired count 0).

The task definition names the image by digest (pinned_image.py), never by a tag that may
move, and gives the worker the same reference as DS_IMAGE. Idempotent: each resource is
compared with what config.py asks for and only created or changed where it differs; a
second run reports "unchanged" for all.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ...worker_settings import WorkerSettings
from ..common.context import CommandError, Context
from ..common.wait import wait_for
from ..machines.pinned_image import pin, registered_task_definition
from ..resources.account import role_name

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the longest SQS allows: time to look at failed jobs


def setup(ctx: Context) -> int:
    task_role = _require_task_role(ctx)  # checked before anything is created
    image = ctx.backend.own_image(ctx) or pin(ctx)  # so is the image: an unpushed tag creates nothing
    # One line, never wrapped: the pinned reference is copied from it.
    ctx.console.print(f"image {ctx.config.DOCKERHUB_TAG}: {image.reference} ({image.how})", soft_wrap=True)
    dlq_url = _ensure_queue(ctx, ctx.config.SQS_DEAD_LETTER_QUEUE, {"MessageRetentionPeriod": DLQ_RETENTION_SECONDS})
    queue_url = _ensure_queue(
        ctx,
        ctx.config.SQS_QUEUE_NAME,
        {
            "VisibilityTimeout": ctx.config.SQS_MESSAGE_VISIBILITY,
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": _queue_arn(ctx, dlq_url), "maxReceiveCount": ctx.config.JOB_RETRIES},
                separators=(",", ":"),
            ),
        },
    )
    _ensure_cluster(ctx)
    task_definition = _ensure_task_definition(ctx, task_definition_spec(ctx, queue_url, task_role, image.reference))
    _ensure_service(ctx, task_definition)
    return 0


def _say(ctx: Context, what: str, state: str) -> None:
    ctx.console.print(f"{what}: {state}")


def _require_task_role(ctx: Context) -> str:
    iam = ctx.client("iam")
    name = role_name(ctx, "task")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        raise CommandError(
            f"IAM role {name} (the containers' AWS access) does not exist; run `python run.py setupAccount` once"
        ) from None


# ---------------------------------------------------------------- queues


def _queue_arn(ctx: Context, url: str) -> str:
    return ctx.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _ensure_queue(ctx: Context, name: str, wanted: dict[str, Any]) -> str:
    sqs = ctx.client("sqs")
    wanted = {k: str(v) for k, v in wanted.items()}
    url = ctx.queue_url(name)
    if url is None:
        url = sqs.create_queue(QueueName=name, Attributes=wanted, tags=ctx.tags())["QueueUrl"]
        _say(ctx, f"queue {name}", "created")
        return url
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    changed = {k: v for k, v in wanted.items() if _normal(k, current.get(k)) != _normal(k, v)}
    if changed:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
        _say(ctx, f"queue {name}", f"updated {', '.join(sorted(changed))}")
    else:
        _say(ctx, f"queue {name}", "unchanged")
    return url


def _normal(key: str, value: str | None) -> Any:
    # SQS may hand back the redrive policy with other spacing or number types.
    if key == "RedrivePolicy" and value:
        policy = json.loads(value)
        return {k: str(v) for k, v in policy.items()}
    return value


# ---------------------------------------------------------------- cluster


def _cluster_status(ctx: Context) -> str | None:
    found = ctx.client("ecs").describe_clusters(clusters=[ctx.config.ECS_CLUSTER])["clusters"]
    return found[0]["status"] if found else None


def _ensure_cluster(ctx: Context) -> None:
    name = ctx.config.ECS_CLUSTER
    if _cluster_status(ctx) == "ACTIVE":
        _say(ctx, f"cluster {name}", "unchanged")
        return
    ctx.client("ecs").create_cluster(clusterName=name, tags=ctx.tag_list(key="key", value="value"))
    # DS slept 60 s here; poll instead.
    wait_for(lambda: _cluster_status(ctx) == "ACTIVE", what=f"cluster {name} to be active", timeout=120)
    _say(ctx, f"cluster {name}", "created")


# ---------------------------------------------------------------- task definition


def worker_environment(ctx: Context, queue_url: str, image: str) -> list[dict[str, str]]:
    """The container's environment: WorkerSettings plus the tool's own config keys. No credentials.

    `image`: the pinned image the task definition names, which the worker records in its outcomes."""
    c = ctx.config
    settings = WorkerSettings(
        app_name=c.APP_NAME,
        queue_url=queue_url,
        bucket=c.AWS_BUCKET,
        region=c.AWS_REGION,
        log_group=c.LOG_GROUP_NAME,
        visibility_timeout=c.SQS_MESSAGE_VISIBILITY,
        check_if_done=c.CHECK_IF_DONE_BOOL,
        expected_number_files=c.EXPECTED_NUMBER_FILES,
        min_file_size_bytes=c.MIN_FILE_SIZE_BYTES,
        necessary_string=c.NECESSARY_STRING,
        docker_cores=c.DOCKER_CORES,
        seconds_to_start=c.SECONDS_TO_START,
        job_timeout_seconds=c.JOB_TIMEOUT or 0,
        image=image,
    )
    env = settings.to_env()
    for key, value in c.extra_text().items():
        env.setdefault(key, value)
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def task_definition_spec(ctx: Context, queue_url: str, task_role_arn: str, image: str) -> dict[str, Any]:
    """The task definition setup registers; `image` by digest (pinned_image.py), never a tag that may move."""
    c = ctx.config
    container: dict[str, Any] = {
        "name": f"{c.APP_NAME}Container",
        "image": image,
        "cpu": c.CPU_SHARES,
        "memory": c.MEMORY,
        "essential": True,
        "privileged": ctx.spec.needs_fuse,  # only a FUSE mount needs it
        "environment": worker_environment(ctx, queue_url, image),
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": ctx.instance_log_group,  # the jobs' own logs go to LOG_GROUP_NAME
                "awslogs-region": c.AWS_REGION,
                "awslogs-stream-prefix": c.APP_NAME,
            },
        },
    }
    if ctx.spec.gpus:  # the ECS agent gives the container that many of the machine's GPUs, each to one container
        container["resourceRequirements"] = [{"type": "GPU", "value": str(ctx.spec.gpus)}]
    return {
        "family": ctx.task_family,
        "taskRoleArn": task_role_arn,
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [container],
    }


def _matches(wanted: Any, actual: Any) -> bool:
    """True if every value we set is what AWS holds (AWS adds defaults of its own)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(_matches(v, actual.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(wanted) == len(actual) and all(map(_matches, wanted, actual))
    return wanted == actual or (wanted is False and actual is None)


def _ensure_task_definition(ctx: Context, wanted: dict[str, Any]) -> str:
    ecs = ctx.client("ecs")
    current = registered_task_definition(ctx)
    if current is not None and current.get("status") == "ACTIVE":
        env = current["containerDefinitions"][0].get("environment", [])
        current["containerDefinitions"][0]["environment"] = sorted(env, key=lambda e: e["name"])
        if _matches(wanted, current):
            _say(ctx, f"task definition {ctx.task_family}", f"unchanged (revision {current['revision']})")
            return current["taskDefinitionArn"]
    registered = ecs.register_task_definition(**wanted, tags=ctx.tag_list(key="key", value="value"))["taskDefinition"]
    _say(ctx, f"task definition {ctx.task_family}", f"registered revision {registered['revision']}")
    return registered["taskDefinitionArn"]


# ---------------------------------------------------------------- service


def _ensure_service(ctx: Context, task_definition: str) -> None:
    ecs = ctx.client("ecs")
    name, cluster = ctx.service_name, ctx.config.ECS_CLUSTER
    found = ecs.describe_services(cluster=cluster, services=[name])["services"]
    active = [s for s in found if s["status"] == "ACTIVE"]
    if not active:
        ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=task_definition,
            desiredCount=0,  # startCluster raises it once machines are asked for
            launchType="EC2",
            tags=ctx.tag_list(key="key", value="value"),
        )
        _say(ctx, f"service {name}", "created (0 tasks until startCluster)")
    elif active[0]["taskDefinition"] != task_definition:
        ecs.update_service(cluster=cluster, service=name, taskDefinition=task_definition)
        _say(ctx, f"service {name}", "updated to the new task definition")
    else:
        _say(ctx, f"service {name}", "unchanged")


def run_setup(ctx: Context, args: argparse.Namespace) -> int:
    return setup(ctx)
