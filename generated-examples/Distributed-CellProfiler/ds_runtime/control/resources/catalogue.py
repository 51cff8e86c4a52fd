"""The AWS resources a run creates: one entry per kind, each with how to find it and how to delete it.

Teardown (one run, from its record) runs every entry's `delete` as a step; cleanup (all of
an app, with a record made from config.py) lists every entry's `find` and then deletes
them, the same way. Each name comes from the run record (run_record.RunRecord), which config.py and
Context's names filled in. "Already gone" is decided in one place (`gone`), so a repeated
teardown or cleanup reports what is gone rather than failing.

Standard library and boto3 only: the auto-monitor Lambda ships this module without pydantic.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from ...aws import queue_load
from ...outcomes import APP_ATTRIBUTE, sender_app
from ..common.lease import Lease
from ..common.run_record import RunRecord
from ..common.wait import WaitTimeout, wait_for

EXPORT_PREFIX = "exportedlogs"  # where the run's logs go in its bucket (setupAccount's bucket policy allows it)
LIVE_INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
LIVE_FLEET_STATES = ("submitted", "active", "modifying")  # an EC2 Fleet's and a Spot Fleet request's
SPOT_FLEET_ID = "sfr-"  # how a Spot Fleet request's id begins
# The tag earlier versions' `monitor` put on the on-demand machines it started beside the Spot Fleet (RunInstances).
ON_DEMAND_TAG = {"Key": "ds:capacity", "Value": "on-demand"}
# How each service says a resource does not exist (or no longer does), in its error codes.
GONE_CODES = ("NotFound", "NonExistent", "NotExist", "ServiceNotActive", "AlreadyCancelled")
# Teardown must get through throttling: many deletes in a row, maybe while other runs end too.
TEARDOWN_RETRIES = BotoConfig(retries={"max_attempts": 8, "mode": "adaptive"})


def gone(exc: BaseException) -> bool:
    """The one 'already gone' rule: AWS answered that the resource does not exist."""
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    return any(code in error.get("Code", "") for code in GONE_CODES) or "does not exist" in error.get("Message", "")


def remove(what: str, action: Callable[[], object]) -> str:
    """Run one delete; a resource already gone counts as removed, so teardown can be repeated."""
    try:
        action()
    except ClientError as exc:
        if gone(exc):
            return f"{what} already gone"
        raise
    return f"{what} deleted"


def on_demand_filters(plan: RunRecord, states: tuple[str, ...] = LIVE_INSTANCE_STATES) -> list[dict[str, Any]]:
    """DescribeInstances filters for the run's live on-demand machines."""
    return [
        {"Name": "tag:ds:app", "Values": [plan.app_name]},
        {"Name": "tag:ds:run", "Values": [plan.run_id]},
        {"Name": f"tag:{ON_DEMAND_TAG['Key']}", "Values": [ON_DEMAND_TAG["Value"]]},
        {"Name": "instance-state-name", "Values": list(states)},
    ]


@dataclass(frozen=True)
class Found:
    kind: str
    name: str
    note: str = ""


class Scope:
    """What the entries act on: a run's plan (or cleanup's app-wide one), one session, and teardown's choices.

    `keep_failed=False` (cleanup) deletes the dead-letter queue even when it holds jobs; `known_fleets`
    are fleet ids found without the app's tag (cleanup's monitor files).
    """

    def __init__(
        self,
        plan: RunRecord,
        session: boto3.Session,
        export_timeout: float = 120.0,
        drain_timeout: float = 60.0,
        keep_failed: bool = True,
        known_fleets: frozenset[str] = frozenset(),
    ):
        self.plan, self.session = plan, session
        self.export_timeout, self.drain_timeout, self.keep_failed = export_timeout, drain_timeout, keep_failed
        self.known_fleets = known_fleets
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=TEARDOWN_RETRIES)
        return self._clients[service]


