"""The resources a run creates (resources.py): one entry per kind finds and deletes it, one rule says 'gone'."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ds_runtime.control.account import setup_account
from ds_runtime.control.cleanup import find
from ds_runtime.control.cluster import app_plan
from ds_runtime.control.resources import KINDS, gone
from ds_runtime.control.setup import setup
from ds_runtime.control.teardown import Teardown

from ._control_support import APP, REGION, make_ctx


def test_teardown_of_a_run_whose_resources_are_all_gone_says_so_step_by_step(tmp_path: Path) -> None:
    """Every step's 'already gone' comes from AWS's own not-found answers: a repeated teardown never fails."""
    with mock_aws():
        ctx = make_ctx(tmp_path)
        plan = app_plan(
            ctx,
            "20260101T000000Z-abcd",
            "sfr-0123",
            start_time_ms=0,
            dashboard=APP,
            function_name=f"{APP}-teardown",
            schedule_rule=f"{APP}-caps",
            on_demand_after=2,
        )
        steps = Teardown(plan, ctx.session).run()
    assert [s.name for s in steps] == [kind.step for kind in KINDS]
    assert all(s.ok for s in steps), steps
    gone_steps = {s.name: s.detail for s in steps if s.detail.endswith("already gone")}
    assert gone_steps == {
        "cancel spot fleet": "sfr-0123 already gone",
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
