"""Nothing of another app is touched: ownership by tag and exact name, never by a name prefix.

Two apps whose names share a beginning (`Foo` and `Foo-Bar`, `Foo` and `FooBar`) run side by
side in one account: teardown, cleanup and the auto-monitor Lambda of `Foo` leave every resource
of the other, and no resource pattern of `Foo`'s IAM policies matches one of the other's. A
dead-letter queue shared by two apps: each app's status, retryFailed and cleanup see and touch
only the failed jobs it sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands.cleanup import cleanup
from ds_runtime.control.commands.cluster import start_cluster
from ds_runtime.control.commands.monitor import monitor
from ds_runtime.control.commands.retry import retry_failed
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.context import Context
from ds_runtime.control.common.run_record import load_monitor_file
from ds_runtime.control.resources.account import roles, setup_account, user_policy
from ds_runtime.control.resources.teardown import PLAN_ENV, lambda_handler
from ds_runtime.control.views.status import collect
from ds_runtime.outcomes import APP_ATTRIBUTE, default_prefix

from ._control_support import REGION, drain, make_ctx, output, put_messages, write_fleet_file, write_job_file

BUCKET = "echo-bucket"
ON = "'True'"


def app_ctx(folder: Path, app: str, **overrides: str) -> Context:
    """An app of its own in `folder` (config.py names its queues and log group after APP_NAME)."""
    folder.mkdir(exist_ok=True)
    return make_ctx(folder, APP_NAME=f"'{app}'", AUTO_MONITOR=ON, CREATE_DASHBOARD=ON, **overrides)


def started(folder: Path, app: str, **overrides: str) -> Path:
    """The app's account roles, setup, 3 jobs and a started cluster (with its auto-monitor); its monitor file."""
    ctx = app_ctx(folder, app, **overrides)
    setup_account(ctx)
    setup(ctx)
    assert submit(ctx, write_job_file(folder, 3)) == 0
    assert start_cluster(ctx, write_fleet_file(folder), wait_seconds=5, poll_seconds=0.01) == 0
    return folder / "files" / f"{app}SpotFleetRequestId.json"


def alarms() -> set[str]:
    found = boto3.client("cloudwatch", region_name=REGION).describe_alarms()
    return {a["AlarmName"] for a in found["MetricAlarms"]}


def resources_of(app: str) -> dict[str, bool]:
    """Whether each of the app's named resources still exists."""
    sqs, ecs = boto3.client("sqs", region_name=REGION), boto3.client("ecs", region_name=REGION)
    queues = {u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])}
    functions = {f["FunctionName"] for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]}
    services = ecs.describe_services(cluster="echo-cluster", services=[f"{app}Service"])["services"]
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    dashboards = boto3.client("cloudwatch", region_name=REGION).list_dashboards()["DashboardEntries"]
    return {
        "queue": f"{app}Queue" in queues,
        "alarm": f"{app}-queue-empty" in alarms(),
        "Lambda": f"{app}-teardown" in functions,
        "service": any(s["status"] == "ACTIVE" for s in services),
        "log group": app in {g["logGroupName"] for g in groups},
        "dashboard": app in {d["DashboardName"] for d in dashboards},
    }


@pytest.fixture
def two_apps(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, Path, str]]:
    """App Foo and app `other` (a name beginning like Foo's), both running: their monitor files and the other name."""
    other = request.param
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        foo = started(tmp_path / "foo", "Foo")
        bar = started(tmp_path / "other", other)
        assert all(resources_of("Foo").values()) and all(resources_of(other).values())
        yield foo, bar, other


SIMILAR = ["Foo-Bar", "FooBar", "Foo_queue"]


@pytest.mark.parametrize("two_apps", SIMILAR, indirect=True)
def test_teardown_of_one_app_leaves_an_app_whose_name_begins_the_same(two_apps: tuple[Path, Path, str]) -> None:
    foo, _, other = two_apps
    drain("FooQueue")  # Foo's jobs are done; Foo-Bar's still wait
    ctx = app_ctx(foo.parent.parent, "Foo")
    assert monitor(ctx, foo, interval=0) == 0, output(ctx)
    left = {kind for kind, exists in resources_of("Foo").items() if exists}
    assert left == {"log group"}  # exported to S3 and kept, as teardown does
    assert all(resources_of(other).values()), resources_of(other)  # its alarm too: it still tears itself down


