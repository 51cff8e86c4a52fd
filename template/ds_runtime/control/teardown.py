"""Tear a run down: the end of `monitor`, and the auto-monitor Lambda's handler.

The fleet is cancelled first (it is what bills), then every other resource is
removed in its own step: a step that fails is reported and the others still run
(DS's Lambda raised before cancelling the fleet and left everything running).
Every step accepts "already gone", so teardown can be repeated safely.

Standard library and boto3 only: the Lambda ships this package without pydantic.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from .wait import WaitTimeout, wait_for

PLAN_ENV = "DS_TEARDOWN_PLAN"
GONE_CODES = (
    "NotFound",
    "NonExistent",
    "ServiceNotActive",
    "ClusterNotFound",
    "ResourceNotFound",
)


@dataclass(frozen=True)
class Plan:
    """What a run created and teardown removes; the monitor file holds it."""

    app_name: str
    region: str
    run_id: str
    fleet_id: str
    cluster: str
    service: str
    task_family: str
    queue_name: str
    dead_letter_queue: str
    bucket: str
    log_groups: list[str]
    start_time_ms: int
    alarm_prefix: str
    dashboard: str = ""  # '' = leave the dashboard
    function_name: str = ""  # the auto-monitor Lambda, if any
    export_logs: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    # DS's monitor file keys, so DS users' scripts that read them keep working.
    def to_monitor(self) -> dict[str, Any]:
        return {
            "MONITOR_FLEET_ID": self.fleet_id,
            "MONITOR_APP_NAME": self.app_name,
            "MONITOR_ECS_CLUSTER": self.cluster,
            "MONITOR_QUEUE_NAME": self.queue_name,
            "MONITOR_BUCKET_NAME": self.bucket,
            "MONITOR_LOG_GROUP_NAME": self.log_groups[0],
            "MONITOR_START_TIME": self.start_time_ms,
            "plan": asdict(self),
        }

    @classmethod
    def from_monitor(cls, data: dict[str, Any]) -> Plan:
        return cls(**data["plan"])


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str


def _gone(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    return any(code in error.get("Code", "") for code in GONE_CODES) or "does not exist" in error.get("Message", "")


class Teardown:
    def __init__(self, plan: Plan, session: boto3.Session, export_timeout: float = 120.0, drain_timeout: float = 60.0):
        self.plan = plan
        self.session = session
        self.export_timeout = export_timeout
        self.drain_timeout = drain_timeout
        self._config = BotoConfig(retries={"max_attempts": 8, "mode": "adaptive"})

    def client(self, service: str) -> Any:
        return self.session.client(service, config=self._config)

    def run(self) -> list[Step]:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("cancel spot fleet", self.cancel_fleet),
            ("stop and delete service", self.delete_service),
            ("deregister task definitions", self.deregister_task_definitions),
            ("delete queue", self.delete_queue),
            ("delete dead-letter queue if empty", self.delete_dead_letter_queue),
            ("delete alarms", self.delete_alarms),
            ("delete dashboard", self.delete_dashboard),
            ("delete cluster if unused", self.delete_cluster),
            ("export logs to S3", self.export_logs),
            ("delete auto-monitor", self.delete_function),
        ]
        results = []
        for name, action in steps:
            try:
                results.append(Step(name, True, action()))
            except Exception as exc:  # one broken step must never stop the others
                results.append(Step(name, False, f"{type(exc).__name__}: {exc}"))
        return results

    # ------------------------------------------------------------ steps

    def cancel_fleet(self) -> str:
        ec2 = self.client("ec2")
        try:
            found = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[self.plan.fleet_id])
        except ClientError as exc:
            if _gone(exc):
                return f"{self.plan.fleet_id} already gone"
            raise
        states = [c["SpotFleetRequestState"] for c in found["SpotFleetRequestConfigs"]]
        if not states or states[0] in ("cancelled", "cancelled_terminating", "failed"):
            return f"{self.plan.fleet_id} already gone"
        answer = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[self.plan.fleet_id], TerminateInstances=True)
        for failed in answer.get("UnsuccessfulFleetRequests", []):
            code = failed.get("Error", {}).get("Code", "")
            if "NotExist" in code or "AlreadyCancelled" in code or "NotFound" in code:
                return f"{self.plan.fleet_id} already gone"
            raise ClientError({"Error": failed.get("Error", {})}, "CancelSpotFleetRequests")
        return f"{self.plan.fleet_id} cancelled, its instances terminating"

    def delete_service(self) -> str:
        ecs = self.client("ecs")
        try:
            ecs.update_service(cluster=self.plan.cluster, service=self.plan.service, desiredCount=0)
            ecs.delete_service(cluster=self.plan.cluster, service=self.plan.service, force=True)
        except ClientError as exc:
            if _gone(exc):
                return f"{self.plan.service} already gone"
            raise
        return f"{self.plan.service} deleted"

    def deregister_task_definitions(self) -> str:
        ecs = self.client("ecs")
        arns = [
            arn
            for page in ecs.get_paginator("list_task_definitions").paginate(
                familyPrefix=self.plan.task_family, status="ACTIVE"
            )
            for arn in page["taskDefinitionArns"]
            # familyPrefix is a prefix: keep only this exact family
            if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == self.plan.task_family
        ]
        for arn in arns:
            ecs.deregister_task_definition(taskDefinition=arn)
        return f"{len(arns)} revision(s) of {self.plan.task_family} deregistered"

    def _queue_url(self, name: str) -> str | None:
        try:
            return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if _gone(exc):
                return None
            raise

    def delete_queue(self) -> str:
        url = self._queue_url(self.plan.queue_name)
        if url is None:
            return f"{self.plan.queue_name} already gone"
        self.client("sqs").delete_queue(QueueUrl=url)
        return f"{self.plan.queue_name} deleted"

    def delete_dead_letter_queue(self) -> str:
        url = self._queue_url(self.plan.dead_letter_queue)
        if url is None:
            return f"{self.plan.dead_letter_queue} already gone"
        sqs = self.client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        failed = sum(int(attrs.get(n, 0)) for n in names)
        if failed:
            # Failed jobs are the user's evidence: keep them (a queue costs nothing idle).
            return f"kept {self.plan.dead_letter_queue}: it holds {failed} failed job(s) to inspect"
        sqs.delete_queue(QueueUrl=url)
        return f"{self.plan.dead_letter_queue} was empty, deleted"

    def delete_alarms(self) -> str:
        cloudwatch = self.client("cloudwatch")
        names = [
            alarm["AlarmName"]
            for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=self.plan.alarm_prefix)
            for alarm in page["MetricAlarms"] + page.get("CompositeAlarms", [])
        ]
        for start in range(0, len(names), 100):  # DeleteAlarms takes 100 names at most
            cloudwatch.delete_alarms(AlarmNames=names[start : start + 100])
        return f"{len(names)} alarm(s) deleted"

    def delete_dashboard(self) -> str:
        if not self.plan.dashboard:
            return "kept (CLEAN_DASHBOARD is False, or no dashboard)"
        try:
            self.client("cloudwatch").delete_dashboards(DashboardNames=[self.plan.dashboard])
        except ClientError as exc:
            if _gone(exc):
                return f"{self.plan.dashboard} already gone"
            raise
        return f"{self.plan.dashboard} deleted"

    def delete_cluster(self) -> str:
        if self.plan.cluster == "default":
            return "kept: the default cluster is never deleted"
        ecs = self.client("ecs")
        found = ecs.describe_clusters(clusters=[self.plan.cluster])["clusters"]
        if not found or found[0]["status"] == "INACTIVE":
            return f"{self.plan.cluster} already gone"
        with contextlib.suppress(WaitTimeout):  # a deleted service drains a moment before the cluster can go
            wait_for(
                lambda: "DRAINING" not in self._live_services().values(),
                what="services to finish draining",
                timeout=self.drain_timeout,
            )
        busy = {
            "service(s)": list(self._live_services()),
            "task(s)": ecs.list_tasks(cluster=self.plan.cluster)["taskArns"],
            "machine(s)": ecs.list_container_instances(cluster=self.plan.cluster, status="ACTIVE")[
                "containerInstanceArns"
            ],
        }
        in_use = ", ".join(f"{len(v)} {k}" for k, v in busy.items() if v)
        if in_use:
            return f"kept {self.plan.cluster}: still has {in_use} (an empty cluster costs nothing)"
        ecs.delete_cluster(cluster=self.plan.cluster)
        return f"{self.plan.cluster} deleted"

    def _live_services(self) -> dict[str, str]:
        """ARN -> status of the cluster's services that are not INACTIVE yet."""
        ecs = self.client("ecs")
        arns = ecs.list_services(cluster=self.plan.cluster)["serviceArns"]
        live = {}
        for start in range(0, len(arns), 10):  # DescribeServices takes 10 at most
            found = ecs.describe_services(cluster=self.plan.cluster, services=arns[start : start + 10])["services"]
            live.update({s["serviceArn"]: s["status"] for s in found if s["status"] != "INACTIVE"})
        return live

    def export_logs(self) -> str:
        if not self.plan.export_logs:
            return "skipped"
        logs = self.client("logs")
        now_ms = int(time.time() * 1000)
        exported = []
        for group in self.plan.log_groups:
            if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
                continue
            task = logs.create_export_task(
                taskName=f"{self.plan.app_name}-{self.plan.run_id}",
                logGroupName=group,
                fromTime=self.plan.start_time_ms,
                to=now_ms,
                destination=self.plan.bucket,
                destinationPrefix=f"exportedlogs/{group.strip('/')}/{self.plan.run_id}",
            )["taskId"]
            # An account runs one export at a time: wait for this one before the next.
            wait_for(
                lambda task=task: _export_done(logs, task),
                what=f"log export of {group}",
                timeout=self.export_timeout,
            )
            exported.append(group)
        if not exported:
            return "no log groups to export"
        return f"{', '.join(exported)} -> s3://{self.plan.bucket}/exportedlogs/"

    def delete_function(self) -> str:
        if not self.plan.function_name:
            return "none (AUTO_MONITOR was off)"
        try:
            self.client("lambda").delete_function(FunctionName=self.plan.function_name)
        except ClientError as exc:
            if _gone(exc):
                return f"{self.plan.function_name} already gone"
            raise
        return f"{self.plan.function_name} deleted"


def _export_done(logs: Any, task_id: str) -> bool:
    tasks = logs.describe_export_tasks(taskId=task_id)["exportTasks"]
    code = tasks[0]["status"]["code"] if tasks else "COMPLETED"
    if code in ("FAILED", "CANCELLED"):
        raise WaitTimeout(f"log export {task_id} ended {code}: {tasks[0]['status'].get('message', '')}")
    return code == "COMPLETED"


def report(steps: list[Step]) -> Iterator[str]:
    for step in steps:
        yield f"{'ok ' if step.ok else 'FAILED'} {step.name}: {step.detail}"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The auto-monitor: a CloudWatch alarm (queue empty) invokes it; the plan is in its environment."""
    plan = Plan(**json.loads(os.environ[PLAN_ENV]))
    steps = Teardown(plan, boto3.Session(region_name=plan.region)).run()
    lines = list(report(steps))
    print("\n".join(lines))  # lands in the function's CloudWatch log
    return {"ok": all(s.ok for s in steps), "steps": lines}