class Resource(ABC):
    """One kind of resource: `kind` is cleanup's word for one, `step` teardown's title for deleting them."""

    kind: ClassVar[str]
    step: ClassVar[str]

    def __init__(self, scope: Scope):
        self.scope, self.plan = scope, scope.plan

    @abstractmethod
    def find(self) -> list[Found]:
        """Those that exist now."""

    @abstractmethod
    def delete(self) -> str:
        """Teardown's step: delete them, and say what happened."""


def is_spot_fleet(fleet_id: str) -> bool:
    """A Spot Fleet request's id (sfr-...), which runs of earlier versions have; EC2 Fleets' are fleet-..."""
    return fleet_id.startswith(SPOT_FLEET_ID)


def _tagged_with(tags: dict[str, str], wanted: dict[str, str]) -> bool:
    """Carries every wanted tag; no wanted tag never means everything."""
    return bool(wanted) and wanted.items() <= tags.items()


class Fleets(Resource):
    """The run's EC2 Fleet, deleted with its machines; cleanup's too: every fleet with the app's tag, and the
    Spot Fleet requests of runs started by earlier versions (tagged, or named in a monitor file)."""

    kind, step = "fleet", "delete fleet"

    def find(self) -> list[Found]:
        ec2, found = self.scope.client("ec2"), []
        for page in ec2.get_paginator("describe_fleets").paginate():
            for fleet in page["Fleets"]:
                tags = {t["Key"]: t["Value"] for t in fleet.get("Tags", [])}
                mine = _tagged_with(tags, self.plan.tags) or fleet["FleetId"] in self.scope.known_fleets
                if mine and fleet["FleetState"] in LIVE_FLEET_STATES:
                    found.append(Found(self.kind, fleet["FleetId"], "deleted with its machines"))
        for page in ec2.get_paginator("describe_spot_fleet_requests").paginate():
            for config in page["SpotFleetRequestConfigs"]:
                tags = {t["Key"]: t["Value"] for t in config.get("Tags", [])}
                mine = _tagged_with(tags, self.plan.tags) or config["SpotFleetRequestId"] in self.scope.known_fleets
                if mine and config["SpotFleetRequestState"] in LIVE_FLEET_STATES:
                    found.append(
                        Found(self.kind, config["SpotFleetRequestId"], "Spot Fleet, cancelled with its machines")
                    )
        return found

    def delete(self) -> str:
        return self.cancel(self.plan.fleet_id)

    def cancel(self, fleet_id: str) -> str:
        """Delete one fleet (or cancel one Spot Fleet request) and terminate its machines."""
        return self._cancel_spot_fleet(fleet_id) if is_spot_fleet(fleet_id) else self._delete_fleet(fleet_id)

    def _delete_fleet(self, fleet_id: str) -> str:
        ec2 = self.scope.client("ec2")
        try:
            states = [f["FleetState"] for f in ec2.describe_fleets(FleetIds=[fleet_id])["Fleets"]]
        except ClientError as exc:
            if gone(exc):
                return f"{fleet_id} already gone"
            raise
        if not states or states[0] not in LIVE_FLEET_STATES:
            return f"{fleet_id} already gone"
        answer = ec2.delete_fleets(FleetIds=[fleet_id], TerminateInstances=True)
        for failed in answer.get("UnsuccessfulFleetDeletions", []):
            error = ClientError({"Error": failed.get("Error", {})}, "DeleteFleets")
            if gone(error):
                return f"{fleet_id} already gone"
            raise error
        return f"{fleet_id} deleted, its instances terminating"

    def _cancel_spot_fleet(self, fleet_id: str) -> str:
        ec2 = self.scope.client("ec2")
        try:
            found = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet_id])
        except ClientError as exc:
            if gone(exc):
                return f"{fleet_id} already gone"
            raise
        states = [c["SpotFleetRequestState"] for c in found["SpotFleetRequestConfigs"]]
        if not states or states[0] not in LIVE_FLEET_STATES:
            return f"{fleet_id} already gone"
        answer = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[fleet_id], TerminateInstances=True)
        for failed in answer.get("UnsuccessfulFleetRequests", []):
            error = ClientError({"Error": failed.get("Error", {})}, "CancelSpotFleetRequests")
            if gone(error):
                return f"{fleet_id} already gone"
            raise error
        return f"{fleet_id} cancelled, its instances terminating"


