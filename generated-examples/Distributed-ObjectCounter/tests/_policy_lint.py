"""Every policy the runtime writes, checked against AWS's Service Authorization Reference (via parliament).

moto enforces only actions (and resources for S3, SQS, IAM, STS) and ignores conditions, so a
statement that AWS would refuse or that grants nothing on AWS (a resource type the action does not
support, a condition key it does not know) passes every moto test. parliament carries AWS's
authorisation reference (actions, their resource types with the ARN formats, and condition keys)
and reports such statements.

One finding is read policy-wide instead of per statement: AWS authorises each resource of a call
against all statements, so an action's required resource types may be granted by different statements
(RunInstances' machine under a tag condition, what it launches from in another, as AWS's own example
policies do). parliament asks each statement alone; `unmatched_required` asks the whole policy.
"""

from __future__ import annotations

import json
from typing import Any

from parliament import UnknownActionException, analyze_policy_string, is_arn_strictly_valid
from parliament.statement import get_arn_format, get_privilege_info

from ds_runtime.control.common.context import Context
from ds_runtime.control.resources import log_export
from ds_runtime.control.resources.account import outputs_policy, roles, user_policy

# Findings accepted, each with why. Keep this short: a finding here is a grant AWS applies as written.
ACCEPTED: dict[tuple[str, str], str] = {
    (
        "RESOURCE_STAR",
        "ecs:ListTasks",
    ): "listing a whole cluster's tasks is not authorised by a container-instance ARN (the reference's resource"
    " type); '*' with the ecs:cluster condition limits it to the app's cluster, as AWS CDK grants it",
}


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy["Statement"]
    return found if isinstance(found, list) else [found]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def unmatched_required(policy: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, ARN format) of each required resource type no Allow statement granting the action matches."""
    granted: dict[str, list[str]] = {}
    for statement in _statements(policy):
        if statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                granted.setdefault(action, []).extend(_as_list(statement["Resource"]))
    missing = set()
    for action, resources in granted.items():
        service, name = action.split(":")
        try:
            info = get_privilege_info(service, name)
        except UnknownActionException:
            continue  # parliament's own UNKNOWN_ACTION finding names it
        if all(kind["resource_type"] == "" for kind in info["resource_types"]):  # no resource-level permissions
            if "*" not in resources:
                missing.add((action, "*"))
            continue
        for kind in info["resource_types"]:
            resource_type = kind["resource_type"]
            if not resource_type.endswith("*"):  # only required ones (the reference marks them with *)
                continue
            arn_format = get_arn_format(resource_type, info["service_resources"])
            if not any(r == "*" or is_arn_strictly_valid(resource_type, arn_format, r) for r in resources):
                missing.add((action, arn_format))
    return missing


def findings(policy: dict[str, Any]) -> list[str]:
    """What AWS's reference says is wrong with `policy`, one line each; [] when nothing."""
    analysed = analyze_policy_string(json.dumps(policy), include_community_auditors=False)
    missing = unmatched_required(policy)
    lines = [f"{action} needs a resource matching {arn_format}" for action, arn_format in sorted(missing)]
    for finding in analysed.findings:
        if finding.issue == "RESOURCE_MISMATCH":  # asked policy-wide above
            continue
        details = finding.detail if isinstance(finding.detail, list) else [finding.detail]
        for detail in details:
            subject = detail.get("action", "") if isinstance(detail, dict) else str(detail)
            if (finding.issue, subject) not in ACCEPTED:
                lines.append(f"{finding.issue}: {json.dumps(detail)}")
    return lines


def every_policy(ctx: Context, output_folders: list[str]) -> dict[str, dict[str, Any]]:
    """Each policy document the runtime writes for this run (its jobs writing under `bucket/folder/`s)."""
    policies = {f"role {role.name}": role.policy for role in roles(ctx)}
    policies["operator (setupAccount --print-policy)"] = user_policy(ctx)
    policies["task role's output grant"] = outputs_policy(ctx, output_folders)
    policies["bucket policy (log export)"] = {"Version": "2012-10-17", "Statement": log_export.statements(ctx)}
    return policies


def assert_aws_accepts(policies: dict[str, dict[str, Any]]) -> None:
    problems = [f"{where}: {line}" for where, policy in policies.items() for line in findings(policy)]
    assert not problems, "\n".join(problems)
