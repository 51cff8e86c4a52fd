"""`run.py startCluster FLEETFILE`: ask for spot machines, start the service, write the monitor file.

The DS fleet file is used as it is; config.py decides machine types, price, disk,
public IP, SSH key and count. The machines come from an EC2 Fleet (type maintain), with a
launch template made for the run from the file's launch specifications (fleet_mapping.py).
The whole request is built and checked before AWS is asked for anything (TASKS_PER_MACHINE
containers of the registered task definition, config.py's CPU_SHARES and MEMORY, must fit
each MACHINE_TYPE as DescribeInstanceTypes describes it); a fleet AWS refuses for its
configuration is deleted at once, with its launch template.
"""

from __future__ import annotations

import argparse
import base64
import copy
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from rich.text import Text

from ...aws import queue_load
from ..common.confirm import Confirm, confirm_policy
from ..common.context import AWS_ERRORS, CommandError, Context, error_code, warning
from ..common.run_record import RunRecord, write_monitor_file
from ..common.wait import WaitTimeout, wait_for
from ..machines.ec2_fleet import CONFIG_ERRORS, fleet_errors
from ..machines.fleet_file import EXAMPLE_ID, SSM_PREFIX, FleetFileError, load_fleet_file
from ..machines.fleet_mapping import FleetLaunch, fleet_launch
from ..machines.machine_fit import require_fit
from ..machines.on_demand_prices import on_demand_price
from ..machines.placement import DEFAULT_ALLOCATION, per_subnet
from ..machines.spot_quota import check_gpu_spot_quota
from ..resources import automonitor, dashboard
from ..resources.catalogue import Fleets, LaunchTemplates, Scope
from ..views.estimate import Price, current_price, fleet_zones, make_estimate, show

ACCOUNT_PLACEHOLDER = "XXXXXXXXXXXX"  # DS fleet files' stand-in for the account id
LOG_RETENTION_DAYS = 60
FAILED_STATES = ("failed", "deleted", "deleted_running", "deleted_terminating")  # an EC2 Fleet's


def user_data(ctx: Context) -> str:
    """The ECS agent's settings for each machine, base64 as EC2 wants."""
    script = (
        "#!/bin/bash\n"
        "cat >> /etc/ecs/ecs.config <<'EOF'\n"
        f"ECS_CLUSTER={ctx.config.ECS_CLUSTER}\n"
        'ECS_AVAILABLE_LOGGING_DRIVERS=["json-file","awslogs"]\n'
        "EOF\n"
    )
    return base64.b64encode(script.encode()).decode()


def _resolve_image(ctx: Context, image: str) -> str:
    if not image.startswith(SSM_PREFIX):
        return image
    name = image[len(SSM_PREFIX) :]
    try:
        return ctx.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        raise FleetFileError(f"ImageId {image!r}: SSM parameter {name} not found ({exc}); give an AMI id") from None


def template_name(ctx: Context, run_id: str) -> str:
    """The run's launch template: one per run, found again by this exact name (and its tags)."""
    return f"{ctx.config.APP_NAME}-{run_id}"


def build_request(ctx: Context, fleet: dict[str, Any], run_id: str) -> FleetLaunch:
    """The EC2 Fleet for the Fleet file with config.py applied: the launch template's data, and CreateFleet's
    arguments (fleet_mapping.py says what of the file goes where)."""
    c = ctx.config
    # `_comment` keys are notes for people (as in Job files); AWS would refuse them.
    request = {k: copy.deepcopy(v) for k, v in fleet.items() if not k.startswith("_comment")}
    file_specs = request["LaunchSpecifications"]
    tags = ctx.tag_list(run_id)
    key_name = _ssh_key_name(ctx)
    launch_specs = []
    # One launch specification per machine type (the file's i-th, or its first if it has fewer) and subnet.
    for i, machine_type in enumerate(c.MACHINE_TYPE):
        for spec in per_subnet(file_specs[i] if i < len(file_specs) else file_specs[0]):
            launch_specs.append(_launch_spec(ctx, spec, machine_type, tags, key_name))
    _require_key_pairs(ctx, launch_specs)
    # Price and spare capacity together (DEFAULT_ALLOCATION): fewer interruptions than the cheapest pool alone.
    launch = fleet_launch(
        request,
        launch_specs,
        template_name(ctx, run_id),
        target=c.CLUSTER_MACHINES,
        max_price=f"{c.MACHINE_PRICE:.4f}",
        tags=tags,
        client_token=run_id,
    )
    if ctx.backend.accepts_stand_ins:  # the local emulator has no such subnet: its default one stands in
        for config in launch.request["LaunchTemplateConfigs"]:
            for override in config["Overrides"]:
                if EXAMPLE_ID.match(override.get("SubnetId", "")):
                    del override["SubnetId"]
    return launch