class LaunchTemplates(Resource):
    """The run's launch template (startCluster makes one per run), found by its exact name and tags; cleanup's:
    every launch template with the app's tag. Deleted after the fleet that launched from it."""

    kind, step = "launch template", "delete launch template"

    def find(self) -> list[Found]:
        return [Found(self.kind, name) for name in self._names()]

    def delete(self) -> str:
        names = self._names()
        for name in names:
            remove(name, lambda name=name: self.scope.client("ec2").delete_launch_template(LaunchTemplateName=name))
        return f"{', '.join(names)} deleted" if names else "none"

    def _names(self) -> list[str]:
        if not self.plan.tags:  # never every launch template of the account
            return []
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.plan.tags.items()]
        if self.plan.launch_template:
            filters.append({"Name": "launch-template-name", "Values": [self.plan.launch_template]})
        pages = self.scope.client("ec2").get_paginator("describe_launch_templates").paginate(Filters=filters)
        return [t["LaunchTemplateName"] for page in pages for t in page["LaunchTemplates"]]


class Machines(Resource):
    """Every machine with the plan's tags; teardown's step takes the on-demand ones that earlier versions started
    beside their Spot Fleet (an EC2 Fleet's on-demand machines are its own: deleting it terminates them)."""

    kind, step = "machine", "terminate on-demand machines"

    def find(self) -> list[Found]:
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.plan.tags.items()]
        filters.append({"Name": "instance-state-name", "Values": list(LIVE_INSTANCE_STATES)})
        return [Found(self.kind, i, "terminated") for i in self._ids(filters)]

    def delete(self) -> str:
        if not self.plan.on_demand_after:
            return "none (ON_DEMAND_AFTER_INTERRUPTIONS was 0)"
        if not is_spot_fleet(self.plan.fleet_id):
            return "none beside the fleet (its own on-demand machines went with it)"
        ids = self._ids(on_demand_filters(self.plan))
        self.terminate(ids)
        return f"{len(ids)} terminating" if ids else "none running"

    def terminate_found(self) -> str:
        """Cleanup's step, after the fleets: whatever is still up (cancelling a fleet took its own machines)."""
        ids = [f.name for f in self.find()]
        if not ids:
            return "none left (their fleets took them down)"
        self.terminate(ids)
        return f"{len(ids)} machine(s) terminating"

    def terminate(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 500):  # a safe batch for TerminateInstances
            self.scope.client("ec2").terminate_instances(InstanceIds=ids[start : start + 500])

    def _ids(self, filters: list[dict[str, Any]]) -> list[str]:
        pages = self.scope.client("ec2").get_paginator("describe_instances").paginate(Filters=filters)
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]


class Service(Resource):
    kind, step = "ECS service", "stop and delete service"

    def find(self) -> list[Found]:
        try:
            services = self.scope.client("ecs").describe_services(
                cluster=self.plan.cluster, services=[self.plan.service]
            )["services"]
        except ClientError as exc:
            if gone(exc):  # no cluster, so no service either
                return []
            raise
        live = any(s["status"] != "INACTIVE" for s in services)
        return [Found(self.kind, f"{self.plan.cluster}/{self.plan.service}")] if live else []

    def delete(self) -> str:
        ecs, cluster, service = self.scope.client("ecs"), self.plan.cluster, self.plan.service

        def stop_and_delete() -> None:
            ecs.update_service(cluster=cluster, service=service, desiredCount=0)
            ecs.delete_service(cluster=cluster, service=service, force=True)

        return remove(service, stop_and_delete)


