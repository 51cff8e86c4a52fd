"""The resources a run creates (resources.py): one entry per kind finds and deletes it, one rule says 'gone'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ds_runtime.control.commands.cleanup import find
from ds_runtime.control.commands.cluster import app_plan
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.resources.catalogue import KINDS, Fleets, LaunchTemplates, Scope, gone
from ds_runtime.control.resources.teardown import Teardown

from ._control_support import APP, REGION, make_ctx


@pytest.mark.parametrize("fleet_id", ["fleet-0123", "sfr-0123"])  # an EC2 Fleet, an earlier version's Spot Fleet
def test_teardown_of_a_run_whose_resources_are_all_gone_says_so_step_by_step(tmp_path: Path, fleet_id: str) -> None:
    """Every step's 'already gone' comes from AWS's own not-found answers: a repeated teardown never fails."""
    with mock_aws():
        ctx = make_ctx(tmp_path)
        plan = app_plan(
            ctx,
            "20260101T000000Z-abcd",
            fleet_id,
            start_time_ms=0,
            dashboard=APP,
            function_name=f"{APP}-teardown",
            schedule_rule=f"{APP}-caps",
            on_demand_after=2,
            launch_template=f"{APP}-20260101T000000Z-abcd",
        )
        steps = Teardown(plan, ctx.session).run()
    assert [s.name for s in steps] == [kind.step for kind in KINDS]
    assert all(s.ok for s in steps), steps
    assert {s.name: s.detail for s in steps}["delete launch template"] == "none"
    gone_steps = {s.name: s.detail for s in steps if s.detail.endswith("already gone")}
    assert gone_steps == {
        "delete fleet": f"{fleet_id} already gone",
        "stop and delete service": f"{APP}Service already gone",
        "delete queue": f"{APP}Queue already gone",
        "delete dead-letter queue if empty": f"{APP}DeadMessages already gone",
        "delete dashboard": f"{APP} already gone",
        "delete cluster if unused": "echo-cluster already gone",
        "delete cap schedule": f"{APP}-caps already gone",
        "delete auto-monitor": f"{APP}-teardown already gone",
    }


def _calls() -> dict[str, Callable[[], Any]]:
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    return {
        "sqs": lambda: client("sqs").get_queue_url(QueueName="nothing"),
        "ecs": lambda: client("ecs").update_service(cluster="nothing", service="nothing", desiredCount=0),
        "lambda": lambda: client("lambda").delete_function(FunctionName="nothing"),
        "events": lambda: client("events").list_targets_by_rule(Rule="nothing"),
        "logs": lambda: client("logs").delete_log_group(logGroupName="nothing"),
        "cloudwatch": lambda: client("cloudwatch").delete_dashboards(DashboardNames=["nothing"]),
    }


@pytest.mark.parametrize("service", sorted(_calls()))
def test_each_services_not_found_answer_is_gone(service: str) -> None:
    with mock_aws(), pytest.raises(ClientError) as raised:
        _calls()[service]()
    assert gone(raised.value), raised.value.response["Error"]


def test_other_errors_are_not_gone() -> None:
    """A denied delete must fail its step, never pass as 'already gone'."""
    assert not gone(ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteQueue"))
    assert not gone(ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DeleteRule"))
    assert not gone(TimeoutError("no answer"))


def test_cleanup_lists_in_the_order_it_deletes(tmp_path: Path) -> None:
    with mock_aws():
        ctx = make_ctx(tmp_path)
        setup_account(ctx)
        setup(ctx)
        items = find(ctx, tmp_path).items
    order = [kind.kind for kind in KINDS]
    kinds = [item.kind for item in items]
    assert {"queue", "dead-letter queue", "task definition"} <= set(kinds)
    assert kinds == sorted(kinds, key=order.index)


def test_a_plan_without_tags_never_takes_every_fleet_or_launch_template(tmp_path: Path) -> None:
    """No tag to match must mean nothing matches: another app's launch template and fleet stay."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        tags = [{"ResourceType": "launch-template", "Tags": [{"Key": "ds:app", "Value": "Other"}]}]
        ec2.create_launch_template(
            LaunchTemplateName="Other-run", LaunchTemplateData={"ImageId": "ami-12c6146b"}, TagSpecifications=tags
        )
        ec2.create_fleet(
            Type="maintain",
            LaunchTemplateConfigs=[
                {
                    "LaunchTemplateSpecification": {"LaunchTemplateName": "Other-run", "Version": "1"},
                    "Overrides": [{"InstanceType": "m5.large"}],
                }
            ],
            TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "spot"},
            TagSpecifications=[{"ResourceType": "fleet", "Tags": [{"Key": "ds:app", "Value": "Other"}]}],
        )
        plan = replace(app_plan(make_ctx(tmp_path), "run", "", start_time_ms=0), tags={})
        scope = Scope(plan, boto3.Session(region_name=REGION))
        assert Fleets(scope).find() == [] and LaunchTemplates(scope).find() == []
        assert LaunchTemplates(scope).delete() == "none"
        assert [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]] == ["Other-run"]