def _key_pair_exists(ctx: Context, name: str) -> bool:
    try:
        ctx.client("ec2").describe_key_pairs(KeyNames=[name])
    except ClientError as exc:
        if "NotFound" in error_code(exc):  # InvalidKeyPair.NotFound
            return False
        raise
    return True


def _ssh_key_name(ctx: Context) -> str:
    """SSH_KEY_NAME as the launch specifications' KeyName, only when that key pair exists; else ''."""
    wanted = ctx.config.SSH_KEY_NAME.strip().removesuffix(".pem")
    if not wanted:
        return ""
    if _key_pair_exists(ctx, wanted):
        return wanted
    ctx.console.print(
        f"note: SSH_KEY_NAME {ctx.config.SSH_KEY_NAME!r} names no key pair in {ctx.config.AWS_REGION}; "
        "the Fleet file's KeyName is kept",
        highlight=False,
    )
    return ""


def _require_key_pairs(ctx: Context, launch_specs: list[dict[str, Any]]) -> None:
    """Every KeyName left in the request names a key pair, or AWS would refuse the whole fleet."""
    if ctx.backend.accepts_stand_ins:  # the local emulator has no key pairs, and its machines need none
        return
    missing = [
        f"LaunchSpecifications[{i}].KeyName: {spec['KeyName']!r} is no key pair in {ctx.config.AWS_REGION}; "
        "put one of yours (EC2 console > Key Pairs) or delete KeyName to start machines without SSH"
        for i, spec in enumerate(launch_specs)
        if spec.get("KeyName") and not _key_pair_exists(ctx, spec["KeyName"])
    ]
    if missing:
        raise FleetFileError("the Fleet file cannot start machines, nothing was started:\n  " + "\n  ".join(missing))


def _launch_spec(
    ctx: Context, spec: dict[str, Any], machine_type: str, tags: list[dict[str, str]], key_name: str
) -> dict[str, Any]:
    """One launch specification of the file (a copy) with config.py applied."""
    c = ctx.config
    spec["InstanceType"] = machine_type
    spec["ImageId"] = _resolve_image(ctx, spec["ImageId"])
    spec["UserData"] = user_data(ctx)
    spec.pop("SpotPrice", None)  # one price for the whole fleet, from config
    if key_name:
        spec["KeyName"] = key_name
    if "IamInstanceProfile" in spec and "Arn" in spec["IamInstanceProfile"]:
        spec["IamInstanceProfile"]["Arn"] = spec["IamInstanceProfile"]["Arn"].replace(
            ACCOUNT_PLACEHOLDER, ctx.account_id
        )
    mappings = spec.setdefault("BlockDeviceMappings", [])
    if not mappings:
        mappings.append({"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": True, "VolumeType": "gp3"}})
    # DS's files end with the Docker volume; with a single volume, Docker lives on the root.
    mappings[-1].setdefault("Ebs", {})["VolumeSize"] = c.EBS_VOL_SIZE
    for nic in spec.get("NetworkInterfaces", []):
        if nic.get("DeviceIndex", 0) == 0 and not c.ASSIGN_IP:
            nic["AssociatePublicIpAddress"] = False  # DS: 'False' overrides the file, 'True' keeps its choice
    # DS's workers name their machine <APP_NAME>Worker, as the EC2 console shows it.
    spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [*tags, ctx.name_tag()]}]
    return spec


def _require_setup(ctx: Context) -> None:
    ctx.require_queue()
    services = ctx.client("ecs").describe_services(cluster=ctx.config.ECS_CLUSTER, services=[ctx.service_name])
    if not any(s["status"] == "ACTIVE" for s in services["services"]):
        raise CommandError(f"service {ctx.service_name} does not exist; run `python run.py setup` first")


def _ensure_log_groups(ctx: Context, run_id: str) -> None:
    logs = ctx.client("logs")
    for group in ctx.log_groups:
        if not any(g["logGroupName"] == group for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]):
            logs.create_log_group(logGroupName=group, tags=ctx.tags())
        logs.put_retention_policy(logGroupName=group, retentionInDays=LOG_RETENTION_DAYS)