class TaskDefinitions(Resource):
    kind, step = "task definition", "deregister task definitions"

    def find(self) -> list[Found]:
        return [Found(self.kind, arn.rsplit("/", 1)[-1]) for arn in self._arns()]

    def delete(self) -> str:
        arns = self._arns()
        for arn in arns:
            self.scope.client("ecs").deregister_task_definition(taskDefinition=arn)
        return f"{len(arns)} revision(s) of {self.plan.task_family} deregistered"

    def _arns(self) -> list[str]:
        family = self.plan.task_family
        pages = self.scope.client("ecs").get_paginator("list_task_definitions")
        return [
            arn
            for page in pages.paginate(familyPrefix=family, status="ACTIVE")
            for arn in page["taskDefinitionArns"]
            if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family  # familyPrefix is a prefix: this family only
        ]


def queue_url(sqs: Any, name: str) -> str | None:
    """The queue's URL, or None if it does not exist."""
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if gone(exc):
            return None
        raise


class Queue(Resource):
    kind, step = "queue", "delete queue"

    def find(self) -> list[Found]:
        url = queue_url(self.scope.client("sqs"), self.plan.queue_name)
        return [Found(self.kind, self.plan.queue_name)] if url else []

    def delete(self) -> str:
        url = queue_url(self.scope.client("sqs"), self.plan.queue_name)
        if url is None:
            return f"{self.plan.queue_name} already gone"
        return remove(self.plan.queue_name, lambda: self.scope.client("sqs").delete_queue(QueueUrl=url))


class DeadLetterQueue(Resource):
    """Deleted only when no other queue uses it (DS configs often share one between apps), and, unless
    the scope says otherwise, only when empty: failed jobs are the user's evidence (an idle queue costs nothing).
    Cleanup (keep_failed=False) deletes this app's failed jobs only: other apps' messages keep the queue."""

    kind, step = "dead-letter queue", "delete dead-letter queue if empty"

    def find(self) -> list[Found]:
        url = queue_url(self.scope.client("sqs"), self.plan.dead_letter_queue)
        if url is None:
            return []
        held = queue_load(self.scope.client("sqs"), url).total
        note = f"holds {held} message(s): {self.plan.app_name}'s failed jobs go too (see `status` first)"
        return [Found(self.kind, self.plan.dead_letter_queue, note if held else "")]

    def delete(self) -> str:
        name = self.plan.dead_letter_queue
        sqs = self.scope.client("sqs")
        url = queue_url(sqs, name)
        if url is None:
            return f"{name} already gone"
        removed = ""
        if not self.scope.keep_failed:
            deleted = delete_own_messages(sqs, url, self.plan.app_name)
            removed = f"{deleted} failed job(s) of {self.plan.app_name} deleted; " if deleted else ""
        users = [
            u.rsplit("/", 1)[-1]
            for u in sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
            if u.rsplit("/", 1)[-1] != self.plan.queue_name  # ours is being deleted
        ]
        if users:
            return f"{removed}kept {name}: still the dead-letter queue of {', '.join(sorted(users))}"
        failed = queue_load(sqs, url).total
        if failed and self.scope.keep_failed:
            return f"kept {name}: it holds {failed} failed job(s) to inspect"
        if failed:
            return f"{removed}kept {name}: it holds {failed} message(s) of other apps (or of none)"
        sqs.delete_queue(QueueUrl=url)
        return f"{removed}{name} deleted" if removed else f"{name} was empty, deleted"


def delete_own_messages(sqs: Any, url: str, app_name: str, hold_seconds: int = 120) -> int:
    """Delete the messages of a dead-letter queue that `app_name` sent (outcomes.sender_app); how many.

    Each message is received once: those of other apps (or of none) are held out of sight while the
    queue is gone through (lease.Lease renews their short hold, however long that takes) and given back,
    untouched, at the end. It ends when a receive that waits finds nothing left to give.
    """
    lease = Lease(sqs, url, hold_seconds)
    deleted = 0
    try:
        while True:
            lease.renew()
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=1,  # a long poll asks every SQS server: empty means empty
                MessageAttributeNames=[APP_ATTRIBUTE],
            ).get("Messages", [])
            if not messages:
                return deleted
            own = [m for m in messages if sender_app(m) == app_name]
            for m in messages:
                if sender_app(m) != app_name:
                    lease.keep(m["MessageId"], m["ReceiptHandle"])
            if own:
                answer = sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(own)],
                )
                refused = {int(failed["Id"]) for failed in answer.get("Failed", [])}
                for i in refused:  # held, not received again and again; the queue is then kept, saying so
                    lease.keep(own[i]["MessageId"], own[i]["ReceiptHandle"])
                deleted += len(own) - len(refused)
    finally:
        lease.give_back()


