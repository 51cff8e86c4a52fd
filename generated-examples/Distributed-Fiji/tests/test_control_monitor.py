"""monitor and teardown: shrink as jobs finish, then leave nothing of the run behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ds_runtime.control.commands.cluster import app_plan, start_cluster
from ds_runtime.control.commands.monitor import Monitor, monitor
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.context import CommandError
from ds_runtime.control.common.run_record import load_monitor_file
from ds_runtime.control.resources import automonitor
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.resources.catalogue import Service
from ds_runtime.control.resources.teardown import PLAN_ENV, Teardown, lambda_handler

from ._control_support import (
    APP,
    REGION,
    drain,
    fleet_capacity,
    fleet_instances,
    launch_templates,
    make_ctx,
    network,
    output,
    write_fleet_file,
    write_job_file,
)

QUEUE = f"{APP}Queue"
ON = "'True'"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """setupAccount, setup, 12 jobs submitted, cluster started with dashboard and auto-monitor; the monitor file."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="echo-bucket")
        ctx = make_ctx(tmp_path, CREATE_DASHBOARD=ON, AUTO_MONITOR=ON)
        setup_account(ctx)
        setup(ctx)
        submit(ctx, write_job_file(tmp_path, 12))
        start_cluster(ctx, write_fleet_file(tmp_path), wait_seconds=5, poll_seconds=0.01)
        yield tmp_path / "files" / f"{APP}SpotFleetRequestId.json"


def ctx_for(monitor_file: Path):
    return make_ctx(monitor_file.parent.parent, CREATE_DASHBOARD=ON, AUTO_MONITOR=ON)


def fleet_state(fleet_id: str) -> tuple[str | None, int]:
    """The fleet's state (None once moto forgets it) and its instances still running."""
    ec2 = boto3.client("ec2", region_name=REGION)
    state = next((f["FleetState"] for f in ec2.describe_fleets()["Fleets"] if f["FleetId"] == fleet_id), None)
    running = [
        i
        for r in ec2.describe_instances(Filters=[{"Name": "tag:ds:app", "Values": [APP]}])["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] in ("pending", "running")
    ]
    return state, len(running)


def assert_nothing_left(fleet_id: str) -> None:
    sqs, ecs = boto3.client("sqs", region_name=REGION), boto3.client("ecs", region_name=REGION)
    assert [u for u in sqs.list_queues().get("QueueUrls", []) if APP in u] == []
    assert ecs.list_task_definitions(familyPrefix=f"{APP}Task", status="ACTIVE")["taskDefinitionArns"] == []
    clusters = ecs.describe_clusters(clusters=["echo-cluster"])["clusters"]
    assert not clusters or clusters[0]["status"] == "INACTIVE"
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    assert cloudwatch.describe_alarms(AlarmNamePrefix=APP)["MetricAlarms"] == []
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
    state, running = fleet_state(fleet_id)
    assert state in (None, "deleted", "deleted_terminating") and running == 0
    assert launch_templates() == []


def test_lifecycle_leaves_nothing_behind(running: Path) -> None:
    plan = json.loads(running.read_text())
    fleet_id = plan["MONITOR_FLEET_ID"]
    # What startCluster made, so the emptiness below means something.
    assert fleet_state(fleet_id) == ("active", 2) and len(launch_templates()) == 1
    assert boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNamePrefix=APP)["MetricAlarms"]
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    assert drain(QUEUE) == 12
    ctx = ctx_for(running)
    assert monitor(ctx, running, interval=0) == 0, output(ctx)
    assert_nothing_left(fleet_id)
    assert "FAILED" not in output(ctx)
    assert "-> s3://echo-bucket/exportedlogs/" in output(ctx)
    # Restarting from the monitor file is safe: every step reports "already gone".
    again = ctx_for(running)
    assert monitor(again, running, interval=0) == 0
    assert "already gone" in output(again)


def states(*ids: str) -> list[str]:
    found = boto3.client("ec2", region_name=REGION).describe_instances(InstanceIds=list(ids))["Reservations"]
    by_id = {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}
    return [by_id[i] for i in ids]