def _capacity(ctx: Context, fleet_id: str, since: datetime) -> int | None:
    """Machines running for the fleet, None while there are none; CommandError if the request failed."""
    ec2 = ctx.client("ec2")
    [fleet] = ec2.describe_fleets(FleetIds=[fleet_id])["Fleets"]
    errors = fleet_errors(ctx, fleet_id, since)
    if fleet["FleetState"] in FAILED_STATES or any(sub in CONFIG_ERRORS for sub, _ in errors):
        raise CommandError(
            f"AWS refused EC2 Fleet {fleet_id} ({fleet['FleetState']}): "
            + ("; ".join(words for _, words in errors) or "see `aws ec2 describe-fleet-history --fleet-id ...`")
        )
    running = ec2.describe_fleet_instances(FleetId=fleet_id)["ActiveInstances"]
    return len(running) or None


def _create_fleet(ctx: Context, launch: FleetLaunch, run_id: str) -> str:
    """The run's launch template (tagged as the run), then its EC2 Fleet; the template goes if AWS refuses the fleet."""
    ec2 = ctx.client("ec2")
    ec2.create_launch_template(
        LaunchTemplateName=launch.template_name,
        LaunchTemplateData=launch.versions[0],
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": ctx.tag_list(run_id)}],
        ClientToken=run_id,
    )
    try:
        for data in launch.versions[1:]:  # launch specifications that differ beyond type, subnet and zone
            ec2.create_launch_template_version(LaunchTemplateName=launch.template_name, LaunchTemplateData=data)
        return ec2.create_fleet(**launch.request)["FleetId"]
    except AWS_ERRORS:
        ec2.delete_launch_template(LaunchTemplateName=launch.template_name)
        raise


def app_plan(ctx: Context, run_id: str, fleet_id: str, **run_specific: Any) -> RunRecord:
    """What teardown needs to find this app's resources, from config; the rest is the run's own."""
    c = ctx.config
    return RunRecord(
        app_name=c.APP_NAME,
        region=c.AWS_REGION,
        run_id=run_id,
        fleet_id=fleet_id,
        cluster=c.ECS_CLUSTER,
        service=ctx.service_name,
        task_family=ctx.task_family,
        queue_name=c.SQS_QUEUE_NAME,
        dead_letter_queue=c.SQS_DEAD_LETTER_QUEUE,
        bucket=c.AWS_BUCKET,
        log_groups=run_specific.pop("log_groups", ctx.log_groups),
        alarms=[ctx.queue_empty_alarm],
        tags=ctx.tags(run_id if fleet_id else None),
        **run_specific,
    )


def queued_jobs(ctx: Context) -> int:
    """Jobs on the queue: waiting plus in flight."""
    return queue_load(ctx.client("sqs"), ctx.require_queue()).total


def _plan_and_ask(
    ctx: Context, fleet: dict[str, Any], confirm: Confirm | None, job_seconds: float | None
) -> Price | None:
    """The price the run is counted at; with `confirm`, the estimate is shown and asked about first.

    None if the user declines.
    """
    c = ctx.config
    if confirm is None:  # programmatic use and local mode: no questions, no job time to measure
        return current_price(ctx, fleet_zones(ctx, fleet))
    estimate = make_estimate(ctx, queued_jobs(ctx), job_seconds, fleet)
    ctx.console.print(Text.assemble(("startCluster plan", "bold"), f" for {c.APP_NAME} in {c.AWS_REGION}:"))
    show(ctx, estimate)
    if estimate.jobs == 0:
        ctx.console.print(warning("the queue is empty: machines would idle (submitJob first?)"))
    caps = [f"MAX_COST ${c.MAX_COST:g}"] * bool(c.MAX_COST) + [f"MAX_HOURS {c.MAX_HOURS:g}"] * bool(c.MAX_HOURS)
    ctx.console.print(f"caps: {', '.join(caps) if caps else 'none (set MAX_COST / MAX_HOURS in config.py)'}")
    if caps and not c.AUTO_MONITOR:
        ctx.console.print("  the caps are checked while `monitor` runs; AUTO_MONITOR = True checks them in AWS too")
    if not confirm(f"Start {c.CLUSTER_MACHINES} machine(s) at up to ${c.MACHINE_PRICE:g}/h each?"):
        return None
    return estimate.price


