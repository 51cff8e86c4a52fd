"""The DS fleet file (files/exampleFleet.json): read and checked before anything is asked of AWS.

Below both startCluster (which sends it) and the estimate (which prices its zones), so
neither imports the other for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...jsonfile import read_json
from ..common.context import CommandError
from .fleet_mapping import unmappable
from .placement import split_subnets

SSM_PREFIX = "resolve:ssm:"  # ImageId "resolve:ssm:<parameter>" = the AMI that parameter names
# AWS's public parameters of the ECS-optimised images (ECS developer guide, "Retrieving Amazon ECS-optimized
# Linux AMI metadata"); the GPU one adds the NVIDIA driver and the agent's GPU support, which a tool with
# gpus needs: on the plain image ECS registers no GPUs and places none of its containers.
ECS_IMAGES = "/aws/service/ecs/optimized-ami/"
ECS_GPU_IMAGE = ECS_IMAGES + "amazon-linux-2023/gpu/recommended/image_id"
EXAMPLE_ID = re.compile(r"^(subnet|sg|ami)-([A-Z])\2{3,}$")  # subnet-WWWWWWWW, sg-ZZZZZZZZ...


class FleetFileError(CommandError):
    """The fleet file cannot be used: the message names the file, the field and the fix."""


def load_fleet_file(path: Path, allow_stand_ins: bool = False, gpus: int = 0) -> dict[str, Any]:
    """The fleet file, checked; `allow_stand_ins` (local mode) accepts the example's placeholder ids;
    `gpus` (the tool's per container): an ECS image parameter must name the GPU one."""
    data = read_json(path, FleetFileError, "start from files/exampleFleet.json")
    problems = []
    if not isinstance(data, dict):
        raise FleetFileError(f"{path}: must be a JSON object like files/exampleFleet.json")
    problems += unmappable(data)  # IamFleetRole among the accepted: EC2 Fleet does not use it
    specs = data.get("LaunchSpecifications")
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        problems.append("LaunchSpecifications: must be a non-empty list of launch specifications (objects)")
        specs = []
    for i, spec in enumerate(specs):
        where = f"LaunchSpecifications[{i}]"
        if not isinstance(spec.get("ImageId"), str):
            problems.append(f"{where}.ImageId: missing; give an ECS-optimised AMI id, or {SSM_PREFIX}<parameter>")
        shape = _shape_problems(where, spec)
        problems += shape
        if shape:
            continue
        for j, nic in enumerate(spec.get("NetworkInterfaces", [])):
            subnets = [("SubnetId", s) for s in split_subnets(nic.get("SubnetId"))]
            for key, value in subnets + [("Groups", g) for g in nic.get("Groups", [])]:
                if isinstance(value, str) and EXAMPLE_ID.match(value) and not allow_stand_ins:
                    problems.append(
                        f"{where}.NetworkInterfaces[{j}].{key}: {value!r} is the example's stand-in; "
                        "put your own id (EC2 console > VPC > Subnets / Security groups)"
                    )
        if isinstance(spec.get("ImageId"), str) and EXAMPLE_ID.match(spec["ImageId"]) and not allow_stand_ins:
            problems.append(f"{where}.ImageId: {spec['ImageId']!r} is a stand-in; give a real AMI id")
        if gpus and _plain_ecs_image(spec.get("ImageId")):
            problems.append(
                f"{where}.ImageId: {spec['ImageId']!r} is the ECS-optimised image without GPU drivers, but the tool "
                f"needs {gpus} GPU(s) per container (tool/spec.json's gpus): use {SSM_PREFIX}{ECS_GPU_IMAGE}"
            )
    if problems:
        raise FleetFileError(f"{path}: {len(problems)} problem(s), nothing was started:\n  " + "\n  ".join(problems))
    return data


def _plain_ecs_image(image: Any) -> bool:
    """An ImageId naming one of AWS's ECS-optimised image parameters other than a GPU one (an AMI id: unknown)."""
    if not isinstance(image, str) or not image.startswith(SSM_PREFIX + ECS_IMAGES):
        return False
    return "/gpu/" not in image


def _shape_problems(where: str, spec: dict[str, Any]) -> list[str]:
    """The parts of a launch specification startCluster reads and changes, each of the shape AWS gives it."""
    problems = []

    def objects(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)

    nics, disks = spec.get("NetworkInterfaces", []), spec.get("BlockDeviceMappings", [])
    if not objects(nics):
        problems.append(f"{where}.NetworkInterfaces: must be a list of objects, one per network interface")
    elif any(not isinstance(n.get("Groups", []), list) for n in nics):
        problems.append(f"{where}.NetworkInterfaces: each Groups must be a list of security group ids")
    if not objects(disks) or any(not isinstance(d.get("Ebs", {}), dict) for d in disks):
        problems.append(f"{where}.BlockDeviceMappings: must be a list of objects, each Ebs an object")
    profile = spec.get("IamInstanceProfile", {})
    if not isinstance(profile, dict) or not isinstance(profile.get("Arn", ""), str):
        problems.append(
            f"{where}.IamInstanceProfile: must be an object with the profile's Arn (setupAccount prints it)"
        )
    return problems
