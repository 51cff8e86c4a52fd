"""Cost and failure visibility: estimate, confirmation, status, retryFailed, cleanup and the caps."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console

from ds_runtime.config import ConfigError, load_config
from ds_runtime.control.commands.cleanup import cleanup, find
from ds_runtime.control.commands.cluster import start_cluster
from ds_runtime.control.commands.monitor import Monitor, monitor
from ds_runtime.control.commands.retry import retry_failed
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.confirm import always, confirm_policy
from ds_runtime.control.common.context import CommandError, Context
from ds_runtime.control.common.run_record import load_monitor_file
from ds_runtime.control.machines.ec2_fleet import Ec2Fleet
from ds_runtime.control.machines.on_demand_prices import on_demand_price
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.resources.teardown import CHECK_CAPS, PLAN_ENV, Spend, lambda_handler
from ds_runtime.control.views.estimate import Estimate, Price, estimate_command, make_estimate
from ds_runtime.control.views.status import status
from ds_runtime.entry import main
from ds_runtime.jobs import read_job_file
from ds_runtime.local.backend import LocalBackend
from ds_runtime.outcomes import Outcome, app_attribute, default_prefix, write_outcome

from ._control_support import (
    APP,
    REGION,
    drain,
    fleet_instances,
    make_ctx,
    output,
    queue_counts,
    spec,
    write_config,
    write_fleet_file,
    write_job_file,
    write_spec,
)

QUEUE, DLQ, BUCKET = f"{APP}Queue", f"{APP}DeadMessages", "echo-bucket"
MOTO_SPOT_PRICE = 0.00001  # moto's constant spot price for every type and zone
ON = "'True'"


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[Path]:
    """The emulator with the bucket, the account roles and `setup` done."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        ctx = make_ctx(tmp_path)
        setup_account(ctx)
        setup(ctx)
        yield tmp_path


def monitor_file(folder: Path) -> Path:
    return folder / "files" / f"{APP}SpotFleetRequestId.json"


def started(folder: Path, jobs: int = 4, **overrides: str) -> Context:
    """Jobs submitted and the cluster started (no question asked); the context used."""
    ctx = make_ctx(folder, **overrides)
    submit(ctx, write_job_file(folder, jobs))
    assert start_cluster(ctx, write_fleet_file(folder), wait_seconds=5, poll_seconds=0.01) == 0
    return ctx


def outcome(job_id: str, state: str, attempt: int = 1, seconds: float = 60.0, **extra) -> Outcome:
    finished = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=attempt)
    return Outcome(
        job_id=job_id,
        attempt=attempt,
        state=state,  # type: ignore[arg-type]
        started_at=(finished - timedelta(seconds=seconds)).isoformat(),
        finished_at=finished.isoformat(),
        duration_seconds=seconds,
        host="i-test",
        **extra,
    )


def record(*outcomes: Outcome) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for item in outcomes:
        write_outcome(s3, BUCKET, default_prefix(APP), item)


def send(queue: str, *bodies: str) -> None:
    """Messages of this app, as submitJob and the workers mark them."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=app_attribute(APP))


def finish_all(queue: str) -> list[str]:
    """Play the workers: take and delete every message of a queue; their job ids."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(m["Body"])["_job_id"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


def fleet_alive(fleet_id: str) -> bool:
    fleets = boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"]
    return any(f["FleetId"] == fleet_id and f["FleetState"] == "active" for f in fleets)


def live_machines() -> int:
    ec2 = boto3.client("ec2", region_name=REGION)
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:ds:app", "Values": [APP]}])["Reservations"]
    return sum(i["State"]["Name"] in ("pending", "running") for r in reservations for i in r["Instances"])


# ---------------------------------------------------------------- estimate