@pytest.mark.parametrize("two_apps", SIMILAR, indirect=True)
def test_the_auto_monitor_lambda_of_one_app_leaves_the_other(
    two_apps: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    foo, _, other = two_apps
    monkeypatch.setenv(PLAN_ENV, json.dumps(load_monitor_file(foo).to_monitor()["plan"]))
    result = lambda_handler({}, None)  # the queue-empty alarm's call
    assert result["stopped"] and result["ok"], result
    assert "Foo-queue-empty" not in alarms()
    assert all(resources_of(other).values()), resources_of(other)


@pytest.mark.parametrize("two_apps", SIMILAR, indirect=True)
def test_cleanup_of_one_app_leaves_the_other(two_apps: tuple[Path, Path, str]) -> None:
    foo, _, other = two_apps
    ctx = app_ctx(foo.parent.parent, "Foo")
    assert cleanup(ctx, yes=True, files=foo.parent) == 0, output(ctx)
    assert f"{other}-queue-empty" not in output(ctx)
    assert not any(resources_of("Foo").values()), resources_of("Foo")
    assert all(resources_of(other).values()), resources_of(other)


def _arn_pattern(resource: str) -> re.Pattern[str]:
    """An IAM resource pattern as a regex: `*` any run of characters (`/` and `:` too), `?` one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource))


READ_ONLY = re.compile(r"[a-z0-9-]+:(Get|List|Describe)[A-Za-z]*")


def _named_patterns(policy: dict[str, Any]) -> list[str]:
    """The resource patterns that let something be changed by name: not `*`, not those a tag condition narrows,
    not reading (a run reads the buckets it shares with other apps)."""
    return [
        resource
        for statement in policy["Statement"]
        if "Condition" not in statement and not all(READ_ONLY.fullmatch(a) for a in statement["Action"])
        for resource in statement["Resource"]
        if resource != "*"
    ]


def _resources_named_after(ctx: Context, account: str) -> list[str]:
    """ARNs of what one app creates with its name in it (its cluster may be shared, so not its tasks)."""
    c, region = ctx.config, REGION
    return [
        ctx.queue_arn(c.SQS_QUEUE_NAME),
        ctx.queue_arn(c.SQS_DEAD_LETTER_QUEUE),
        *(f"arn:aws:logs:{region}:{account}:log-group:{g}:log-stream:x" for g in ctx.log_groups),
        f"arn:aws:ecs:{region}:{account}:service/{c.ECS_CLUSTER}/{ctx.service_name}",
        f"arn:aws:events:{region}:{account}:rule/{ctx.cap_rule}",
        f"arn:aws:cloudwatch:{region}:{account}:alarm:{ctx.queue_empty_alarm}",
        f"arn:aws:cloudwatch::{account}:dashboard/{ctx.dashboard_name}",
        f"arn:aws:lambda:{region}:{account}:function:{ctx.monitor_function}",
        f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{ctx.monitor_function}:log-stream:x",
        *(ctx.role_arn(f"{c.APP_NAME}-{kind}") for kind in ("instance", "task", "monitor")),
        f"arn:aws:s3:::{c.AWS_BUCKET}/{default_prefix(c.APP_NAME)}/0123456789abcdef/x-001-done.json",
    ]


@pytest.mark.parametrize("other", SIMILAR)
def test_no_policy_of_one_app_names_a_resource_of_an_app_whose_name_begins_the_same(tmp_path: Path, other: str) -> None:
    with mock_aws():
        foo, bar = app_ctx(tmp_path / "foo", "Foo"), app_ctx(tmp_path / "other", other)
        account = foo.account_id
        policies = {role.name: role.policy for role in roles(foo)} | {"the commands' policy": user_policy(foo)}
        theirs = _resources_named_after(bar, account)
        ours = _resources_named_after(foo, account)
        for name, policy in policies.items():
            patterns = _named_patterns(policy)
            if name == "the commands' policy":  # a person's uploadInputs writes anywhere in the run's buckets
                patterns = [p for p in patterns if not p.startswith("arn:aws:s3:::")]
            for pattern in patterns:
                matched = [arn for arn in theirs if _arn_pattern(pattern).fullmatch(arn)]
                assert not matched, f"{name}: {pattern} also grants {other}'s {matched}"
        # The check can fail: Foo's own resources are granted by those same patterns.
        granted = {arn for p in _named_patterns(user_policy(foo)) for arn in ours if _arn_pattern(p).fullmatch(arn)}
        assert f"arn:aws:cloudwatch:{REGION}:{account}:alarm:Foo-queue-empty" in granted


# ---------------------------------------------------------------- a dead-letter queue two apps share

SHARED_DLQ = "'SharedDeadMessages'"


def _fail_every_job(queue: str, tries: int = 3) -> None:
    """Play workers that fail: receive each message JOB_RETRIES times, never deleting; SQS then moves it
    to the dead-letter queue (on the next receive), as it does on AWS."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for _ in range(tries + 2):
        while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages"):
            pass


def _dead_letters_by_app() -> dict[str, int]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=SHARED_DLQ.strip("'"))["QueueUrl"]
    found: dict[str, set[str]] = {}
    for _ in range(5):
        for m in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=[APP_ATTRIBUTE]
        ).get("Messages", []):
            app = m.get("MessageAttributes", {}).get(APP_ATTRIBUTE, {}).get("StringValue", "")
            found.setdefault(app, set()).add(m["MessageId"])
    return {app: len(ids) for app, ids in found.items()}