def test_scale_in_releases_the_idle_machine_and_never_the_busy_one(running: Path) -> None:
    """Two machines, one running a job (an ECS task), one idle; nothing waits: only the idle one goes."""
    sqs, ecs = boto3.client("sqs", region_name=REGION), boto3.client("ecs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    taken = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        taken += messages
    for message in taken[1:]:  # 11 jobs finished, one still running: 0 waiting, 1 in flight
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    fleet_id = json.loads(running.read_text())["MONITOR_FLEET_ID"]
    busy, idle = fleet_instances(fleet_id)
    # What each machine's ECS agent would report (moto never starts a task by itself).
    arns = {
        i: ecs.register_container_instance(
            cluster="echo-cluster", instanceIdentityDocument=json.dumps({"instanceId": i})
        )["containerInstance"]["containerInstanceArn"]
        for i in (busy, idle)
    }
    [task] = ecs.start_task(cluster="echo-cluster", taskDefinition=f"{APP}Task", containerInstances=[arns[busy]])[
        "tasks"
    ]

    def target() -> int:
        return fleet_capacity(fleet_id)[0]

    def tasks_wanted() -> int:
        [service] = ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"]
        return service["desiredCount"]

    now = [1000.0]
    ctx = ctx_for(running)
    watcher = Monitor(ctx, load_monitor_file(running), interval=0, clock=lambda: now[0])
    assert tasks_wanted() == 4
    assert watcher.poll() is False
    assert target() == 2  # idle for 0 s: within MACHINE_IDLE_SECONDS (120), nothing changes yet
    # Nothing waits: the service wants no task; ECS stops only tasks without scale-in protection.
    assert tasks_wanted() == 0
    now[0] += 121
    assert watcher.poll() is False
    assert target() == 1
    assert states(busy, idle) == ["running", "terminated"]
    assert "-> 1 (nothing waiting; 1 idle machine(s) released)" in output(ctx)
    now[0] += 3600  # the busy machine's long job goes on: it is never released while it runs
    assert watcher.poll() is False
    assert states(busy) == ["running"] and fleet_instances(fleet_id) == [busy] and target() == 1
    # A job comes back (say it failed): the kept machine gets its worker tasks again.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert watcher.poll() is False and tasks_wanted() == 2  # 1 machine x TASKS_PER_MACHINE
    [again] = sqs.receive_message(QueueUrl=url)["Messages"]
    taken[0] = again
    ecs.stop_task(cluster="echo-cluster", task=task["taskArn"])  # its job ends...
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"])
    assert watcher.poll() is True  # ...and the run is over: teardown follows in run()


def test_cheapest_asks_for_one_machine(running: Path) -> None:
    ctx = ctx_for(running)
    watcher = Monitor(ctx, load_monitor_file(running), cheapest=True, cheapest_after=0)
    assert watcher.poll() is False  # jobs still waiting
    fleet_id = json.loads(running.read_text())["MONITOR_FLEET_ID"]
    assert fleet_capacity(fleet_id) == (1, 0)
    assert fleet_state(fleet_id)[1] == 2  # running machines are not stopped
    assert watcher.poll() is False  # jobs still wait, but cheapest never asks for more again
    assert fleet_capacity(fleet_id) == (1, 0)


def test_jobs_waiting_again_after_scale_in_get_machines_back(running: Path) -> None:
    """The fleet was shrunk to one machine, then jobs wait again (sent back, retried): it asks for more."""
    fleet_id = json.loads(running.read_text())["MONITOR_FLEET_ID"]
    boto3.client("ec2", region_name=REGION).modify_fleet(
        FleetId=fleet_id,
        TargetCapacitySpecification={"TotalTargetCapacity": 1},
        ExcessCapacityTerminationPolicy="no-termination",
    )
    ctx = ctx_for(running)
    assert Monitor(ctx, load_monitor_file(running), interval=0).poll() is False  # 12 jobs wait
    assert fleet_capacity(fleet_id) == (2, 0)  # CLUSTER_MACHINES, no more
    assert "-> 2 (jobs wait again)" in output(ctx)


def test_transient_errors_do_not_end_the_watch(running: Path) -> None:
    ctx = ctx_for(running)
    watcher = Monitor(ctx, load_monitor_file(running), interval=0)
    answers = iter([ClientError({"Error": {"Code": "Throttling"}}, "GetQueueAttributes"), False, True])

    def flaky() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    watcher.poll = flaky  # type: ignore[method-assign]
    drain(QUEUE)
    assert watcher.run() == 0
    assert "poll failed (1/10)" in output(ctx)


def test_bad_monitor_files(tmp_path: Path) -> None:
    with mock_aws():
        ctx = make_ctx(tmp_path)
        ds_style = tmp_path / "ds.json"
        ds_style.write_text("{'MONITOR_FLEET_ID' : 'sfr-1', 'MONITOR_APP_NAME' : 'x',}")  # DS's concatenation
        with pytest.raises(CommandError, match="not a monitor file"):
            monitor(ctx, ds_style)
        with pytest.raises(CommandError, match="not found"):
            monitor(ctx, tmp_path / "missing.json")


def test_auto_monitor_handler_tears_down(running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda's own code, run against the emulator with the environment startCluster gave it."""
    function = boto3.client("lambda", region_name=REGION).get_function(FunctionName=f"{APP}-teardown")
    environment = function["Configuration"]["Environment"]["Variables"]
    assert function["Configuration"]["Handler"] == automonitor.HANDLER
    monkeypatch.setenv(PLAN_ENV, environment[PLAN_ENV])
    drain(QUEUE)
    result = lambda_handler({}, None)
    assert result["ok"], result
    assert_nothing_left(json.loads(running.read_text())["MONITOR_FLEET_ID"])


def test_auto_monitor_package_imports_its_handler_alone(tmp_path: Path) -> None:
    """Lambda gets only the zip (and boto3): the handler must import from it, with nothing else of ours."""
    import io
    import subprocess
    import sys
    import zipfile

    zipfile.ZipFile(io.BytesIO(automonitor.package())).extractall(tmp_path)
    probe = "import ds_runtime.control.resources.teardown as t, sys; print(t.lambda_handler.__module__, t.__file__)"
    # -I: no user site, no PYTHONPATH, and not this checkout; only the zip's folder and boto3's site-packages.
    site = str(Path(__import__("boto3").__file__).parents[1])
    code = f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {site!r}]; {probe}"
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "ds_runtime.control.resources.teardown",
        str(tmp_path / "ds_runtime/control/resources/teardown.py"),
    ]


