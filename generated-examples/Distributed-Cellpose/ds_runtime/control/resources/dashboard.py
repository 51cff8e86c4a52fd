"""CREATE_DASHBOARD: one CloudWatch dashboard per app (queue, machines, memory, errors).

Teardown removes it when CLEAN_DASHBOARD is True.
"""

from __future__ import annotations

import json
from typing import Any

from ..common.context import Context


def _metric(title: str, metrics: list[list[Any]], region: str, x: int, y: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {"title": title, "metrics": metrics, "region": region, "stat": "Average", "period": 60},
    }


def body(ctx: Context, fleet_id: str) -> dict[str, Any]:
    c, region = ctx.config, ctx.config.AWS_REGION
    queue = ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", c.SQS_QUEUE_NAME]
    in_flight = ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", c.SQS_QUEUE_NAME]
    failed = ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", c.SQS_DEAD_LETTER_QUEUE]
    fleet = ["AWS/EC2Spot", "FulfilledCapacity", "FleetRequestId", fleet_id]
    target = ["AWS/EC2Spot", "TargetCapacity", "FleetRequestId", fleet_id]
    memory = ["AWS/ECS", "MemoryUtilization", "ClusterName", c.ECS_CLUSTER, "ServiceName", ctx.service_name]
    cpu = ["AWS/ECS", "CPUUtilization", "ClusterName", c.ECS_CLUSTER, "ServiceName", ctx.service_name]
    errors = {
        "type": "log",
        "x": 12,
        "y": 6,
        "width": 12,
        "height": 6,
        "properties": {
            "title": "Error lines in the job logs",
            "region": region,
            "query": f"SOURCE '{c.LOG_GROUP_NAME}' | fields @timestamp, @logStream, @message"
            " | filter @message like /(?i)error|exception|traceback/ | sort @timestamp desc | limit 50",
            "view": "table",
        },
    }
    return {
        "widgets": [
            _metric("Jobs waiting, running and failed", [queue, in_flight, failed], region, 0, 0),
            _metric("Machines: running vs asked for", [fleet, target], region, 12, 0),
            _metric("Container memory and CPU (%)", [memory, cpu], region, 0, 6),
            errors,
        ]
    }


def create(ctx: Context, fleet_id: str) -> None:
    ctx.client("cloudwatch").put_dashboard(
        DashboardName=ctx.dashboard_name, DashboardBody=json.dumps(body(ctx, fleet_id))
    )
    ctx.console.print(
        f"dashboard: https://{ctx.config.AWS_REGION}.console.aws.amazon.com/cloudwatch/home"
        f"?region={ctx.config.AWS_REGION}#dashboards:name={ctx.dashboard_name}"
    )
