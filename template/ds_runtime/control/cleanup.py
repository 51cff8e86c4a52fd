"""`run.py cleanup [--dry-run] [--yes]`: find everything of this app left in AWS and remove it.

For when a monitor was stopped half way, a laptop closed, or a run is long
forgotten. It looks for this app's resources by tag (`ds:app` = APP_NAME) and by
the names config.py gives them: spot fleets and every machine (the on-demand
fallback's too), queue and dead-letter queue, ECS service, task definitions,
cluster (never 'default'), alarms, dashboard, log groups, the auto-monitor Lambda
and its cap schedule, and monitor files in files/. It lists them, then deletes after a yes (`--yes`
or typing y); `--dry-run` only lists. The deleting is teardown's own steps, with
the dead-letter queue deleted even when it holds failed jobs, and the log groups
deleted once they are exported to the bucket. The IAM roles of setupAccount are
left: `undoAccount` removes them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from botocore.exceptions import ClientError

from . import automonitor
from .cluster import app_plan
from .confirm import confirm_policy
from .context import AWS_ERRORS, Context
from .teardown import LIVE_INSTANCE_STATES, Plan, Step, Teardown, report, run_steps

LIVE_FLEET_STATES = ("submitted", "active", "modifying")
MACHINE_STEPS = ("cancel spot fleet", "terminate on-demand machines")  # teardown's, for one run only


@dataclass(frozen=True)
class Found:
    kind: str
    name: str
    note: str = ""


@dataclass
class Inventory:
    fleets: list[str]
    instances: list[str]
    items: list[Found]  # everything, fleets and instances included, in deletion order
    monitor_files: list[Path]

    @property
    def empty(self) -> bool:
        return not self.items


def _fleets(ctx: Context, extra_ids: set[str]) -> list[str]:
    ec2, app = ctx.client("ec2"), ctx.config.APP_NAME
    found = []
    for page in ec2.get_paginator("describe_spot_fleet_requests").paginate():
        for config in page["SpotFleetRequestConfigs"]:
            tags = {t["Key"]: t["Value"] for t in config.get("Tags", [])}
            mine = tags.get("ds:app") == app or config["SpotFleetRequestId"] in extra_ids
            if mine and config["SpotFleetRequestState"] in LIVE_FLEET_STATES:
                found.append(config["SpotFleetRequestId"])
    return found


def _instances(ctx: Context) -> list[str]:
    pages = (
        ctx.client("ec2")
        .get_paginator("describe_instances")
        .paginate(
            Filters=[
                {"Name": "tag:ds:app", "Values": [ctx.config.APP_NAME]},
                {"Name": "instance-state-name", "Values": list(LIVE_INSTANCE_STATES)},
            ]
        )
    )
    return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]


def monitor_files(ctx: Context, folder: Path) -> list[Path]:
    """Monitor files of this app in `folder` (startCluster writes them next to the fleet file)."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("MONITOR_APP_NAME") == ctx.config.APP_NAME and "plan" in data:
                found.append(path)
    return found


def _exists(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except ClientError:
        return False


def find(ctx: Context, files: Path = Path("files")) -> Inventory:
    c, app = ctx.config, ctx.config.APP_NAME
    ecs, cloudwatch, logs = ctx.client("ecs"), ctx.client("cloudwatch"), ctx.client("logs")
    files_found = monitor_files(ctx, files)
    known_ids = {json.loads(p.read_text())["MONITOR_FLEET_ID"] for p in files_found}
    fleets, instances = _fleets(ctx, known_ids), _instances(ctx)
    items = [Found("spot fleet", f, "cancelled with its machines") for f in fleets]
    items += [Found("machine", i, "terminated") for i in instances]
    if ctx.queue_url(c.SQS_QUEUE_NAME):
        items.append(Found("queue", c.SQS_QUEUE_NAME))
    if dead := ctx.queue_load(c.SQS_DEAD_LETTER_QUEUE):
        held = dead.total
        note = f"holds {held} failed job(s): they go too (see `status` first)" if held else ""
        items.append(Found("dead-letter queue", c.SQS_DEAD_LETTER_QUEUE, note))
    try:
        services = ecs.describe_services(cluster=c.ECS_CLUSTER, services=[ctx.service_name])["services"]
    except ClientError:  # ClusterNotFoundException: no cluster, so no service either
        services = []
    if any(s["status"] != "INACTIVE" for s in services):
        items.append(Found("ECS service", f"{c.ECS_CLUSTER}/{ctx.service_name}"))
    revisions = [
        arn.rsplit("/", 1)[-1]
        for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=ctx.task_family, status="ACTIVE")
        for arn in page["taskDefinitionArns"]
        if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == ctx.task_family
    ]
    items += [Found("task definition", r) for r in revisions]
    alarms = [
        a["AlarmName"]
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{app}-")
        for a in page["MetricAlarms"] + page.get("CompositeAlarms", [])
    ]
    items += [Found("alarm", a) for a in alarms]
    dashboards = cloudwatch.list_dashboards(DashboardNamePrefix=ctx.dashboard_name)["DashboardEntries"]
    items += [Found("dashboard", d["DashboardName"]) for d in dashboards if d["DashboardName"] == ctx.dashboard_name]
    rule, function = automonitor.rule_name(ctx), automonitor.function_name(ctx)
    if _exists(lambda: bool(ctx.client("events").describe_rule(Name=rule))):
        items.append(Found("cap schedule", rule))
    if _exists(lambda: bool(ctx.client("lambda").get_function(FunctionName=function))):
        items.append(Found("auto-monitor Lambda", function))
    if c.ECS_CLUSTER != "default":
        found = ecs.describe_clusters(clusters=[c.ECS_CLUSTER])["clusters"]
        if found and found[0]["status"] != "INACTIVE":
            items.append(Found("ECS cluster", c.ECS_CLUSTER, "if nothing else runs in it"))
    for group in ctx.log_groups:
        if any(g["logGroupName"] == group for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]):
            items.append(Found("log group", group, f"exported to s3://{c.AWS_BUCKET}/exportedlogs/ first"))
    items += [Found("monitor file", str(p)) for p in files_found]
    return Inventory(fleets, instances, items, files_found)