def test_estimate_arithmetic_by_hand() -> None:
    start = datetime(2025, 1, 1, 12, tzinfo=timezone.utc)
    # 100 jobs x 360 s on 2 machines x 2 tasks x 1 core: 36,000 s / 4 = 9,000 s = 2.5 h of wall clock,
    # 2 machines -> 5 machine-hours, at $0.04 -> $0.20, done at 14:30.
    e = Estimate(100, 360.0, "given", machines=2, slots=4, price=Price(0.04, "test", False), start=start)
    assert e.hours == pytest.approx(2.5)
    assert e.machine_hours == pytest.approx(5.0)
    assert e.dollars == pytest.approx(0.20)
    assert e.finish == datetime(2025, 1, 1, 14, 30, tzinfo=timezone.utc)


def test_estimate_slots_use_machines_tasks_and_cores(aws: Path) -> None:
    ctx = make_ctx(aws, CLUSTER_MACHINES="3", TASKS_PER_MACHINE="2", DOCKER_CORES="4")
    e = make_estimate(ctx, jobs=240, job_seconds=90)
    assert e.slots == 24  # 3 x 2 x 4
    # 240 x 90 s / 24 = 900 s = 0.25 h; x 3 machines = 0.75 machine-hours
    assert (e.hours, e.machine_hours) == (pytest.approx(0.25), pytest.approx(0.75))


def test_estimate_command_uses_the_spot_price(aws: Path) -> None:
    ctx = make_ctx(aws)
    assert estimate_command(ctx, write_job_file(aws, 8), job_seconds=900, as_json=True) == 0
    data = json.loads(output(ctx))
    # 8 x 900 s / (2 x 2 x 1) = 1,800 s = 0.5 h; x 2 machines = 1 machine-hour at moto's spot price.
    assert data["price"]["fallback"] is False and "spot price now of" in data["price"]["source"]
    assert data["machine_hours"] == pytest.approx(1.0)
    assert data["dollars"] == pytest.approx(1.0 * MOTO_SPOT_PRICE)
    text_ctx = make_ctx(aws)
    estimate_command(text_ctx, write_job_file(aws, 8), job_seconds=900)
    assert "machine-hours: 1.00" in output(text_ctx) and "expected finish" in output(text_ctx)


def test_estimate_falls_back_to_machine_price_and_says_so(aws: Path) -> None:
    # EC2 has no spot price history for this type: MACHINE_PRICE (0.10), the max bid, is used.
    ctx = make_ctx(aws, MACHINE_TYPE="['zz9.nohistory']")
    assert estimate_command(ctx, write_job_file(aws, 8), job_seconds=900, as_json=True) == 0
    data = json.loads(output(ctx))
    assert data["price"] == {"dollars_per_hour": 0.10, "source": data["price"]["source"], "fallback": True}
    assert "MACHINE_PRICE" in data["price"]["source"] and "zz9.nohistory" in data["price"]["source"]
    assert data["dollars"] == pytest.approx(0.10)  # 1 machine-hour x $0.10
    assert data["dollars_per_hour"] == pytest.approx(0.20)  # 2 machines


def test_estimate_prices_the_on_demand_fallback_when_it_is_on(aws: Path) -> None:
    off = make_ctx(aws)
    assert estimate_command(off, write_job_file(aws, 8), job_seconds=900) == 0
    assert "on-demand" not in output(off)
    ctx = make_ctx(aws, ON_DEMAND_AFTER_INTERRUPTIONS="3", MAX_COST="0.05")
    assert estimate_command(ctx, write_job_file(aws, 8), job_seconds=900) == 0
    text = " ".join(output(ctx).split())  # the console wraps long lines
    # MACHINE_TYPE m5.large ($0.096) and c5.large ($0.085): the dearer bounds what the fallback costs.
    assert "on-demand fallback (ON_DEMAND_AFTER_INTERRUPTIONS = 3): if spot runs short, up to 2 on-demand" in text
    assert "$0.0960 per machine-hour (m5.large's Linux on-demand list price in us-east-1" in text
    assert "= $0.1920 per hour" in text
    assert "the whole run on-demand: about $0.10" in text  # 1 machine-hour x $0.096
    assert "on-demand machines for the whole run would reach MAX_COST $0.05" in text
    json_ctx = make_ctx(aws, ON_DEMAND_AFTER_INTERRUPTIONS="3")
    estimate_command(json_ctx, write_job_file(aws, 8), job_seconds=900, as_json=True)
    data = json.loads(output(json_ctx))
    assert data["on_demand_after"] == 3 and data["on_demand_dollars"] == pytest.approx(0.096)
    assert data["on_demand"]["dollars_per_hour"] == 0.096


