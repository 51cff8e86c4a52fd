"""startCluster: the DS fleet file as is, config applied, checked before anything starts, sent as an EC2 Fleet."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import jinja2
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from ds_runtime.control.commands import cluster
from ds_runtime.control.commands.cluster import build_request, start_cluster
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.context import CommandError, Context
from ds_runtime.control.machines.fleet_file import FleetFileError, load_fleet_file
from ds_runtime.control.machines.fleet_mapping import FleetLaunch
from ds_runtime.control.machines.machine_fit import require_fit
from ds_runtime.control.machines.spot_quota import check_gpu_spot_quota, counted
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.views.estimate import fleet_zones

from ._control_support import (
    APP,
    REGION,
    fleet_data,
    make_ctx,
    network,
    output,
    spec,
    write_fleet_file,
    write_job_file,
)


def fleets() -> list[dict]:
    return boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"]


def templates() -> list[dict]:
    return boto3.client("ec2", region_name=REGION).describe_launch_templates()["LaunchTemplates"]


def request_for(tmp_path: Path, **overrides: str) -> FleetLaunch:
    ctx = make_ctx(tmp_path, **overrides)
    return build_request(ctx, load_fleet_file(write_fleet_file(tmp_path)), "run-1")


def overrides(launch: FleetLaunch) -> list[dict]:
    return [o for config in launch.request["LaunchTemplateConfigs"] for o in config["Overrides"]]


def test_config_applied_to_ds_fleet_file(ready: Path) -> None:
    launch = request_for(ready)
    request = launch.request
    # One launch template for the run; one override per machine type, at MACHINE_PRICE.
    assert launch.template_name == f"{APP}-run-1" and len(launch.versions) == 1
    [config] = request["LaunchTemplateConfigs"]
    assert config["LaunchTemplateSpecification"] == {"LaunchTemplateName": f"{APP}-run-1", "Version": "1"}
    subnet = config["Overrides"][0]["SubnetId"]
    assert config["Overrides"] == [
        {"InstanceType": t, "SubnetId": subnet, "MaxPrice": "0.1000"} for t in ("m5.large", "c5.large")
    ]
    assert request["TargetCapacitySpecification"] == {
        "TotalTargetCapacity": 2,
        "OnDemandTargetCapacity": 0,
        "SpotTargetCapacity": 2,
        "DefaultTargetCapacityType": "spot",
    }
    assert (request["Type"], request["ExcessCapacityTerminationPolicy"]) == ("maintain", "no-termination")
    assert request["SpotOptions"] == {"AllocationStrategy": "lowest-price"}  # DS's lowestPrice, EC2 Fleet's name
    assert request["TerminateInstancesWithExpiration"] is True
    assert "IamFleetRole" not in json.dumps(request)  # EC2 Fleet uses its service-linked role
    assert request["TagSpecifications"] == [
        {"ResourceType": "fleet", "Tags": [{"Key": "ds:app", "Value": APP}, {"Key": "ds:run", "Value": "run-1"}]}
    ]
    [data] = launch.versions
    account = boto3.client("sts").get_caller_identity()["Account"]
    assert data["IamInstanceProfile"]["Arn"] == f"arn:aws:iam::{account}:instance-profile/{APP}-instance"
    [nic] = data["NetworkInterfaces"]
    assert nic["AssociatePublicIpAddress"] is False and "SubnetId" not in nic  # ASSIGN_IP; the subnet: overrides
    assert data["KeyName"] == "my-key"
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 8  # the root volume is left alone
    assert data["BlockDeviceMappings"][1]["Ebs"]["VolumeSize"] == 30  # DS's Docker volume gets EBS_VOL_SIZE
    assert "ECS_CLUSTER=echo-cluster\n" in base64.b64decode(data["UserData"]).decode()
    assert data["TagSpecifications"][0]["ResourceType"] == "instance"
    assert "InstanceType" not in data and "SpotPrice" not in data


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
    launch = build_request(ctx, load_fleet_file(path), "run-1")
    pools = [(o["InstanceType"], o["SubnetId"]) for o in overrides(launch)]
    assert pools == [(t, s) for t in ("m5.large", "c5.large") for s in (first, second, third)]
    assert len(launch.versions) == 1  # the subnets differ only in the overrides
    assert launch.request["SpotOptions"]["AllocationStrategy"] == "price-capacity-optimized"
    assert fleet_zones(ctx, load_fleet_file(path)) == [f"{REGION}a", f"{REGION}b"]  # what estimate prices
    # A JSON list works as well, and a file's own strategy is kept.
    data["LaunchSpecifications"][0]["NetworkInterfaces"][0]["SubnetId"] = [first, third]
    data["AllocationStrategy"] = "capacityOptimized"
    launch = build_request(ctx, load_fleet_file(write_fleet_file(ready, data)), "run-2")
    assert [o["SubnetId"] for o in overrides(launch)] == [first, third] * 2
    assert launch.request["SpotOptions"]["AllocationStrategy"] == "capacity-optimized"
    # The emulator takes the template and the fleet as AWS would, one override per pool.
    ec2.create_launch_template(LaunchTemplateName=launch.template_name, LaunchTemplateData=launch.versions[0])
    fleet_id = ec2.create_fleet(**launch.request)["FleetId"]
    [fleet] = ec2.describe_fleets(FleetIds=[fleet_id])["Fleets"]
    assert len(fleet["LaunchTemplateConfigs"][0]["Overrides"]) == 4


def test_assign_ip_true_keeps_the_fleet_files_choice_and_ssm_image(ready: Path) -> None:
    ctx = make_ctx(ready, ASSIGN_IP="True", SSH_KEY_NAME="''")
    data = {"_comment1": "a note for people", **fleet_data(*network())}
    data["LaunchSpecifications"][0]["ImageId"] = (
        "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    )
    data["LaunchSpecifications"][0]["KeyName"] = "my-key"
    data["LaunchSpecifications"][0]["NetworkInterfaces"][0]["AssociatePublicIpAddress"] = False
    launch = build_request(ctx, data, "run-1")
    assert "_comment1" not in json.dumps(launch.request)  # AWS would refuse it
    [spec] = launch.versions
    assert spec["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False  # DS: 'True' keeps the file's
    assert spec["KeyName"] == "my-key"  # SSH_KEY_NAME '' leaves the file's KeyName alone
    assert spec["ImageId"].startswith("ami-")


def test_machines_carry_ds_name_tag_besides_run_tags(ready: Path) -> None:
    [spec] = request_for(ready).versions
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
    [spec] = build_request(ctx, data, "run-1").versions
    assert spec["KeyName"] == "lab-key"
    assert "note: SSH_KEY_NAME 'your-key-file.pem' names no key pair in us-east-1" in output(ctx)


def test_fleet_key_that_is_no_key_pair_is_refused_before_anything_starts(ready: Path) -> None:
    ctx = make_ctx(ready, SSH_KEY_NAME="'your-key-file.pem'")
    path = write_fleet_file(ready)  # KeyName 'your_key_file_name', as DS ships it
    with pytest.raises(
        FleetFileError, match=r"LaunchSpecifications\[0\]\.KeyName: 'your_key_file_name' is no key pair"
    ):
        start_cluster(ctx, path, wait_seconds=1)
    assert fleets() == [] and templates() == []
    assert boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"] == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()


def test_start_cluster(ready: Path) -> None:
    ctx = make_ctx(ready)
    fleet_file = write_fleet_file(ready)
    assert start_cluster(ctx, fleet_file, wait_seconds=5, poll_seconds=0.01) == 0
    [fleet] = fleets()
    assert (fleet["FleetState"], fleet["Type"]) == ("active", "maintain")
    tags = {t["Key"]: t["Value"] for t in fleet.get("Tags", [])}
    assert tags["ds:app"] == APP and tags["ds:run"]
    [template] = templates()  # the run's, tagged as the run, named after it
    assert {t["Key"]: t["Value"] for t in template["Tags"]} == tags
    assert template["LaunchTemplateName"] == f"{APP}-{tags['ds:run']}"
    assert "IamFleetRole is not used" in output(ctx)
    ecs = boto3.client("ecs", region_name=REGION)
    [service] = ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"]
    assert service["desiredCount"] == 4  # CLUSTER_MACHINES x TASKS_PER_MACHINE
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert {(g["logGroupName"], g.get("retentionInDays")) for g in groups} == {(APP, 60), (f"{APP}_perInstance", 60)}
    instances = boto3.client("ec2", region_name=REGION).describe_instances()["Reservations"]
    names = {t["Value"] for r in instances for i in r["Instances"] for t in i.get("Tags", []) if t["Key"] == "Name"}
    assert names == {f"{APP}Worker"}  # DS's Name tag on the machines the fleet started
    monitor = json.loads((fleet_file.parent / f"{APP}SpotFleetRequestId.json").read_text())  # valid JSON
    assert monitor["MONITOR_FLEET_ID"] == fleet["FleetId"] and fleet["FleetId"].startswith("fleet-")
    assert monitor["plan"]["launch_template"] == template["LaunchTemplateName"]
    assert monitor["MONITOR_QUEUE_NAME"] == f"{APP}Queue" and monitor["MONITOR_ECS_CLUSTER"] == "echo-cluster"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("LaunchSpecifications"), "LaunchSpecifications: must be a non-empty list"),
        (lambda d: d.update(LoadBalancersConfig={}), "LoadBalancersConfig: has no EC2 Fleet equivalent"),
        (
            lambda d: d["LaunchSpecifications"][0].update(AddressingType="public"),
            "LaunchSpecifications[0].AddressingType: has no EC2 Fleet launch template equivalent",
        ),
        (lambda d: d.update(Type="request"), "Type: 'request' cannot be resized by monitor; use 'maintain'"),
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
    assert fleets() == [] and templates() == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()


def test_fleet_file_not_json(ready: Path) -> None:
    path = ready / "fleet.json"
    path.write_text('{"IamFleetRole": ')
    with pytest.raises(FleetFileError, match=r"fleet\.json: not valid JSON \(line 1"):
        start_cluster(make_ctx(ready), path)
    assert fleets() == []


def test_refused_fleet_is_deleted_with_its_launch_template(ready: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(ctx: Context, fleet_id: str, since: object) -> list[tuple[str, str]]:
        return [("iamFleetRoleInvalid", cluster.CONFIG_ERRORS["iamFleetRoleInvalid"] + ": role not trusted")]

    monkeypatch.setattr(cluster, "fleet_errors", refused)
    ctx = make_ctx(ready)
    path = write_fleet_file(ready)
    with pytest.raises(CommandError, match="AWSServiceRoleForEC2Fleet"):
        start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01)
    assert [f["FleetState"] for f in fleets()] == ["deleted_terminating"] and templates() == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()
    ecs = boto3.client("ecs", region_name=REGION)
    assert ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"][0]["desiredCount"] == 0


def test_start_cluster_needs_setup(tmp_path: Path) -> None:
    with mock_aws():
        with pytest.raises(CommandError, match=r"run `python run\.py setup` first"):
            start_cluster(make_ctx(tmp_path), write_fleet_file(tmp_path))
        assert fleets() == []


def test_against_moto_server_history_500_is_handled(moto_server: str, tmp_path: Path) -> None:
    """The server answers DescribeFleetHistory with HTTP 500 (ResponseParserError in boto3)."""
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    setup(ctx)
    submit(ctx, write_job_file(tmp_path, 3))
    assert start_cluster(ctx, write_fleet_file(tmp_path), wait_seconds=10, poll_seconds=0.05) == 0
    assert "machine(s) running" in ctx.console.file.getvalue()


def ds_example_fleet(subnet: str, group: str, gpus: int = 0) -> dict:
    """files/exampleFleet.json as a generated repository ships it (DS's format), with a real subnet and group,
    for a tool needing `gpus` GPUs per container."""
    text = (Path(__file__).resolve().parents[1] / "files" / "exampleFleet.json.jinja").read_text()
    text = jinja2.Template(text).render(aws_region=REGION, app_name=APP, gpus=gpus)
    return json.loads(text.replace("subnet-WWWWWWWW", subnet).replace("sg-ZZZZZZZZ", group))


def test_ds_example_fleet_file_starts_an_ec2_fleet_unchanged(ready: Path) -> None:
    """The Fleet file this repository ships (an SSM image, priceCapacityOptimized) as it is: an EC2 Fleet."""
    ssm = boto3.client("ssm", region_name=REGION)
    name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    if not ssm.get_parameters(Names=[name])["Parameters"]:  # moto's catalogue may lack it
        ssm.put_parameter(Name=name, Value="ami-0123456789abcdef0", Type="String")
    path = write_fleet_file(ready, ds_example_fleet(*network()))
    ctx = make_ctx(ready)
    assert start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01) == 0, output(ctx)
    [fleet] = fleets()
    assert fleet["SpotOptions"]["AllocationStrategy"] == "price-capacity-optimized"
    [template] = templates()
    version = boto3.client("ec2", region_name=REGION).describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert version["ImageId"].startswith("ami-")  # resolve:ssm: resolved before the template is made
    assert "machine(s) running" in output(ctx)


def test_a_gpu_tools_example_fleet_file_starts_machines_of_the_ecs_gpu_image(ready: Path) -> None:
    """gpus > 0: the Fleet file names AWS's ECS GPU-optimised image parameter, which startCluster resolves."""
    gpu_image = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    data = ds_example_fleet(*network(), gpus=1)
    assert data["LaunchSpecifications"][0]["ImageId"] == f"resolve:ssm:{gpu_image}"
    ctx = make_ctx(ready, tool=spec(gpus=1), MACHINE_TYPE="['g4dn.xlarge']", TASKS_PER_MACHINE="1")
    setup(ctx)  # registers the GPUs
    assert start_cluster(ctx, write_fleet_file(ready, data), wait_seconds=5, poll_seconds=0.01) == 0, output(ctx)
    [template] = templates()
    version = boto3.client("ec2", region_name=REGION).describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    ssm = boto3.client("ssm", region_name=REGION)
    assert version["ImageId"] == ssm.get_parameter(Name=gpu_image)["Parameter"]["Value"]
    [fleet] = fleets()
    assert {o["InstanceType"] for o in fleet["LaunchTemplateConfigs"][0]["Overrides"]} == {"g4dn.xlarge"}


def test_a_gpu_tool_refuses_the_plain_ecs_image_naming_the_gpu_one(ready: Path) -> None:
    path = write_fleet_file(ready, ds_example_fleet(*network(), gpus=0))
    load_fleet_file(path)  # a CPU tool starts it
    with pytest.raises(FleetFileError) as caught:
        start_cluster(make_ctx(ready, tool=spec(gpus=1)), path, wait_seconds=1)
    assert (
        "LaunchSpecifications[0].ImageId: 'resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/"
        "image_id' is the ECS-optimised image without GPU drivers, but the tool needs 1 GPU(s) per container "
        "(tool/spec.json's gpus): use resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/"
        "image_id"
    ) in str(caught.value)
    assert fleets() == []


def gpu_ready(folder: Path, machines: str = "2", machine_type: str = "g4dn.2xlarge") -> tuple[Context, Path]:
    """A GPU tool set up on the emulator, and its Fleet file of the ECS GPU image."""
    ctx = make_ctx(
        folder, tool=spec(gpus=1), MACHINE_TYPE=f"['{machine_type}']", TASKS_PER_MACHINE="1", CLUSTER_MACHINES=machines
    )
    setup(ctx)
    return ctx, write_fleet_file(folder, ds_example_fleet(*network(), gpus=1))


def quota_answer(vcpus: float) -> dict:
    return {"Quota": {"ServiceCode": "ec2", "QuotaCode": "L-3819A6DF", "Value": vcpus}}


QUOTA = "your spot quota 'All G and VT Spot Instance Requests' (L-3819A6DF) in us-east-1"


def test_start_cluster_warns_when_the_g_and_vt_spot_quota_is_below_the_fleet(ready: Path) -> None:
    ctx, path = gpu_ready(ready)
    with Stubber(ctx.client("service-quotas")) as quotas:
        quotas.add_response("get_service_quota", quota_answer(8.0), {"ServiceCode": "ec2", "QuotaCode": "L-3819A6DF"})
        assert start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01) == 0
    text = " ".join(output(ctx).split())  # the console wraps long lines
    assert (
        f"warning: {QUOTA} is 8 vCPUs, but CLUSTER_MACHINES 2 x g4dn.2xlarge's 8 vCPUs = 16: AWS starts 1 such "
        "machine(s) at most. Ask for 16 vCPUs at https://console.aws.amazon.com/servicequotas/home/services/ec2/"
        "quotas/L-3819A6DF (Request increase), or lower CLUSTER_MACHINES"
    ) in text
    assert text.index("warning:") < text.index("EC2 Fleet")  # said before the fleet is asked for