def start_cluster(
    ctx: Context,
    fleet_file: Path,
    wait_seconds: float = 600,
    poll_seconds: float = 15,
    confirm: Confirm | None = None,
    job_seconds: float | None = None,
    monitor_file: Path | None = None,
) -> int:
    """Start the fleet. `confirm` (the CLI's policy) sees the estimate first; None starts without asking.

    The monitor file goes next to the fleet file, as in DS, unless `monitor_file` names another place.
    """
    c = ctx.config
    fleet = load_fleet_file(fleet_file, allow_stand_ins=ctx.backend.accepts_stand_ins, gpus=ctx.spec.gpus)
    _require_setup(ctx)
    if ctx.backend.places_on_machine_types:
        machines = require_fit(ctx)  # containers that fit no machine leave it idle: refused before anything is created
        quota = check_gpu_spot_quota(ctx, machines)  # before the confirmation: a quota of 0 starts nothing
        for note in quota.notes:
            ctx.console.print(f"note: {note}", highlight=False)
        for line in quota.warnings:
            ctx.console.print(warning(line), highlight=False)
    price = _plan_and_ask(ctx, fleet, confirm, job_seconds)
    if price is None:
        ctx.console.print("not confirmed: nothing was started")
        return 1
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    launch = build_request(ctx, fleet, run_id)  # may still refuse: an SSM image that is not there
    if fleet.get("AllocationStrategy") == "lowestPrice":
        ctx.console.print(
            f"note: {fleet_file.name} asks for AllocationStrategy lowestPrice (DS's default); "
            f"{DEFAULT_ALLOCATION} weighs spare capacity too and is interrupted less"
        )
    if "IamFleetRole" in fleet:
        ctx.console.print(
            f"note: {fleet_file.name}'s IamFleetRole is not used: an EC2 Fleet launches with its service-linked "
            "role AWSServiceRoleForEC2Fleet (setupAccount makes sure it exists)"
        )
    started = datetime.now(timezone.utc)
    _ensure_log_groups(ctx, run_id)
    fleet_id = _create_fleet(ctx, launch, run_id)
    ctx.console.print(f"EC2 Fleet {fleet_id} requested: {c.CLUSTER_MACHINES} x {', '.join(c.MACHINE_TYPE)}")
    on_demand = on_demand_price(c.AWS_REGION, c.MACHINE_TYPE)
    plan = app_plan(
        ctx,
        run_id,
        fleet_id,
        start_time_ms=int(time.time() * 1000),
        dashboard=ctx.dashboard_name if c.CREATE_DASHBOARD and c.CLEAN_DASHBOARD else "",
        function_name=ctx.monitor_function if c.AUTO_MONITOR else "",
        max_cost=float(c.MAX_COST),
        max_hours=float(c.MAX_HOURS),
        price_per_hour=price.dollars_per_hour,
        price_source=price.source,
        schedule_rule=ctx.cap_rule if c.AUTO_MONITOR and (c.MAX_COST or c.MAX_HOURS) else "",
        on_demand_after=c.ON_DEMAND_AFTER_INTERRUPTIONS,
        on_demand_price_per_hour=on_demand.dollars_per_hour or 0.0,
        on_demand_price_source=on_demand.source,
        launch_template=launch.template_name,
    )
    monitor_file = monitor_file or fleet_file.parent / f"{c.APP_NAME}SpotFleetRequestId.json"
    write_monitor_file(monitor_file, plan)  # at once: an interrupted wait must still leave a way to tear down
    try:
        machines = wait_for(
            lambda: _capacity(ctx, fleet_id, started),
            what="the first machine",
            timeout=wait_seconds,
            interval=poll_seconds,
        )
        ctx.console.print(f"{machines} machine(s) running")
    except WaitTimeout:
        ctx.console.print(f"no machine yet after {wait_seconds:g} s (spot capacity may be short); the request stays")
    except CommandError:
        scope = Scope(plan, ctx.session)
        Fleets(scope).delete()
        LaunchTemplates(scope).delete()
        monitor_file.unlink()
        ctx.console.print(f"EC2 Fleet {fleet_id} deleted; nothing else was started. Fix the fleet file and retry.")
        raise
    tasks = c.CLUSTER_MACHINES * c.TASKS_PER_MACHINE
    ctx.client("ecs").update_service(cluster=c.ECS_CLUSTER, service=ctx.service_name, desiredCount=tasks)
    ctx.console.print(f"service {ctx.service_name}: {tasks} task(s) wanted")
    if c.CREATE_DASHBOARD:
        dashboard.create(ctx, fleet_id)
    if c.AUTO_MONITOR:
        automonitor.create(ctx, plan)
    ctx.console.print(f"monitor file: {monitor_file}\nnext: {ctx.backend.run_py} monitor {monitor_file}")
    ctx.backend.start_tasks(ctx, run_id)
    return 0


def run_start_cluster(ctx: Context, args: argparse.Namespace) -> int:
    confirm = confirm_policy(ctx, args.yes, "startCluster")  # refuses at once without a terminal or --yes
    return start_cluster(ctx, args.fleetfile, wait_seconds=args.wait, confirm=confirm, job_seconds=args.job_seconds)