def test_an_on_demand_price_not_in_the_table_is_unknown_and_said_so(aws: Path) -> None:
    ctx = make_ctx(aws, ON_DEMAND_AFTER_INTERRUPTIONS="1", MACHINE_TYPE="['m5.large', 'zz9.new']", MAX_COST="5")
    assert estimate_command(ctx, write_job_file(aws, 8), job_seconds=900) == 0
    text = " ".join(output(ctx).split())  # the console wraps long lines
    assert "on-demand price of zz9.new unknown (not in the table): see https://aws.amazon.com/ec2/pricing" in text
    assert "MAX_COST counts on-demand machines at the spot price (theirs is unknown)" in text
    elsewhere = on_demand_price("eu-west-1", ["m5.large"])
    assert elsewhere.dollars_per_hour is None and "unknown in eu-west-1" in elsewhere.source


def test_estimate_prices_gpu_machine_types_spot_and_on_demand(aws: Path) -> None:
    """The cheapest GPU type's spot price (DescribeSpotPriceHistory); the fallback at the dearest's list price."""
    types = "['g4dn.xlarge', 'g5.xlarge']"
    ctx = make_ctx(aws, MACHINE_TYPE=types, TASKS_PER_MACHINE="1", ON_DEMAND_AFTER_INTERRUPTIONS="2")
    now = datetime.now(timezone.utc)
    history = [
        {"InstanceType": t, "AvailabilityZone": f"{REGION}a", "SpotPrice": p, "Timestamp": now}
        for t, p in (("g4dn.xlarge", "0.2104"), ("g5.xlarge", "0.4413"))
    ]
    with Stubber(ctx.client("ec2")) as ec2:
        ec2.add_response("describe_spot_price_history", {"SpotPriceHistory": history})
        estimate = make_estimate(ctx, jobs=10, job_seconds=720)
    assert (estimate.price.dollars_per_hour, estimate.price.fallback) == (0.2104, False)
    assert estimate.price.source == f"spot price now of g4dn.xlarge in {REGION}a (cheapest type)"
    # 10 x 720 s / (2 machines x 1 task x 1 core) = 1 h; 2 machine-hours.
    assert estimate.dollars == pytest.approx(2 * 0.2104)
    assert estimate.on_demand is not None and estimate.on_demand.dollars_per_hour == 1.006  # g5.xlarge
    assert estimate.on_demand_dollars == pytest.approx(2 * 1.006)
    assert on_demand_price(REGION, ["g4dn.xlarge"]).dollars_per_hour == 0.526


def test_estimate_measures_the_median_of_finished_jobs(aws: Path) -> None:
    record(
        outcome("a", "done", seconds=100),
        outcome("b", "done", seconds=600),
        outcome("c", "failed", seconds=5000),  # not finished: not measured
        outcome("c", "done", attempt=2, seconds=200),
    )
    ctx = make_ctx(aws)
    e = make_estimate(ctx, jobs=4)
    assert e.job_seconds == 200 and "median of 3 finished job(s)" in e.job_seconds_source
    unknown = make_estimate(make_ctx(aws, APP_NAME="'Other'"), jobs=4)
    assert unknown.job_seconds is None and "--job-seconds" in unknown.job_seconds_source


# ---------------------------------------------------------------- startCluster asks first


def test_start_cluster_shows_the_plan_and_can_be_declined(aws: Path) -> None:
    ctx = make_ctx(aws)
    submit(ctx, write_job_file(aws, 12))
    questions: list[str] = []
    code = start_cluster(ctx, write_fleet_file(aws), wait_seconds=5, confirm=lambda q: questions.append(q) or False)
    assert code == 1 and "nothing was started" in output(ctx)
    assert "jobs: 12" in output(ctx) and "per machine-hour" in output(ctx)
    assert questions == ["Start 2 machine(s) at up to $0.1/h each?"]
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []
    assert not monitor_file(aws).exists()