def test_start_cluster_says_nothing_of_a_quota_that_holds_the_fleet(ready: Path) -> None:
    ctx, path = gpu_ready(ready)
    with Stubber(ctx.client("service-quotas")) as quotas:
        quotas.add_response("get_service_quota", quota_answer(16.0))
        assert start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01) == 0
    assert "quota" not in output(ctx)


def test_an_unreadable_quota_is_a_note_and_the_fleet_still_starts(ready: Path) -> None:
    """The emulator has no EC2 quotas (moto answers get_service_quota for VPC's codes only): NoSuchResource."""
    ctx, path = gpu_ready(ready)
    assert start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01) == 0
    text = " ".join(output(ctx).split())
    assert f"note: {QUOTA} could not be read (NoSuchResourceException); the fleet needs up to 16 vCPUs" in text
    assert len(fleets()) == 1
    denied, _ = gpu_ready(ready)
    with Stubber(denied.client("service-quotas")) as quotas:
        quotas.add_client_error("get_service_quota", service_error_code="AccessDeniedException")
        assert "could not be read (AccessDeniedException)" in check_gpu_spot_quota(denied, require_fit(denied)).notes[0]


def test_a_fleet_without_g_or_vt_types_never_asks_for_the_quota(ready: Path) -> None:
    ctx = make_ctx(ready)
    with Stubber(ctx.client("service-quotas")):  # no answer queued: a call would fail the test
        assert start_cluster(ctx, write_fleet_file(ready), wait_seconds=5, poll_seconds=0.01) == 0
    assert [counted(t) for t in ("g4dn.xlarge", "g6e.xlarge", "vt1.3xlarge", "m5.xlarge", "p3.2xlarge")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_launch_specifications_that_differ_become_versions_of_one_template(ready: Path) -> None:
    """A spec per machine type with its own disk: two versions; zones and security groups by their EC2 Fleet names."""
    subnet, group = network()
    data = fleet_data(subnet, group)
    second = json.loads(json.dumps(data["LaunchSpecifications"][0]))
    second["BlockDeviceMappings"] = [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeType": "gp3"}}]
    second.update(Placement={"AvailabilityZone": f"{REGION}a", "Tenancy": "default"}, SpotPrice="0.5")
    data["LaunchSpecifications"].append(second)
    ctx = make_ctx(ready)
    launch = build_request(ctx, load_fleet_file(write_fleet_file(ready, data)), "run-1")
    assert len(launch.versions) == 2
    assert launch.versions[1]["Placement"] == {"Tenancy": "default"}
    assert [c["LaunchTemplateSpecification"]["Version"] for c in launch.request["LaunchTemplateConfigs"]] == ["1", "2"]
    assert [c["Overrides"] for c in launch.request["LaunchTemplateConfigs"]] == [
        [{"InstanceType": "m5.large", "SubnetId": subnet, "MaxPrice": "0.1000"}],
        [{"InstanceType": "c5.large", "SubnetId": subnet, "AvailabilityZone": f"{REGION}a", "MaxPrice": "0.1000"}],
    ]  # a spec's own SpotPrice gives way to MACHINE_PRICE, as before
    assert start_cluster(ctx, write_fleet_file(ready, data), wait_seconds=5, poll_seconds=0.01) == 0
    [template] = templates()
    assert template["LatestVersionNumber"] == 2


def test_a_fleet_aws_refuses_leaves_no_launch_template(ready: Path) -> None:
    """CreateFleet refused (a subnet that does not exist): the run's launch template goes too."""
    _, group = network()
    path = write_fleet_file(ready, fleet_data("subnet-0123456789abcdef0", group))
    with pytest.raises(ClientError, match=r"InvalidSubnetID\.NotFound"):
        start_cluster(make_ctx(ready), path, wait_seconds=1)
    assert fleets() == [] and templates() == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()