def test_a_failing_step_does_not_stop_the_others(running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Service) -> str:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteService")

    monkeypatch.setattr(Service, "delete", broken)
    plan = load_monitor_file(running)
    steps = Teardown(plan, boto3.Session(region_name=REGION)).run()
    assert steps[0].name == "delete fleet" and steps[0].ok  # the fleet (what bills) goes first
    assert [s.name for s in steps if not s.ok] == ["stop and delete service"]
    sqs = boto3.client("sqs", region_name=REGION)
    assert [u for u in sqs.list_queues().get("QueueUrls", []) if u.endswith(QUEUE)] == []


def test_failed_jobs_are_kept_and_default_cluster_is_never_deleted(tmp_path: Path) -> None:
    with mock_aws():
        ctx = make_ctx(tmp_path, ECS_CLUSTER="'default'")
        setup_account(ctx)
        setup(ctx)
        sqs = boto3.client("sqs", region_name=REGION)
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=f"{APP}DeadMessages")["QueueUrl"], MessageBody="x")
        start_cluster(ctx, write_fleet_file(tmp_path), wait_seconds=5, poll_seconds=0.01)
        steps = {
            s.name: s
            for s in Teardown(
                load_monitor_file(tmp_path / "files" / f"{APP}SpotFleetRequestId.json"), ctx.session
            ).run()
        }
        assert "holds 1 failed job" in steps["delete dead-letter queue if empty"].detail
        assert "never deleted" in steps["delete cluster if unused"].detail
        ecs = boto3.client("ecs", region_name=REGION)
        assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["status"] == "ACTIVE"


def test_dead_letter_queue_another_app_still_uses_survives_teardown(tmp_path: Path) -> None:
    """DS configs share one dead-letter queue (DS's own 'DeadMessages'): the other app's jobs still need it."""
    with mock_aws():
        ctx = make_ctx(tmp_path, SQS_DEAD_LETTER_QUEUE="'arn:aws:sqs:some-region:111111100000:DeadMessages'")
        setup_account(ctx)
        setup(ctx)
        sqs = boto3.client("sqs", region_name=REGION)
        dead = sqs.get_queue_url(QueueName="DeadMessages")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "10"})
        sqs.create_queue(QueueName="OtherAppQueue", Attributes={"RedrivePolicy": policy})
        start_cluster(ctx, write_fleet_file(tmp_path), wait_seconds=5, poll_seconds=0.01)
        plan = load_monitor_file(tmp_path / "files" / f"{APP}SpotFleetRequestId.json")
        steps = {s.name: s for s in Teardown(plan, ctx.session).run()}
        step = steps["delete dead-letter queue if empty"]
        assert step.ok and step.detail == "kept DeadMessages: still the dead-letter queue of OtherAppQueue"
        assert sqs.get_queue_url(QueueName="DeadMessages")["QueueUrl"] == dead
        assert [u for u in sqs.list_queues()["QueueUrls"] if u.endswith(QUEUE)] == []  # this app's queue is gone