class Alarms(Resource):
    kind, step = "alarm", "delete alarms"

    def find(self) -> list[Found]:
        return [Found(self.kind, name) for name in self._names()]

    def delete(self) -> str:
        names = self._names()
        for start in range(0, len(names), 100):  # DeleteAlarms takes 100 names at most
            self.scope.client("cloudwatch").delete_alarms(AlarmNames=names[start : start + 100])
        return f"{len(names)} alarm(s) deleted"

    def _names(self) -> list[str]:
        """The plan's alarms that exist, by their exact names: never by a prefix (`Foo-` is also `Foo-Bar`'s)."""
        cloudwatch, names = self.scope.client("cloudwatch"), self.plan.alarms
        found = []
        for start in range(0, len(names), 100):  # DescribeAlarms takes 100 names at most
            page = cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])
            found += [a["AlarmName"] for a in page["MetricAlarms"] + page.get("CompositeAlarms", [])]
        return found


class Dashboard(Resource):
    kind, step = "dashboard", "delete dashboard"

    def find(self) -> list[Found]:
        name = self.plan.dashboard
        if not name:
            return []
        entries = self.scope.client("cloudwatch").list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
        return [Found(self.kind, name)] if any(d["DashboardName"] == name for d in entries) else []

    def delete(self) -> str:
        if not self.plan.dashboard:
            return "kept (CLEAN_DASHBOARD is False, or no dashboard)"
        cloudwatch = self.scope.client("cloudwatch")
        return remove(self.plan.dashboard, lambda: cloudwatch.delete_dashboards(DashboardNames=[self.plan.dashboard]))


class Cluster(Resource):
    """Never the shared 'default' cluster; another only once nothing runs in it (an empty cluster costs nothing)."""

    kind, step = "ECS cluster", "delete cluster if unused"

    def find(self) -> list[Found]:
        if self.plan.cluster == "default" or not self._active():
            return []
        return [Found(self.kind, self.plan.cluster, "if nothing else runs in it")]

    def delete(self) -> str:
        cluster = self.plan.cluster
        if cluster == "default":
            return "kept: the default cluster is never deleted"
        if not self._active():
            return f"{cluster} already gone"
        ecs = self.scope.client("ecs")
        with contextlib.suppress(WaitTimeout):  # a deleted service drains a moment before the cluster can go
            wait_for(
                lambda: "DRAINING" not in self._live_services().values(),
                what="services to finish draining",
                timeout=self.scope.drain_timeout,
            )
        busy = {
            "service(s)": list(self._live_services()),
            "task(s)": ecs.list_tasks(cluster=cluster)["taskArns"],
            "machine(s)": ecs.list_container_instances(cluster=cluster, status="ACTIVE")["containerInstanceArns"],
        }
        in_use = ", ".join(f"{len(v)} {k}" for k, v in busy.items() if v)
        if in_use:
            return f"kept {cluster}: still has {in_use} (an empty cluster costs nothing)"
        ecs.delete_cluster(cluster=cluster)
        return f"{cluster} deleted"

    def _active(self) -> bool:
        found = self.scope.client("ecs").describe_clusters(clusters=[self.plan.cluster])["clusters"]
        return bool(found) and found[0]["status"] != "INACTIVE"

    def _live_services(self) -> dict[str, str]:
        """ARN -> status of the cluster's services that are not INACTIVE yet."""
        ecs, cluster = self.scope.client("ecs"), self.plan.cluster
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        live = {}
        for start in range(0, len(arns), 10):  # DescribeServices takes 10 at most
            found = ecs.describe_services(cluster=cluster, services=arns[start : start + 10])["services"]
            live.update({s["serviceArn"]: s["status"] for s in found if s["status"] != "INACTIVE"})
        return live


