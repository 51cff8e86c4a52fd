"""AUTO_MONITOR: teardown that does not need the user's terminal to stay open.

A CloudWatch alarm watches the queue; when no job has been waiting or running for
15 minutes it invokes a Lambda whose handler is `teardown.lambda_handler`, the
same code `monitor` runs at its end. With MAX_COST or MAX_HOURS set, an
EventBridge schedule also invokes it every CAP_CHECK_MINUTES minutes to check the
caps (the handler tears down only if one is reached). The Lambda's package is built here from this
repository's own files (SHIPPED: they need only boto3, which Lambda provides).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from botocore.exceptions import ClientError

from ..common.context import Context, error_code
from ..common.run_record import RunRecord
from .account import role_name
from .teardown import CHECK_CAPS, PLAN_ENV

PACKAGE = Path(__file__).resolve().parents[2]  # ds_runtime/
SHIPPED = [
    "__init__.py",
    "aws.py",
    "outcomes.py",
    "control/__init__.py",
    "control/resources/__init__.py",
    "control/common/__init__.py",
    "control/common/lease.py",
    "control/resources/catalogue.py",
    "control/common/run_record.py",
    "control/resources/teardown.py",
    "control/common/wait.py",
]
HANDLER = "ds_runtime.control.resources.teardown.lambda_handler"
EMPTY_PERIODS = 3  # x 5 minutes with nothing visible or in flight
CAP_CHECK_MINUTES = 5


def package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in SHIPPED:
            archive.write(PACKAGE / name, f"ds_runtime/{name}")
    return buffer.getvalue()


def create(ctx: Context, plan: RunRecord) -> None:
    lam = ctx.client("lambda")
    name = ctx.monitor_function
    settings = {
        "Role": ctx.role_arn(role_name(ctx, "monitor")),
        "Handler": HANDLER,
        "Runtime": "python3.12",
        "Timeout": 600,
        "Environment": {"Variables": {PLAN_ENV: json.dumps(plan.to_monitor()["plan"])}},
        "Description": f"Tears down {plan.app_name} run {plan.run_id} when its queue is empty",
    }
    try:
        arn = lam.create_function(FunctionName=name, Code={"ZipFile": package()}, Tags=plan.tags, **settings)[
            "FunctionArn"
        ]
    except ClientError as exc:
        if "ResourceConflict" not in error_code(exc):
            raise
        # A previous run's function: point it at this run.
        lam.update_function_code(FunctionName=name, ZipFile=package())
        arn = lam.update_function_configuration(FunctionName=name, **settings)["FunctionArn"]
    try:
        lam.add_permission(
            FunctionName=name,
            StatementId="cloudwatch-alarm",
            Action="lambda:InvokeFunction",
            Principal="lambda.alarms.cloudwatch.amazonaws.com",
            SourceArn=f"arn:aws:cloudwatch:{plan.region}:{ctx.account_id}:alarm:{ctx.queue_empty_alarm}",
        )
    except ClientError as exc:
        if "ResourceConflict" not in error_code(exc):
            raise
    ctx.client("cloudwatch").put_metric_alarm(
        AlarmName=ctx.queue_empty_alarm,
        AlarmDescription=f"{plan.app_name}: no job waiting or running; tears the run down",
        ComparisonOperator="LessThanOrEqualToThreshold",
        Threshold=0,
        EvaluationPeriods=EMPTY_PERIODS,
        TreatMissingData="missing",  # no data (e.g. a new queue) never tears down
        Metrics=[
            {"Id": "jobs", "Expression": "visible + in_flight", "ReturnData": True},
            *(
                {
                    "Id": key,
                    "ReturnData": False,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SQS",
                            "MetricName": metric,
                            "Dimensions": [{"Name": "QueueName", "Value": plan.queue_name}],
                        },
                        "Period": 300,
                        "Stat": "Maximum",
                    },
                }
                for key, metric in (
                    ("visible", "ApproximateNumberOfMessagesVisible"),
                    ("in_flight", "ApproximateNumberOfMessagesNotVisible"),
                )
            ),
        ],
        AlarmActions=[arn],
        Tags=[{"Key": k, "Value": v} for k, v in plan.tags.items()],
    )
    ctx.console.print(f"auto-monitor: alarm {ctx.queue_empty_alarm} will run {name} when the queue stays empty")
    if plan.schedule_rule:
        _schedule_cap_checks(ctx, plan, name, arn)


def _schedule_cap_checks(ctx: Context, plan: RunRecord, function: str, arn: str) -> None:
    events = ctx.client("events")
    rule_arn = events.put_rule(
        Name=plan.schedule_rule,
        ScheduleExpression=f"rate({CAP_CHECK_MINUTES} minutes)",
        State="ENABLED",
        Description=f"{plan.app_name}: check MAX_COST / MAX_HOURS of run {plan.run_id}",
        Tags=[{"Key": k, "Value": v} for k, v in plan.tags.items()],
    )["RuleArn"]
    events.put_targets(Rule=plan.schedule_rule, Targets=[{"Id": "caps", "Arn": arn, "Input": json.dumps(CHECK_CAPS)}])
    try:
        ctx.client("lambda").add_permission(
            FunctionName=function,
            StatementId="cap-schedule",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=rule_arn,
        )
    except ClientError as exc:
        if "ResourceConflict" not in error_code(exc):
            raise
    ctx.console.print(
        f"auto-monitor: {function} checks the caps every {CAP_CHECK_MINUTES} minutes ({plan.schedule_rule})"
    )