def test_dead_letter_queue_no_other_queue_uses_is_deleted_when_empty(tmp_path: Path) -> None:
    with mock_aws():
        ctx = make_ctx(tmp_path)
        setup_account(ctx)
        setup(ctx)
        start_cluster(ctx, write_fleet_file(tmp_path), wait_seconds=5, poll_seconds=0.01)
        plan = load_monitor_file(tmp_path / "files" / f"{APP}SpotFleetRequestId.json")
        steps = {s.name: s for s in Teardown(plan, ctx.session).run()}
        assert steps["delete dead-letter queue if empty"].detail == f"{APP}DeadMessages was empty, deleted"


def test_a_spot_fleet_run_of_an_earlier_version_is_watched_and_torn_down(tmp_path: Path) -> None:
    """A monitor file written before EC2 Fleets: it names a Spot Fleet request (sfr-...) and no launch template."""
    with mock_aws():
        ctx = make_ctx(tmp_path, ON_DEMAND_AFTER_INTERRUPTIONS="2")
        setup_account(ctx)
        setup(ctx)
        submit(ctx, write_job_file(tmp_path, 3))
        subnet, group = network()
        spec = {"ImageId": "ami-fad25980", "InstanceType": "m5.large", "SubnetId": subnet}
        spec["SecurityGroups"] = [{"GroupId": group}]
        spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [{"Key": "ds:app", "Value": APP}]}]
        ec2 = boto3.client("ec2", region_name=REGION)
        fleet_id = ec2.request_spot_fleet(  # as that version's startCluster asked for it
            SpotFleetRequestConfig={
                "IamFleetRole": f"arn:aws:iam::123456789012:role/{APP}-fleet",
                "TargetCapacity": 2,
                "AllocationStrategy": "priceCapacityOptimized",
                "LaunchSpecifications": [spec],
                "Type": "maintain",
                "TagSpecifications": [
                    {"ResourceType": "spot-fleet-request", "Tags": [{"Key": "ds:app", "Value": APP}]}
                ],
            }
        )["SpotFleetRequestId"]
        plan = asdict(app_plan(ctx, "20240101T000000Z-abcd", fleet_id, start_time_ms=0, on_demand_after=2))
        del plan["launch_template"]  # that version's RunRecord had none
        # The on-demand machine that version's fallback started beside the Spot Fleet (RunInstances, tagged).
        run_tags = [{"Key": "ds:app", "Value": APP}, {"Key": "ds:run", "Value": plan["run_id"]}]
        [beside] = ec2.run_instances(
            ImageId="ami-fad25980",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [*run_tags, {"Key": "ds:capacity", "Value": "on-demand"}]}
            ],
        )["Instances"]
        old = tmp_path / "files" / f"{APP}SpotFleetRequestId.json"
        old.parent.mkdir(exist_ok=True)
        old.write_text(json.dumps({"MONITOR_FLEET_ID": fleet_id, "MONITOR_APP_NAME": APP, "plan": plan}))
        watched = make_ctx(tmp_path, ON_DEMAND_AFTER_INTERRUPTIONS="2")
        watcher = Monitor(watched, load_monitor_file(old), cheapest=True, cheapest_after=0, interval=0)
        assert fleet_state(fleet_id) == (None, 3)  # no EC2 Fleet by that id; the Spot Fleet's two, the one beside
        assert watcher.poll() is False  # jobs wait; cheapest asks for one machine: the on-demand one covers it
        [config] = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet_id])["SpotFleetRequestConfigs"]
        assert config["SpotFleetRequestConfig"]["TargetCapacity"] == 0
        assert "no on-demand machine is started for it" in output(watched)
        assert drain(QUEUE) == 3
        assert monitor(watched, old, interval=0) == 0, output(watched)
        assert f"ok  delete fleet: {fleet_id} cancelled, its instances terminating" in output(watched)
        assert "ok  delete launch template: none" in output(watched)
        assert "ok  terminate on-demand machines: 1 terminating" in output(watched)
        assert states(beside["InstanceId"]) == ["terminated"]
        assert ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet_id])["SpotFleetRequestConfigs"] == []
        assert fleet_state(fleet_id) == (None, 0)  # moto forgets a cancelled request; its machines are gone
