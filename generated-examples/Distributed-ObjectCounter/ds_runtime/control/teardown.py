"""Tear a run down: the end of `monitor`, and the auto-monitor Lambda's handler.

The fleet is cancelled first and the run's on-demand machines terminated (they are
what bills), then every other resource is
removed in its own step: a step that fails is reported and the others still run
(DS's Lambda raised before cancelling the fleet and left everything running).
Every step accepts "already gone", so teardown can be repeated safely.

Standard library and boto3 only: the Lambda ships this package without pydantic.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from ..aws import queue_load
from .wait import WaitTimeout, wait_for

EXPORT_PREFIX = "exportedlogs"  # where the run's logs go in its bucket (setupAccount's bucket policy allows it)

PLAN_ENV = "DS_TEARDOWN_PLAN"
CHECK_CAPS = {"ds_check": "caps"}  # the scheduled event's input: check the caps, tear down only if reached
LIVE_INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
# The tag `monitor` puts on the on-demand machines it starts (fleet.py), beside the run's ds:app and ds:run.
ON_DEMAND_TAG = {"Key": "ds:capacity", "Value": "on-demand"}
# EC2's StateTransitionReason of a terminated machine, e.g. "User initiated (2024-05-01 12:00:00 GMT)".
_ENDED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) GMT\)")
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
    # Caps (config.py MAX_COST, MAX_HOURS; 0 = none) and the price they are counted at.
    max_cost: float = 0.0
    max_hours: float = 0.0
    price_per_hour: float = 0.0  # dollars per machine-hour when the run started
    price_source: str = ""  # where that price came from, in words
    schedule_rule: str = ""  # the EventBridge rule that has the auto-monitor check the caps
    # The on-demand fallback (config.py ON_DEMAND_AFTER_INTERRUPTIONS; 0 = off) and what its machines are
    # counted at (0 = unknown: at price_per_hour, which is then too low).
    on_demand_after: int = 0
    on_demand_price_per_hour: float = 0.0
    on_demand_price_source: str = ""

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


@dataclass(frozen=True)
class Spend:
    """What a run has used so far: wall-clock hours since it started and its machines' hours."""

    hours: float
    machine_hours: float  # every machine's, the on-demand ones' included
    price_per_hour: float
    on_demand_machine_hours: float = 0.0
    on_demand_price_per_hour: float = 0.0  # 0: unknown, counted at price_per_hour

    @property
    def dollars(self) -> float:
        spot = self.machine_hours - self.on_demand_machine_hours
        on_demand_price = self.on_demand_price_per_hour or self.price_per_hour
        return spot * self.price_per_hour + self.on_demand_machine_hours * on_demand_price

    def words(self, price_source: str, on_demand_source: str) -> str:
        """How the dollars were counted, e.g. '3.00 machine-hours at $0.0400/h (spot price ...)'."""
        spot = self.machine_hours - self.on_demand_machine_hours
        text = f"{spot:.2f} machine-hours at ${self.price_per_hour:.4f}/h ({price_source})"
        if self.on_demand_machine_hours:
            price = self.on_demand_price_per_hour or self.price_per_hour
            source = on_demand_source if self.on_demand_price_per_hour else "price unknown: counted at the spot price"
            text += f" + {self.on_demand_machine_hours:.2f} on-demand machine-hours at ${price:.4f}/h ({source})"
        return text


def _ended(instance: dict[str, Any], now: float) -> float:
    if instance["State"]["Name"] in LIVE_INSTANCE_STATES:
        return now
    found = _ENDED_AT.search(instance.get("StateTransitionReason", ""))
    if found is None:
        return now  # unknown end: count it as still running (never too low)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def spend(plan: Plan, session: boto3.Session, now: float | None = None) -> Spend:
    """Hours and machine-hours of the run so far, from the run's machines as EC2 lists them.

    A machine counts from its launch to its termination (or to now while it lives).
    EC2 forgets terminated machines after about an hour, so late in a long run the
    figure can miss machines that were stopped early; MAX_HOURS is the exact bound.
    """
    now = time.time() if now is None else now
    ec2 = session.client("ec2")
    machine_seconds = on_demand_seconds = 0.0
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:ds:run", "Values": [plan.run_id]}, {"Name": "tag:ds:app", "Values": [plan.app_name]}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                seconds = max(0.0, _ended(instance, now) - instance["LaunchTime"].timestamp())
                machine_seconds += seconds
                if ON_DEMAND_TAG in instance.get("Tags", []):
                    on_demand_seconds += seconds
    hours = max(0.0, now - plan.start_time_ms / 1000) / 3600
    return Spend(
        hours, machine_seconds / 3600, plan.price_per_hour, on_demand_seconds / 3600, plan.on_demand_price_per_hour
    )