@pytest.fixture
def shared_dead_letters(tmp_path: Path) -> Iterator[tuple[Context, Context]]:
    """Apps Foo (2 failed jobs) and Foo-Bar (3) whose queues share one dead-letter queue."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        contexts = []
        for app, jobs in (("Foo", 2), ("Foo-Bar", 3)):
            folder = tmp_path / app
            folder.mkdir()
            ctx = make_ctx(folder, APP_NAME=f"'{app}'", SQS_DEAD_LETTER_QUEUE=SHARED_DLQ, JOB_RETRIES="3")
            setup_account(ctx)
            setup(ctx)
            assert submit(ctx, write_job_file(folder, jobs)) == 0
            _fail_every_job(ctx.config.SQS_QUEUE_NAME)
            contexts.append(ctx)
        assert _dead_letters_by_app() == {"Foo": 2, "Foo-Bar": 3}  # the redrive keeps whose they are
        yield contexts[0], contexts[1]


def test_status_counts_only_this_apps_dead_letters(shared_dead_letters: tuple[Context, Context]) -> None:
    foo, _ = shared_dead_letters
    found = collect(foo)
    assert found.counts["dead-lettered"] == 2
    assert any("3 message(s) in SharedDeadMessages are not Foo's" in note for note in found.notes), found.notes


def test_retry_failed_puts_back_only_this_apps_jobs(shared_dead_letters: tuple[Context, Context]) -> None:
    foo, _ = shared_dead_letters
    assert retry_failed(foo) == 0, output(foo)
    assert "2 job(s) put back on FooQueue" in output(foo)
    assert _dead_letters_by_app() == {"Foo-Bar": 3}
    sqs = boto3.client("sqs", region_name=REGION)
    back = sqs.receive_message(
        QueueUrl=foo.require_queue(), MaxNumberOfMessages=10, MessageAttributeNames=[APP_ATTRIBUTE]
    )["Messages"]
    assert len(back) == 2 and {m["MessageAttributes"][APP_ATTRIBUTE]["StringValue"] for m in back} == {"Foo"}


def test_cleanup_deletes_only_this_apps_failed_jobs_and_keeps_the_shared_queue(
    shared_dead_letters: tuple[Context, Context],
) -> None:
    foo, bar = shared_dead_letters
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.delete_queue(QueueUrl=bar.require_queue())  # Foo-Bar's run is over; its failed jobs wait to be looked at
    assert cleanup(foo, yes=True, files=Path("no-monitor-files")) == 0, output(foo)
    assert _dead_letters_by_app() == {"Foo-Bar": 3}
    assert "2 failed job(s) of Foo deleted" in output(foo) and "kept SharedDeadMessages" in output(foo)


def test_local_mode_sets_up_an_apps_roles_even_when_a_similar_apps_exist(tmp_path: Path) -> None:
    from ds_runtime.local.backend import prepare_account

    with mock_aws():
        setup_account(app_ctx(tmp_path / "other", "Foo-Bar"))  # Foo-Bar-task begins with Foo
        prepare_account(app_ctx(tmp_path / "foo", "Foo"))
        names = {r["RoleName"] for r in boto3.client("iam", region_name=REGION).list_roles()["Roles"]}
        assert {"Foo-instance", "Foo-task", "Foo-monitor"} <= names


def test_status_counts_this_apps_dead_letters_among_many_of_another_app(
    shared_dead_letters: tuple[Context, Context],
) -> None:
    """200 more of Foo-Bar's failed jobs: Foo's status still says 2, not 2 plus every message it did not look at."""
    foo, _ = shared_dead_letters
    put_messages(SHARED_DLQ.strip("'"), (json.dumps({"sample": f"more-{i}"}) for i in range(200)), app="Foo-Bar")
    found = collect(foo)
    assert found.counts["dead-lettered"] == 2
    assert any("203 message(s) in SharedDeadMessages are not Foo's" in note for note in found.notes), found.notes
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=SHARED_DLQ.strip("'"))["QueueUrl"]
    visible = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert visible["ApproximateNumberOfMessages"] == "205"  # every message given back