class LogGroups(Resource):
    """Teardown exports them to the run's bucket and keeps them; cleanup deletes them once exported."""

    kind, step = "log group", "export logs to S3"

    def find(self) -> list[Found]:
        note = f"exported to s3://{self.plan.bucket}/{EXPORT_PREFIX}/ first"
        return [Found(self.kind, group, note) for group in self.plan.log_groups if self._exists(group)]

    def delete(self) -> str:
        if not self.plan.export_logs:
            return "skipped"
        logs = self.scope.client("logs")
        now_ms = int(time.time() * 1000)
        exported = []
        for group in filter(self._exists, self.plan.log_groups):
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
                timeout=self.scope.export_timeout,
            )
            exported.append(group)
        if not exported:
            return "no log groups to export"
        return f"{', '.join(exported)} -> s3://{self.plan.bucket}/{EXPORT_PREFIX}/"

    def delete_groups(self, groups: list[str]) -> str:
        """Cleanup's step after the export: the groups themselves."""
        for group in groups:
            try:
                self.scope.client("logs").delete_log_group(logGroupName=group)
            except ClientError as exc:
                if not gone(exc):
                    raise
        return f"{len(groups)} deleted" if groups else "none"

    def _exists(self, group: str) -> bool:
        found = self.scope.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        return any(g["logGroupName"] == group for g in found)


def _export_done(logs: Any, task_id: str) -> bool:
    tasks = logs.describe_export_tasks(taskId=task_id)["exportTasks"]
    code = tasks[0]["status"]["code"] if tasks else "COMPLETED"
    if code in ("FAILED", "CANCELLED"):
        raise WaitTimeout(f"log export {task_id} ended {code}: {tasks[0]['status'].get('message', '')}")
    return code == "COMPLETED"


class CapSchedule(Resource):
    kind, step = "cap schedule", "delete cap schedule"

    def find(self) -> list[Found]:
        rule, events = self.plan.schedule_rule, self.scope.client("events")
        return [Found(self.kind, rule)] if rule and _exists(lambda: events.describe_rule(Name=rule)) else []

    def delete(self) -> str:
        if not self.plan.schedule_rule:
            return "none (no caps, or AUTO_MONITOR was off)"
        events, rule = self.scope.client("events"), self.plan.schedule_rule

        def untarget_and_delete() -> None:
            targets = events.list_targets_by_rule(Rule=rule)["Targets"]
            if targets:
                events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
            events.delete_rule(Name=rule)

        return remove(rule, untarget_and_delete)


class AutoMonitor(Resource):
    kind, step = "auto-monitor Lambda", "delete auto-monitor"

    def find(self) -> list[Found]:
        name, functions = self.plan.function_name, self.scope.client("lambda")
        return [Found(self.kind, name)] if name and _exists(lambda: functions.get_function(FunctionName=name)) else []

    def delete(self) -> str:
        if not self.plan.function_name:
            return "none (AUTO_MONITOR was off)"
        functions, name = self.scope.client("lambda"), self.plan.function_name
        return remove(name, lambda: functions.delete_function(FunctionName=name))


def _exists(describe: Callable[[], object]) -> bool:
    try:
        describe()
    except ClientError as exc:
        if gone(exc):
            return False
        raise
    return True


# Teardown's order: the fleet and the on-demand machines first, since they are what bills.
KINDS: tuple[type[Resource], ...] = (
    Fleets,
    Machines,
    LaunchTemplates,
    Service,
    TaskDefinitions,
    Queue,
    DeadLetterQueue,
    Alarms,
    Dashboard,
    Cluster,
    LogGroups,
    CapSchedule,
    AutoMonitor,
)


def delete_steps(scope: Scope, kinds: tuple[type[Resource], ...] = KINDS) -> list[tuple[str, Callable[[], str]]]:
    """Teardown's steps, (title, action), one per kind in the order given."""
    return [(kind.step, kind(scope).delete) for kind in kinds]
