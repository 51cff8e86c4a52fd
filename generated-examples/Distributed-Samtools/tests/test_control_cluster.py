"""startCluster: the DS fleet file as is, config applied, checked before anything starts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control import cluster
from ds_runtime.control.account import setup_account
from ds_runtime.control.cluster import build_request, start_cluster
from ds_runtime.control.context import CommandError, Context
from ds_runtime.control.estimate import fleet_zones
from ds_runtime.control.fleet_file import FleetFileError, load_fleet_file
from ds_runtime.control.setup import setup
from ds_runtime.control.submit import submit

from ._control_support import (
    APP,
    REGION,
    fleet_data,
    make_ctx,
    network,
    output,
    write_fleet_file,
    write_job_file,
)


def fleets() -> list[dict]:
    return boto3.client("ec2", region_name=REGION).describe_spot_fleet_requests()["SpotFleetRequestConfigs"]


def request_for(tmp_path: Path, **overrides: str) -> dict:
    ctx = make_ctx(tmp_path, **overrides)
    return build_request(ctx, load_fleet_file(write_fleet_file(tmp_path)), "run-1")


def test_config_applied_to_ds_fleet_file(ready: Path) -> None:
    request = request_for(ready)
    specs = request["LaunchSpecifications"]
    assert [s["InstanceType"] for s in specs] == ["m5.large", "c5.large"]  # one spec per machine type
    account = boto3.client("sts").get_caller_identity()["Account"]
    assert request["IamFleetRole"] == f"arn:aws:iam::{account}:role/{APP}-fleet"
    assert (request["SpotPrice"], request["TargetCapacity"], request["Type"]) == ("0.1000", 2, "maintain")
    assert request["TagSpecifications"][0]["Tags"] == [
        {"Key": "ds:app", "Value": APP},
        {"Key": "ds:run", "Value": "run-1"},
    ]
    for spec in specs:
        assert spec["IamInstanceProfile"]["Arn"] == f"arn:aws:iam::{account}:instance-profile/{APP}-instance"
        assert spec["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False  # ASSIGN_IP = 'False'
        assert spec["KeyName"] == "my-key"
        assert spec["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 8  # the root volume is left alone
        assert spec["BlockDeviceMappings"][1]["Ebs"]["VolumeSize"] == 30  # DS's Docker volume gets EBS_VOL_SIZE
        assert "ECS_CLUSTER=echo-cluster\n" in base64.b64decode(spec["UserData"]).decode()
        assert spec["TagSpecifications"][0]["ResourceType"] == "instance"


def test_several_subnets_and_types_become_one_launch_specification_each(ready: Path) -> None:
    """Two machine types x three subnets (two zones): six pools for the fleet, price-capacity-optimized."""
    ec2 = boto3.client("ec2", region_name=REGION)
    first, group = network()
    vpc = ec2.describe_subnets(SubnetIds=[first])["Subnets"][0]["VpcId"]
    second, third = (
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
        for n in (1, 2)
    )
    data = fleet_data(f"{first}, {second},{third}", group)  # AWS's comma-separated form
    del data["AllocationStrategy"]
    path = write_fleet_file(ready, data)
    ctx = make_ctx(ready)
    request = build_request(ctx, load_fleet_file(path), "run-1")
    pools = [(s["InstanceType"], s["NetworkInterfaces"][0]["SubnetId"]) for s in request["LaunchSpecifications"]]
    assert pools == [(t, s) for t in ("m5.large", "c5.large") for s in (first, second, third)]
    assert request["AllocationStrategy"] == "priceCapacityOptimized"
    assert fleet_zones(ctx, load_fleet_file(path)) == [f"{REGION}a", f"{REGION}b"]  # what estimate prices
    # A JSON list works as well, and a file's own strategy is kept.
    data["LaunchSpecifications"][0]["NetworkInterfaces"][0]["SubnetId"] = [first, third]
    data["AllocationStrategy"] = "capacityOptimized"
    request = build_request(ctx, load_fleet_file(write_fleet_file(ready, data)), "run-2")
    assert [s["NetworkInterfaces"][0]["SubnetId"] for s in request["LaunchSpecifications"]] == [first, third] * 2
    assert request["AllocationStrategy"] == "capacityOptimized"
    # The emulator takes the request as AWS would, one spec per pool.
    fleet_id = ec2.request_spot_fleet(SpotFleetRequestConfig=request)["SpotFleetRequestId"]
    [config] = ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[fleet_id])["SpotFleetRequestConfigs"]
    assert len(config["SpotFleetRequestConfig"]["LaunchSpecifications"]) == 4


def test_assign_ip_true_keeps_the_fleet_files_choice_and_ssm_image(ready: Path) -> None:
    ctx = make_ctx(ready, ASSIGN_IP="True", SSH_KEY_NAME="''")
    data = {"_comment1": "a note for people", **fleet_data(*network())}
    data["LaunchSpecifications"][0]["ImageId"] = (
        "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    )
    data["LaunchSpecifications"][0]["KeyName"] = "my-key"
    data["LaunchSpecifications"][0]["NetworkInterfaces"][0]["AssociatePublicIpAddress"] = False
    request = build_request(ctx, data, "run-1")
    assert "_comment1" not in request  # AWS would refuse it
    spec = request["LaunchSpecifications"][0]
    assert spec["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False  # DS: 'True' keeps the file's
    assert spec["KeyName"] == "my-key"  # SSH_KEY_NAME '' leaves the file's KeyName alone
    assert spec["ImageId"].startswith("ami-")


def test_machines_carry_ds_name_tag_besides_run_tags(ready: Path) -> None:
    [spec, _] = request_for(ready)["LaunchSpecifications"]
    assert spec["TagSpecifications"] == [
        {
            "ResourceType": "instance",
            "Tags": [
                {"Key": "ds:app", "Value": APP},
                {"Key": "ds:run", "Value": "run-1"},
                {"Key": "Name", "Value": f"{APP}Worker"},
            ],
        }
    ]


def test_ssh_key_name_that_is_no_key_pair_leaves_the_fleet_files_key(ready: Path) -> None:
    ctx = make_ctx(ready, SSH_KEY_NAME="'your-key-file.pem'")  # DCP's untouched placeholder
    ctx.client("ec2").create_key_pair(KeyName="lab-key")
    data = fleet_data(*network())
    data["LaunchSpecifications"][0]["KeyName"] = "lab-key"
    [spec, _] = build_request(ctx, data, "run-1")["LaunchSpecifications"]
    assert spec["KeyName"] == "lab-key"
    assert "note: SSH_KEY_NAME 'your-key-file.pem' names no key pair in us-east-1" in output(ctx)


def test_fleet_key_that_is_no_key_pair_is_refused_before_anything_starts(ready: Path) -> None:
    ctx = make_ctx(ready, SSH_KEY_NAME="'your-key-file.pem'")
    path = write_fleet_file(ready)  # KeyName 'your_key_file_name', as DS ships it
    with pytest.raises(
        FleetFileError, match=r"LaunchSpecifications\[0\]\.KeyName: 'your_key_file_name' is no key pair"
    ):
        start_cluster(ctx, path, wait_seconds=1)
    assert fleets() == []
    assert boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"] == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()


def test_start_cluster(ready: Path) -> None:
    ctx = make_ctx(ready)
    fleet_file = write_fleet_file(ready)
    assert start_cluster(ctx, fleet_file, wait_seconds=5, poll_seconds=0.01) == 0
    [fleet] = fleets()
    assert fleet["SpotFleetRequestState"] == "active"
    tags = {t["Key"]: t["Value"] for t in fleet.get("Tags", [])}
    assert tags["ds:app"] == APP and tags["ds:run"]
    ecs = boto3.client("ecs", region_name=REGION)
    [service] = ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"]
    assert service["desiredCount"] == 4  # CLUSTER_MACHINES x TASKS_PER_MACHINE
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert {(g["logGroupName"], g.get("retentionInDays")) for g in groups} == {(APP, 60), (f"{APP}_perInstance", 60)}
    instances = boto3.client("ec2", region_name=REGION).describe_instances()["Reservations"]
    names = {t["Value"] for r in instances for i in r["Instances"] for t in i.get("Tags", []) if t["Key"] == "Name"}
    assert names == {f"{APP}Worker"}  # DS's Name tag on the machines the fleet started
    monitor = json.loads((fleet_file.parent / f"{APP}SpotFleetRequestId.json").read_text())  # valid JSON
    assert monitor["MONITOR_FLEET_ID"] == fleet["SpotFleetRequestId"]
    assert monitor["MONITOR_QUEUE_NAME"] == f"{APP}Queue" and monitor["MONITOR_ECS_CLUSTER"] == "echo-cluster"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("LaunchSpecifications"), "LaunchSpecifications: must be a non-empty list"),
        (lambda d: d.update(IamFleetRole=""), "IamFleetRole: must be the ARN"),
        (lambda d: d["LaunchSpecifications"][0].pop("ImageId"), "LaunchSpecifications[0].ImageId: missing"),
        (lambda d: None, "NetworkInterfaces[0].SubnetId: 'subnet-WWWWWWWW' is the example's stand-in"),
    ],
)
def test_bad_fleet_file_starts_nothing(ready: Path, edit, expected: str) -> None:
    data = fleet_data()  # the example's stand-in subnet and group
    if edit(data) is None and "stand-in" not in expected:
        data["LaunchSpecifications"][0]["NetworkInterfaces"][0].update(SubnetId="subnet-1", Groups=["sg-1"])
    path = write_fleet_file(ready, data)
    with pytest.raises(FleetFileError) as caught:
        start_cluster(make_ctx(ready), path, wait_seconds=1)
    assert str(path) in str(caught.value) and expected in str(caught.value)
    assert fleets() == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()


def test_fleet_file_not_json(ready: Path) -> None:
    path = ready / "fleet.json"
    path.write_text('{"IamFleetRole": ')
    with pytest.raises(FleetFileError, match=r"fleet\.json: not valid JSON \(line 1"):
        start_cluster(make_ctx(ready), path)
    assert fleets() == []


def test_refused_fleet_is_cancelled(ready: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(ctx: Context, fleet_id: str, since: object) -> list[tuple[str, str]]:
        return [("iamFleetRoleInvalid", cluster.CONFIG_ERRORS["iamFleetRoleInvalid"] + ": role not trusted")]

    monkeypatch.setattr(cluster, "fleet_errors", refused)
    ctx = make_ctx(ready)
    path = write_fleet_file(ready)
    with pytest.raises(CommandError, match="cannot be used by EC2 Spot"):
        start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01)
    assert all(f["SpotFleetRequestState"].startswith("cancelled") for f in fleets())
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()
    ecs = boto3.client("ecs", region_name=REGION)
    assert ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"][0]["desiredCount"] == 0


def test_start_cluster_needs_setup(tmp_path: Path) -> None:
    with mock_aws():
        with pytest.raises(CommandError, match=r"run `python run\.py setup` first"):
            start_cluster(make_ctx(tmp_path), write_fleet_file(tmp_path))
        assert fleets() == []


def test_against_moto_server_history_500_is_handled(moto_server: str, tmp_path: Path) -> None:
    """The server answers DescribeSpotFleetRequestHistory with HTTP 500 (ResponseParserError in boto3)."""
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    setup(ctx)
    submit(ctx, write_job_file(tmp_path, 3))
    assert start_cluster(ctx, write_fleet_file(tmp_path), wait_seconds=10, poll_seconds=0.05) == 0
    assert "machine(s) running" in ctx.console.file.getvalue()