def test_confirm_policy(tmp_path: Path) -> None:
    local = Context(None, None, None, backend=LocalBackend(tmp_path))  # type: ignore[arg-type]
    cloud = Context(None, None, None)  # type: ignore[arg-type]
    assert confirm_policy(local, yes=False, command="startCluster", is_tty=lambda: False) is None  # free: never asks
    assert confirm_policy(cloud, yes=True, command="startCluster", is_tty=lambda: False) is always
    with pytest.raises(CommandError, match="--yes"):
        confirm_policy(cloud, yes=False, command="startCluster", is_tty=lambda: False)
    assert callable(confirm_policy(cloud, yes=False, command="startCluster", is_tty=lambda: True))


def test_cli_start_cluster_refuses_without_terminal_or_yes(
    aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(aws)
    write_spec(aws)
    fleet = write_fleet_file(aws)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    argv = ["--config", "config.py", "--spec", "spec.json", "startCluster", str(fleet), "--wait", "5"]
    assert main(argv, console=Console(file=io.StringIO())) == 2
    assert "add --yes" in capsys.readouterr().err
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []
    console = Console(file=io.StringIO(), width=200)
    assert main([*argv, "--yes", "--job-seconds", "60"], console=console) == 0
    assert "startCluster plan" in console.file.getvalue() and "cost: about $" in console.file.getvalue()
    plan = load_monitor_file(monitor_file(aws))
    assert plan.price_per_hour == MOTO_SPOT_PRICE and "spot price" in plan.price_source


# ---------------------------------------------------------------- status


@pytest.fixture
def mixed(aws: Path) -> Iterator[tuple[Context, list[str]]]:
    """Six jobs: two done (one after a retry, one after a spot interruption), one skipped, one failed once,
    two dead-lettered."""
    ctx = make_ctx(aws)
    jobs = [j.job_id for j in read_job_file(write_job_file(aws, 6), ctx.spec)]
    submit(ctx, aws / "job.json")
    bodies = {j.job_id: j.message_body() for j in read_job_file(aws / "job.json", ctx.spec)}
    record(
        outcome(jobs[0], "interrupted", attempt=1, interruptions=1),
        outcome(jobs[0], "done", attempt=2, interruptions=1),
        outcome(jobs[1], "failed", attempt=1, exit_code=1),
        outcome(jobs[1], "done", attempt=2),
        outcome(jobs[2], "skipped"),
        outcome(jobs[3], "failed", exit_code=2, tail=["reading", "Error: bad input"]),
        *(
            outcome(
                jobs[4],
                "failed",
                attempt=n,
                exit_code=3,
                tail=["line 1", "line 2", "line 3", "Killed: out of memory"],
                log_group=APP,
                log_stream=f"{APP}/{jobs[4]}/{n}",
            )
            for n in (1, 2, 3)
        ),
    )
    # jobs 4 and 5 dead-lettered; job 4 twice (SQS delivers at least once)
    send(DLQ, bodies[jobs[4]], bodies[jobs[4]], bodies[jobs[5]])
    # the queue: jobs 3, 4, 5 taken off it, two of the rest in flight now
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    drain(QUEUE)
    for job_id in jobs[:3]:
        sqs.send_message(QueueUrl=url, MessageBody=bodies[job_id])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=300)
    yield ctx, jobs