def cap_reached(plan: Plan, used: Spend) -> str:
    """Why the run must stop now, in plain words; '' while no cap is reached."""
    if plan.max_hours and used.hours >= plan.max_hours:
        return (
            f"MAX_HOURS = {plan.max_hours:g} reached: the run started {used.hours:.2f} h ago. "
            "The fleet is cancelled and the run torn down; jobs not done are not lost for good: "
            "submit the Job file again (with CHECK_IF_DONE_BOOL = True, finished jobs are skipped)."
        )
    if plan.max_cost and used.dollars >= plan.max_cost:
        return (
            f"MAX_COST = ${plan.max_cost:g} reached: {used.words(plan.price_source, plan.on_demand_price_source)} "
            f"= ${used.dollars:.2f} so far. "
            "The fleet is cancelled and the run torn down; submit the Job file again to finish "
            "(with CHECK_IF_DONE_BOOL = True, finished jobs are skipped)."
        )
    return ""


def check_caps(plan: Plan, session: boto3.Session, now: float | None = None) -> str:
    """cap_reached for the run as it is now; '' at once if the run has no caps."""
    if not plan.max_cost and not plan.max_hours:
        return ""
    return cap_reached(plan, spend(plan, session, now))


def run_steps(steps: list[tuple[str, Callable[[], str]]]) -> list[Step]:
    """Each step in turn; one that fails is reported and the others still run."""
    results = []
    for name, action in steps:
        try:
            results.append(Step(name, True, action()))
        except Exception as exc:  # one broken step must never stop the others
            results.append(Step(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def _gone(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    return any(code in error.get("Code", "") for code in GONE_CODES) or "does not exist" in error.get("Message", "")


def _remove(what: str, action: Callable[[], object]) -> str:
    """Run one delete; a resource already gone counts as removed, so teardown can be repeated."""
    try:
        action()
    except ClientError as exc:
        if _gone(exc):
            return f"{what} already gone"
        raise
    return f"{what} deleted"


class Teardown:
    """The steps that remove a run. `reason` (e.g. a cap reached) opens the report;
    `keep_failed=False` (cleanup) deletes the dead-letter queue even when it holds jobs."""

    def __init__(
        self,
        plan: Plan,
        session: boto3.Session,
        export_timeout: float = 120.0,
        drain_timeout: float = 60.0,
        reason: str = "",
        keep_failed: bool = True,
    ):
        self.plan = plan
        self.session = session
        self.export_timeout = export_timeout
        self.drain_timeout = drain_timeout
        self.reason = reason
        self.keep_failed = keep_failed
        self._config = BotoConfig(retries={"max_attempts": 8, "mode": "adaptive"})

    def client(self, service: str) -> Any:
        return self.session.client(service, config=self._config)

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        """(name, action) in order: the fleet first, since it is what bills."""
        return [
            ("cancel spot fleet", self.cancel_fleet),
            ("terminate on-demand machines", self.terminate_on_demand),
            ("stop and delete service", self.delete_service),
            ("deregister task definitions", self.deregister_task_definitions),
            ("delete queue", self.delete_queue),
            ("delete dead-letter queue if empty", self.delete_dead_letter_queue),
            ("delete alarms", self.delete_alarms),
            ("delete dashboard", self.delete_dashboard),
            ("delete cluster if unused", self.delete_cluster),
            ("export logs to S3", self.export_logs),
            ("delete cap schedule", self.delete_schedule),
            ("delete auto-monitor", self.delete_function),
        ]

    def run(self) -> list[Step]:
        return ([Step(REASON_STEP, True, self.reason)] if self.reason else []) + run_steps(self.steps())

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

    def terminate_on_demand(self) -> str:
        """The machines the on-demand fallback started for this run, found by their tags."""
        if not self.plan.on_demand_after:
            return "none (ON_DEMAND_AFTER_INTERRUPTIONS was 0)"
        ec2 = self.client("ec2")
        pages = ec2.get_paginator("describe_instances").paginate(Filters=on_demand_filters(self.plan))
        ids = [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]
        for start in range(0, len(ids), 500):  # a safe batch for TerminateInstances
            ec2.terminate_instances(InstanceIds=ids[start : start + 500])
        return f"{len(ids)} terminating" if ids else "none running"

    def delete_service(self) -> str:
        ecs, cluster, service = self.client("ecs"), self.plan.cluster, self.plan.service

        def stop_and_delete() -> None:
            ecs.update_service(cluster=cluster, service=service, desiredCount=0)
            ecs.delete_service(cluster=cluster, service=service, force=True)

        return _remove(service, stop_and_delete)

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
        return _remove(self.plan.queue_name, lambda: self.client("sqs").delete_queue(QueueUrl=url))

    def delete_dead_letter_queue(self) -> str:
        url = self._queue_url(self.plan.dead_letter_queue)
        if url is None:
            return f"{self.plan.dead_letter_queue} already gone"
        sqs = self.client("sqs")
        users = [
            u.rsplit("/", 1)[-1]
            for u in sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
            if u.rsplit("/", 1)[-1] != self.plan.queue_name  # ours is being deleted
        ]
        if users:  # DS configs often share one dead-letter queue between apps
            return f"kept {self.plan.dead_letter_queue}: still the dead-letter queue of {', '.join(sorted(users))}"
        failed = queue_load(sqs, url).total
        if failed and self.keep_failed:
            # Failed jobs are the user's evidence: keep them (a queue costs nothing idle).
            return f"kept {self.plan.dead_letter_queue}: it holds {failed} failed job(s) to inspect"
        sqs.delete_queue(QueueUrl=url)
        if failed:
            return f"{self.plan.dead_letter_queue} deleted with its {failed} failed job(s)"
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
        cloudwatch = self.client("cloudwatch")
        return _remove(self.plan.dashboard, lambda: cloudwatch.delete_dashboards(DashboardNames=[self.plan.dashboard]))

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
                destinationPrefix=f"{EXPORT_PREFIX}/{group.strip('/')}/{self.plan.run_id}",
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
        return f"{', '.join(exported)} -> s3://{self.plan.bucket}/{EXPORT_PREFIX}/"

    def delete_schedule(self) -> str:
        if not self.plan.schedule_rule:
            return "none (no caps, or AUTO_MONITOR was off)"
        events, rule = self.client("events"), self.plan.schedule_rule

        def untarget_and_delete() -> None:
            targets = events.list_targets_by_rule(Rule=rule)["Targets"]
            if targets:
                events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
            events.delete_rule(Name=rule)

        return _remove(rule, untarget_and_delete)

    def delete_function(self) -> str:
        if not self.plan.function_name:
            return "none (AUTO_MONITOR was off)"
        functions = self.client("lambda")
        return _remove(self.plan.function_name, lambda: functions.delete_function(FunctionName=self.plan.function_name))


def on_demand_filters(plan: Plan, states: tuple[str, ...] = LIVE_INSTANCE_STATES) -> list[dict[str, Any]]:
    """DescribeInstances filters for the run's live on-demand machines."""
    return [
        {"Name": "tag:ds:app", "Values": [plan.app_name]},
        {"Name": "tag:ds:run", "Values": [plan.run_id]},
        {"Name": f"tag:{ON_DEMAND_TAG['Key']}", "Values": [ON_DEMAND_TAG["Value"]]},
        {"Name": "instance-state-name", "Values": list(states)},
    ]


def _export_done(logs: Any, task_id: str) -> bool:
    tasks = logs.describe_export_tasks(taskId=task_id)["exportTasks"]
    code = tasks[0]["status"]["code"] if tasks else "COMPLETED"
    if code in ("FAILED", "CANCELLED"):
        raise WaitTimeout(f"log export {task_id} ended {code}: {tasks[0]['status'].get('message', '')}")
    return code == "COMPLETED"


REASON_STEP = "why"


def report(steps: list[Step]) -> Iterator[str]:
    for step in steps:
        if step.name == REASON_STEP:
            yield f"STOPPED: {step.detail}"
        else:
            yield f"{'ok ' if step.ok else 'FAILED'} {step.name}: {step.detail}"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The auto-monitor; the plan is in its environment.

    Invoked by the CloudWatch alarm (queue empty): tear down. Invoked by the
    schedule with CHECK_CAPS as input: tear down only if MAX_COST or MAX_HOURS is reached.
    """
    plan = Plan(**json.loads(os.environ[PLAN_ENV]))
    session = boto3.Session(region_name=plan.region)
    reason = ""
    if isinstance(event, dict) and event.get("ds_check") == CHECK_CAPS["ds_check"]:
        reason = check_caps(plan, session)
        if not reason:
            print(f"{plan.app_name} run {plan.run_id}: caps not reached")
            return {"ok": True, "steps": [], "stopped": False}
    steps = Teardown(plan, session, reason=reason).run()
    lines = list(report(steps))
    print("\n".join(lines))  # lands in the function's CloudWatch log
    return {"ok": all(s.ok for s in steps), "steps": lines, "stopped": True, "reason": reason}
