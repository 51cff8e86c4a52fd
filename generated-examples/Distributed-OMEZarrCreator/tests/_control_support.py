"""Shared test material for the control plane: a tiny tool, a config.py, DS-format Job and Fleet files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.config import load_config
from ds_runtime.control.common.context import Context
from ds_runtime.spec import ToolSpec

REGION = "us-east-1"
APP = "DistributedEcho"

SPEC: dict[str, Any] = {
    "tool_name": "Echo",
    "app_name": APP,
    "docker_image": "example/echo:1",
    "command": ["echo", "{sample}", "{output_dir}"],
    "shared_fields": [
        {"name": "input", "type": "s3_prefix"},
        {"name": "output", "type": "s3_prefix"},
    ],
    "job_fields": [{"name": "sample", "type": "string"}],
    "output_prefix": "{output}/{sample}",
    "config_keys": ["ECHO_MODE"],
}

# The image by digest, as setup pins it (pinned_image.py): no registry to ask in most tests.
ECHO_IMAGE = "example/distributed-echo@sha256:" + "0123456789abcdef" * 4

# DS's config.py, written the way DS users write it.
CONFIG = f"""\
# Distributed-Echo settings (DS format)
APP_NAME = 'DistributedEcho'
DOCKERHUB_TAG = '{ECHO_IMAGE}'
AWS_REGION = 'us-east-1'
AWS_PROFILE = None
SSH_KEY_NAME = 'my-key.pem'
AWS_BUCKET = 'echo-bucket'
ECS_CLUSTER = 'echo-cluster'
CLUSTER_MACHINES = 2
TASKS_PER_MACHINE = 2
MACHINE_TYPE = ['m5.large', 'c5.large']
MACHINE_PRICE = 0.10
EBS_VOL_SIZE = 30
ASSIGN_IP = 'False'
DOCKER_CORES = 1
CPU_SHARES = 1024
MEMORY = 1900
SECONDS_TO_START = 0
SQS_QUEUE_NAME = APP_NAME + 'Queue'
SQS_MESSAGE_VISIBILITY = 600
SQS_DEAD_LETTER_QUEUE = APP_NAME + 'DeadMessages'
JOB_RETRIES = 3
LOG_GROUP_NAME = APP_NAME
AUTO_MONITOR = 'False'
CREATE_DASHBOARD = 'False'
CLEAN_DASHBOARD = 'True'
CHECK_IF_DONE_BOOL = 'False'
EXPECTED_NUMBER_FILES = 1
MIN_FILE_SIZE_BYTES = 1
NECESSARY_STRING = ''
ECHO_MODE = 'loud'
"""


def spec(**changes: Any) -> ToolSpec:
    return ToolSpec.model_validate({**SPEC, **changes})


def write_config(folder: Path, **overrides: Any) -> Path:
    """config.py with some constants replaced (values given as Python source text)."""
    lines = []
    for line in CONFIG.splitlines():
        key = line.split(" = ", 1)[0]
        lines.append(f"{key} = {overrides.pop(key)}" if key in overrides else line)
    lines += [f"{k} = {v}" for k, v in overrides.items()]
    path = folder / "config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_spec(folder: Path, **changes: Any) -> Path:
    path = folder / "spec.json"
    path.write_text(json.dumps({**SPEC, **changes}))
    return path


def make_ctx(folder: Path, tool: ToolSpec | None = None, **overrides: Any) -> Context:
    tool = tool or spec()
    config = load_config(write_config(folder, **overrides), tool, warn=lambda text: None)
    return Context(
        config, tool, make_session(config.AWS_PROFILE, config.AWS_REGION), Console(file=io.StringIO(), width=200)
    )


def output(ctx: Context) -> str:
    return ctx.console.file.getvalue()  # type: ignore[attr-defined]


def write_job_file(folder: Path, count: int, name: str = "job.json") -> Path:
    """A Job file in DS's format: comments, shared keys and `groups`."""
    data = {
        "_comment1": "shared keys: one value for every job",
        "input": "projects/echo/inputs/",
        "output": "projects/echo/outputs",
        "_comment2": "groups: one entry per job",
        "groups": [{"sample": f"sample-{i}"} for i in range(count)],
    }
    path = folder / name
    path.write_text(json.dumps(data, indent=1))
    return path