def test_status_counts_and_explains_failures(mixed: tuple[Context, list[str]]) -> None:
    ctx, jobs = mixed
    ctx = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=200))
    assert status(ctx, as_json=True) == 0
    data = json.loads(output(ctx))
    assert data["counts"] == {
        "queued": 1,
        "running": 2,
        "done": 2,
        "failed": 1,
        "dead-lettered": 2,  # jobs, though job 4 is there twice
        "skipped": 1,
        "interrupted": 0,
    }
    problems = {p["job_id"]: p for p in data["problems"]}
    assert set(problems) == {jobs[3], jobs[4], jobs[5]}
    dead = problems[jobs[4]]
    assert (dead["state"], dead["attempts"], dead["exit_code"], dead["copies"]) == ("dead-lettered", 3, 3, 2)
    assert dead["fields"] == {"sample": "sample-4"}
    assert dead["tail"][-1] == "Killed: out of memory" and dead["log_stream"] == f"{APP}/{jobs[4]}/3"
    assert "no outcome record" in problems[jobs[5]]["error"] and problems[jobs[5]]["log_group"] == APP
    assert (problems[jobs[3]]["state"], problems[jobs[3]]["exit_code"]) == ("failed", 2)
    assert queue_counts(DLQ) == (3, 0)  # only peeked at: nothing consumed or hidden
    assert data["interruptions"] == {jobs[0]: 1}  # an interruption is not a failure: job 0 counts as done
    assert all(p["interruptions"] == 0 for p in data["problems"])

    text_ctx = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=250))
    assert status(text_ctx) == 0
    text = output(text_ctx)
    assert "dead-lettered: 2" in text and "sample-4" in text and "Killed: out of memory" in text
    assert "retryFailed" in text
    assert f"interruptions (not failures): 1 of 1 job(s): {jobs[0]} x1" in text


def test_status_reads_at_80_columns(mixed: tuple[Context, list[str]]) -> None:
    ctx, jobs = mixed
    narrow = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=80))
    assert status(narrow) == 0
    lines = output(narrow).splitlines()
    assert all(len(line) <= 80 for line in lines)
    rows = [line for line in lines if line.startswith("│")]
    assert any("│ dead-lettered x2 │" in line and line.endswith(f"│ {jobs[4]} │") for line in rows)  # whole, one line
    assert not any("Killed" in line or "no outcome record" in line for line in rows)  # reasons below, not in cells
    assert "    | Killed: out of memory" in lines and f"    log: {APP} {APP}/{jobs[4]}/3" in lines


def test_status_says_why_finished_jobs_were_skipped_or_ran_again(mixed: tuple[Context, list[str]]) -> None:
    ctx, jobs = mixed
    skip = "done in attempt 2 (done 2025-01-01T00:02:00) with the same image, command, spec and inputs"
    again = "changed since attempt 2 (done 2025-01-01T00:02:00): input s3://b/pipe.cppipe changed (ETag 1 -> 2)"
    record(
        outcome(jobs[0], "skipped", attempt=3, resume_reason=skip),
        outcome(jobs[1], "done", attempt=3, resume_reason=again),
        outcome(jobs[3], "failed", attempt=2, exit_code=2, resume_reason=again),
    )
    text_ctx = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=250))
    assert status(text_ctx) == 0
    text = output(text_ctx)
    assert f"  {jobs[0]} skipped: {skip}" in text and f"  {jobs[1]} ran again: {again}" in text
    assert f"(it ran again: {again})" in text  # the failed job's reason says what changed
    json_ctx = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=200))
    assert status(json_ctx, as_json=True) == 0
    data = json.loads(output(json_ctx))
    assert data["resumed"] == {
        jobs[0]: {"state": "skipped", "reason": skip},
        jobs[1]: {"state": "done", "reason": again},
    }
    assert {p["job_id"]: p["resume_reason"] for p in data["problems"]}[jobs[3]] == again


# ---------------------------------------------------------------- retryFailed


def test_retry_failed_then_a_clean_finish(aws: Path) -> None:
    ctx = started(aws, jobs=3)
    bodies = {j.job_id: j.message_body() for j in read_job_file(aws / "job.json", ctx.spec)}
    ids = list(bodies)
    assert drain(QUEUE) == 3  # the workers took them; all three failed for good:
    send(DLQ, bodies[ids[0]], bodies[ids[0]], bodies[ids[1]], bodies[ids[2]])

    named = make_ctx(aws)
    assert retry_failed(named, [ids[0], "0000000000000000"]) == 1  # one named job is not there
    assert "0000000000000000: not found" in output(named)
    assert queue_counts(QUEUE) == (1, 0) and queue_counts(DLQ) == (2, 0)  # both copies of job 0 gone, the rest back

    assert retry_failed(make_ctx(aws)) == 0
    assert queue_counts(DLQ) == (0, 0)
    assert sorted(finish_all(QUEUE)) == sorted(ids)  # each job once
    drain_ctx = make_ctx(aws)
    assert monitor(drain_ctx, monitor_file(aws), interval=0) == 0
    assert "was empty, deleted" in output(drain_ctx)