def _plan(ctx: Context, inventory: Inventory) -> Plan:
    return app_plan(
        ctx,
        f"cleanup-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}",
        "",  # no one fleet: cleanup cancels every fleet it found
        log_groups=[f.name for f in inventory.items if f.kind == "log group"],
        start_time_ms=0,  # export everything the groups still hold
        dashboard=ctx.dashboard_name,
        function_name=automonitor.function_name(ctx),
        schedule_rule=automonitor.rule_name(ctx),
    )


def delete(ctx: Context, inventory: Inventory) -> list[Step]:
    plan = _plan(ctx, inventory)
    teardown = Teardown(plan, ctx.session, keep_failed=False)
    steps: list[tuple[str, Callable[[], str]]] = [
        (f"cancel spot fleet {f}", Teardown(replace(plan, fleet_id=f), ctx.session).cancel_fleet)
        for f in inventory.fleets
    ]
    if inventory.instances:
        # Listed again: cancelling a fleet has terminated its own machines already.
        steps.append(("terminate machines", lambda: _terminate(ctx, _instances(ctx))))
    # The fleets and every machine of the app (on-demand ones too) are handled above.
    steps += [(name, action) for name, action in teardown.steps() if name not in MACHINE_STEPS]
    results = run_steps(steps)
    exported = next((s for s in results if s.name == "export logs to S3"), None)
    if exported is not None and exported.ok:
        results += run_steps([("delete log groups", lambda: _delete_log_groups(ctx, plan.log_groups))])
    elif plan.log_groups:
        results.append(Step("delete log groups", False, "kept: their export to S3 failed; run cleanup again"))
    results += run_steps([("delete monitor files", lambda: _delete_files(inventory.monitor_files))])
    return results


def _terminate(ctx: Context, instances: list[str]) -> str:
    if not instances:
        return "none left (their fleets took them down)"
    for start in range(0, len(instances), 500):
        ctx.client("ec2").terminate_instances(InstanceIds=instances[start : start + 500])
    return f"{len(instances)} machine(s) terminating"


def _delete_log_groups(ctx: Context, groups: list[str]) -> str:
    logs = ctx.client("logs")
    for group in groups:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            logs.delete_log_group(logGroupName=group)
    return f"{len(groups)} deleted" if groups else "none"


def _delete_files(paths: list[Path]) -> str:
    for path in paths:
        path.unlink(missing_ok=True)
    return f"{len(paths)} deleted" if paths else "none"


def cleanup(
    ctx: Context,
    dry_run: bool = False,
    yes: bool = False,
    files: Path = Path("files"),
    is_tty: Callable[[], bool] | None = None,
) -> int:
    inventory = find(ctx, files)
    if inventory.empty:
        ctx.console.print(f"nothing of {ctx.config.APP_NAME} found in {ctx.config.AWS_REGION}")
        return 0
    ctx.console.print(f"{ctx.config.APP_NAME} in {ctx.config.AWS_REGION}: {len(inventory.items)} thing(s) found")
    for item in inventory.items:
        ctx.console.print(f"  {item.kind}: {item.name}" + (f"  ({item.note})" if item.note else ""), highlight=False)
    if dry_run:
        ctx.console.print("dry run: nothing deleted")
        return 0
    confirm = confirm_policy(ctx, yes, "cleanup", is_tty)
    if confirm is not None and not confirm(f"Delete these {len(inventory.items)} thing(s)?"):
        ctx.console.print("not confirmed: nothing deleted")
        return 1
    try:
        steps = delete(ctx, inventory)
    except AWS_ERRORS as exc:  # the listing itself failed half way: say so, as teardown would
        steps = [Step("cleanup", False, f"{type(exc).__name__}: {exc}")]
    for line in report(steps):
        ctx.console.print(line, highlight=False)
    return 0 if all(s.ok for s in steps) else 1