def network(region: str = REGION) -> tuple[str, str]:
    """A subnet and a security group in the emulator, and the key pair config.py's SSH_KEY_NAME names."""
    ec2 = boto3.client("ec2", region_name=region)
    if not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["my-key"]}])["KeyPairs"]:
        ec2.create_key_pair(KeyName="my-key")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # A fixed zone: moto picks one at random otherwise, and has no spot prices for some (us-east-1e).
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone=f"{region}a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="echo", Description="echo", VpcId=vpc)["GroupId"]
    return subnet, group


def fleet_data(subnet: str = "subnet-WWWWWWWW", group: str = "sg-ZZZZZZZZ") -> dict[str, Any]:
    """DS's exampleFleet.json, as DS ships it (account placeholder and all)."""
    return {
        "IamFleetRole": f"arn:aws:iam::XXXXXXXXXXXX:role/{APP}-fleet",
        "AllocationStrategy": "lowestPrice",
        "TerminateInstancesWithExpiration": True,
        "LaunchSpecifications": [
            {
                "ImageId": "ami-fad25980",
                "KeyName": "your_key_file_name",
                "IamInstanceProfile": {"Arn": f"arn:aws:iam::XXXXXXXXXXXX:instance-profile/{APP}-instance"},
                "BlockDeviceMappings": [
                    {
                        "DeviceName": "/dev/xvda",
                        "Ebs": {
                            "DeleteOnTermination": True,
                            "VolumeType": "gp3",
                            "VolumeSize": 8,
                            "SnapshotId": "snap-0a7b4ece894d62882",
                        },
                    },
                    {"DeviceName": "/dev/xvdcz", "Ebs": {"DeleteOnTermination": True, "VolumeType": "gp3"}},
                ],
                "NetworkInterfaces": [
                    {
                        "DeviceIndex": 0,
                        "SubnetId": subnet,
                        "DeleteOnTermination": True,
                        "AssociatePublicIpAddress": True,
                        "Groups": [group],
                    }
                ],
            }
        ],
        "Type": "maintain",
    }


def write_fleet_file(folder: Path, data: dict[str, Any] | None = None) -> Path:
    files = folder / "files"
    files.mkdir(exist_ok=True)
    path = files / "fleet.json"
    path.write_text(json.dumps(data if data is not None else fleet_data(*network())))
    return path


def queue_counts(name: str) -> tuple[int, int]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attrs[names[0]]), int(attrs[names[1]])


def drain(queue: str) -> int:
    """Play the workers: receive and delete every message; returns how many."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    done = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        )
        done += len(messages)
    return done


def put_objects(bucket: str, keys: Iterable[str], body: bytes) -> None:
    """Objects written straight into the emulator's S3 (moto serves from this process, in mock_aws
    or as the moto_server fixture): the thousands a listing test needs, without a request each."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


def fleet_capacity(fleet_id: str) -> tuple[int, int]:
    """The EC2 Fleet's asked-for capacity: (total, on-demand part)."""
    [fleet] = boto3.client("ec2", region_name=REGION).describe_fleets(FleetIds=[fleet_id])["Fleets"]
    spec = fleet["TargetCapacitySpecification"]
    return spec["TotalTargetCapacity"], spec.get("OnDemandTargetCapacity", 0)


def fleet_instances(fleet_id: str) -> list[str]:
    """The fleet's machines, as DescribeFleetInstances lists them (starting or running)."""
    found = boto3.client("ec2", region_name=REGION).describe_fleet_instances(FleetId=fleet_id)
    return sorted(i["InstanceId"] for i in found["ActiveInstances"])


def launch_templates() -> list[str]:
    found = boto3.client("ec2", region_name=REGION).describe_launch_templates()["LaunchTemplates"]
    return [t["LaunchTemplateName"] for t in found]


def put_messages(queue: str, bodies: Iterable[str], app: str = APP) -> None:
    """Messages of `app` put straight into the emulator's queue (moto serves from this process, in mock_aws):
    the thousands a test at queue depth needs, without a request each."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    from ds_runtime.outcomes import app_attribute

    backend = sqs_backends[DEFAULT_ACCOUNT_ID][REGION]
    for body in bodies:
        backend.send_message(queue, body, message_attributes=app_attribute(app))