# ---------------------------------------------------------------- cleanup


def test_cleanup_after_a_monitor_killed_halfway(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caps = {"AUTO_MONITOR": ON, "CREATE_DASHBOARD": ON, "MAX_HOURS": "5"}
    started(aws, jobs=4, **caps)
    fleet_id = load_monitor_file(monitor_file(aws)).fleet_id
    send(DLQ, '{"sample": "x"}')  # a failed job: cleanup takes it too, after saying so
    files = aws / "files"

    listing = make_ctx(aws, **caps)
    assert cleanup(listing, dry_run=True, files=files) == 0
    kinds = {item.kind for item in find(listing, files).items}
    assert kinds == {
        "fleet",
        "machine",
        "launch template",
        "queue",
        "dead-letter queue",
        "ECS service",
        "task definition",
        "alarm",
        "dashboard",
        "cap schedule",
        "auto-monitor Lambda",
        "ECS cluster",
        "log group",
        "monitor file",
    }
    assert "holds 1 message(s)" in output(listing) and "nothing deleted" in output(listing)
    assert fleet_alive(fleet_id)  # a dry run deletes nothing

    with pytest.raises(CommandError, match="--yes"):  # no terminal, no --yes: refused
        cleanup(make_ctx(aws, **caps), files=files, is_tty=lambda: False)
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    assert cleanup(make_ctx(aws, **caps), files=files, is_tty=lambda: True) == 1
    assert fleet_alive(fleet_id)

    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    done = make_ctx(aws, **caps)
    assert cleanup(done, files=files, is_tty=lambda: True) == 0, output(done)
    assert "FAILED" not in output(done)
    assert find(make_ctx(aws, **caps), files).items == []
    # and directly, not only through cleanup's own eyes:
    assert not fleet_alive(fleet_id) and live_machines() == 0
    assert [u for u in boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) if APP in u] == []
    assert boto3.client("logs", region_name=REGION).describe_log_groups(logGroupNamePrefix=APP)["logGroups"] == []
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
    assert boto3.client("events", region_name=REGION).list_rules(NamePrefix=APP)["Rules"] == []
    assert not monitor_file(aws).exists()
    again = make_ctx(aws, **caps)
    assert cleanup(again, yes=True, files=files) == 0 and "nothing of" in output(again)


# ---------------------------------------------------------------- caps


def test_max_cost_reached_mid_run_cancels_the_fleet(aws: Path) -> None:
    ctx = started(aws, jobs=12, MAX_COST="0.5")
    plan = load_monitor_file(monitor_file(aws))
    assert (plan.max_cost, plan.price_per_hour) == (0.5, MOTO_SPOT_PRICE)
    plan = replace(plan, price_per_hour=0.10)  # a real price, so that hours make dollars
    assert Monitor(ctx, plan, interval=0).poll() is False  # just started: far below the cap
    assert fleet_alive(plan.fleet_id)

    # Three hours later: 2 machines x 3 h = 6 machine-hours x $0.10 = $0.60 >= $0.50.
    later = make_ctx(aws, MAX_COST="0.5")
    watcher = Monitor(later, plan, interval=0, clock=lambda: time.time() + 3 * 3600)
    assert watcher.run() == 0
    text = output(later)
    # 6 machine-hours plus the seconds the machines ran before the faked three hours began
    assert "MAX_COST = $0.5 reached" in text and re.search(r"6\.0\d machine-hours", text)
    assert "STOPPED: MAX_COST" in text  # in the teardown report too
    assert not fleet_alive(plan.fleet_id) and live_machines() == 0
    assert [u for u in boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) if QUEUE in u] == []


def test_spend_counts_on_demand_hours_at_their_price() -> None:
    # 10 machine-hours, 4 of them on-demand: 6 x $0.03 + 4 x $0.192.
    used = Spend(5.0, 10.0, 0.03, on_demand_machine_hours=4.0, on_demand_price_per_hour=0.192)
    assert used.dollars == pytest.approx(0.18 + 0.768)
    assert used.words("spot", "table") == (
        "6.00 machine-hours at $0.0300/h (spot) + 4.00 on-demand machine-hours at $0.1920/h (table)"
    )
    unknown = replace(used, on_demand_price_per_hour=0.0)
    assert unknown.dollars == pytest.approx(0.30)
    assert "(price unknown: counted at the spot price)" in unknown.words("spot", "table")


def test_max_cost_counts_and_stops_the_on_demand_machines(aws: Path) -> None:
    ctx = started(aws, jobs=12, MAX_COST="0.5", ON_DEMAND_AFTER_INTERRUPTIONS="1")
    plan = load_monitor_file(monitor_file(aws))
    assert (plan.on_demand_after, plan.on_demand_price_per_hour) == (1, 0.096)
    assert "m5.large's Linux on-demand list price" in plan.on_demand_price_source
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.terminate_instances(InstanceIds=[fleet_instances(plan.fleet_id)[0]])  # a spot machine lost
    assert Ec2Fleet(ctx, plan).start_on_demand(1) == 1  # spot 1 + on-demand 1
    assert Monitor(make_ctx(aws), plan, interval=0).poll() is False  # just started: far below the cap
    # Six hours later: the on-demand machine's 6 h x $0.096 = $0.58 >= $0.50 (the spot hours, at moto's
    # $0.00001, add almost nothing: counted at the spot price, on-demand hours would not reach the cap).
    watcher = Monitor(make_ctx(aws), plan, interval=0, clock=lambda: time.time() + 6 * 3600)
    assert watcher.run() == 0
    text = output(watcher.ctx)
    assert "MAX_COST = $0.5 reached" in text and re.search(r"6\.0\d on-demand machine-hours at \$0\.0960/h", text)
    assert f"fleet: {plan.fleet_id} deleted, its instances terminating" in text  # the on-demand one too
    assert not fleet_alive(plan.fleet_id) and live_machines() == 0


def test_auto_monitor_checks_max_hours_on_its_schedule(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started(aws, jobs=4, AUTO_MONITOR=ON, MAX_HOURS="2")
    plan = load_monitor_file(monitor_file(aws))
    events = boto3.client("events", region_name=REGION)
    [target] = events.list_targets_by_rule(Rule=make_ctx(aws).cap_rule)["Targets"]
    assert json.loads(target["Input"]) == CHECK_CAPS and target["Arn"].endswith(f":function:{APP}-teardown")
    environment = boto3.client("lambda", region_name=REGION).get_function(FunctionName=f"{APP}-teardown")
    given = json.loads(environment["Configuration"]["Environment"]["Variables"][PLAN_ENV])
    assert given["max_hours"] == 2.0

    monkeypatch.setenv(PLAN_ENV, json.dumps(given))
    assert lambda_handler(CHECK_CAPS, None)["stopped"] is False  # 2 h not reached: nothing happens
    assert fleet_alive(plan.fleet_id)

    monkeypatch.setenv(PLAN_ENV, json.dumps({**given, "max_hours": 1e-6}))  # 3.6 ms: long past
    result = lambda_handler(CHECK_CAPS, None)
    assert result["stopped"] and result["ok"], result
    assert "MAX_HOURS" in result["reason"] and result["steps"][0].startswith("STOPPED: MAX_HOURS")
    assert not fleet_alive(plan.fleet_id) and live_machines() == 0
    assert events.list_rules(NamePrefix=APP)["Rules"] == []


@pytest.mark.parametrize(("key", "value"), [("MAX_COST", "-1"), ("MAX_HOURS", "'ten'")])
def test_caps_are_checked_in_config(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{key} = .* 0 for no cap"):
        load_config(write_config(tmp_path, **{key: value}), spec(), warn=lambda text: None)
    assert load_config(write_config(tmp_path), spec(), warn=lambda text: None).MAX_COST == 0
