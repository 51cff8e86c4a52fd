"""Do TASKS_PER_MACHINE containers of CPU_SHARES, MEMORY and the tool's GPUs fit each MACHINE_TYPE?

ECS places a task on a machine only where the CPU units and memory the machine registered
cover it; containers that fit no machine of the fleet are never placed, and the machines bill
idle (Distributed-CellProfiler's issue 126). GPUs are never shared: the ECS agent gives each
container its own (the tool spec's `gpus`), so a machine holds as many as it has GPUs for.
A spot fleet may launch any of its types, so each MACHINE_TYPE that cannot hold
TASKS_PER_MACHINE containers is refused on its own, by name: one such type is enough for
machines that bill while running fewer containers, or none.

`run.py check` looks the types up offline in instance_types.py (an unknown type is a note);
startCluster asks AWS (DescribeInstanceTypes) before it creates anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ...config import DSConfig
from ..common.context import CommandError, Context, error_code
from .instance_types import INSTANCE_TYPES, SOURCE
from .pinned_image import by_digest

CPU_UNITS_PER_VCPU = 1024  # what a machine registers with ECS per vCPU (ECS's task definition reference)
MIN_CPU_SHARES = 128  # config.DSConfig's lower bound for CPU_SHARES
# Memory ECS cannot give containers. A machine registers what its kernel reports, less
# ECS_RESERVED_MEMORY: below the advertised size (AWS's example: an m4.large's 8192 MiB register
# as 7985, 2.5% less; ECS developer guide, "Reserving Amazon ECS Linux container instance memory",
# docs.aws.amazon.com/AmazonECS/latest/developerguide/memory-management.html), and the agent's
# ECS_RESERVED_MEMORY is 0 unless set (amazon-ecs-agent README; run.py's user data sets none).
# What the kernel takes differs by type, so 5% is kept back, the buffer AWS advises for the ECS
# agent and the system ("Reserve system memory", AWS Batch user guide,
# docs.aws.amazon.com/batch/latest/userguide/ecs-reserved-memory.html).
SYSTEM_MEMORY_PERCENT = 5
# The families the ECS GPU-optimised AMI drives (NVIDIA GPUs), suggested when a type of another family is too small.
GPU_FAMILIES = ("g4dn", "g5", "g6", "p3")


@dataclass(frozen=True)
class Machine:
    """One instance type as DescribeInstanceTypes describes it."""

    name: str
    vcpus: int
    memory_mib: int
    gpus: int = 0

    @property
    def cpu_units(self) -> int:
        return self.vcpus * CPU_UNITS_PER_VCPU

    @property
    def memory_for_containers(self) -> int:
        return self.memory_mib - -(-self.memory_mib * SYSTEM_MEMORY_PERCENT // 100)  # less 5%, rounded up

    def describe(self) -> str:
        gpus = f", {self.gpus} GPU{'s' * (self.gpus > 1)}" if self.gpus else ""
        return (
            f"{self.name} ({self.vcpus} vCPUs = {self.cpu_units} CPU units{gpus}, {self.memory_mib / 1024:g} GiB "
            f"of which {self.memory_for_containers} MiB for containers after {SYSTEM_MEMORY_PERCENT}% "
            "for the system and the ECS agent)"
        )


@dataclass(frozen=True)
class Containers:
    """What one machine must hold: TASKS_PER_MACHINE containers of CPU_SHARES units, MEMORY MiB and `gpus` GPUs."""

    tasks: int
    cpu_shares: int
    memory: int
    gpus: int = 0

    @classmethod
    def of(cls, config: DSConfig, gpus: int = 0) -> Containers:
        return cls(config.TASKS_PER_MACHINE, config.CPU_SHARES, config.MEMORY, gpus)

    def held_by(self, machine: Machine) -> int:
        """How many of these containers ECS places on one such machine."""
        held = min(machine.memory_for_containers // self.memory, machine.cpu_units // self.cpu_shares)
        return min(held, machine.gpus // self.gpus) if self.gpus else held


@dataclass(frozen=True)
class Fit:
    problems: list[str]  # types that cannot hold the containers, one each
    notes: list[str]  # types whose size is unknown here


def container_gpus(container: dict[str, Any]) -> int:
    """The GPUs a registered container definition asks for (0: none)."""
    return sum(int(r["value"]) for r in container.get("resourceRequirements", []) if r["type"] == "GPU")


def table_machine(name: str) -> Machine | None:
    """The instance type from the shipped table, None if the table lacks it."""
    if name not in INSTANCE_TYPES:
        return None
    vcpus, memory, gpus = INSTANCE_TYPES[name]
    return Machine(name, vcpus, memory, gpus)


def check_fit(config: DSConfig, known: Mapping[str, Machine], gpus: int = 0) -> Fit:
    """A problem per MACHINE_TYPE that cannot hold the containers (`gpus` GPUs each); a note per type `known` lacks."""
    containers = Containers.of(config, gpus)
    types = list(dict.fromkeys(config.MACHINE_TYPE))
    misfits = [known[t] for t in types if t in known and containers.held_by(known[t]) < containers.tasks]
    fitting = [t for t in types if t in known and known[t] not in misfits]
    notes = [
        f"MACHINE_TYPE {t!r} is not in this repository's table of instance types ({SOURCE}): "
        "startCluster asks AWS (DescribeInstanceTypes) whether the containers fit it"
        for t in types
        if t not in known
    ]
    return Fit([_misfit(containers, m, fitting) for m in misfits], notes)


def _misfit(c: Containers, m: Machine, fitting: list[str]) -> str:
    """What does not fit `m`, what ECS would do, and the fixes (`fitting`: the listed types that hold them)."""
    memory, cpu = c.tasks * c.memory, c.tasks * c.cpu_shares
    short = []
    lower = []
    if memory > m.memory_for_containers:
        short.append(f"MEMORY {c.memory} x TASKS_PER_MACHINE {c.tasks} = {memory} MiB ({memory / 1024:.4g} GiB)")
        lower.append(f"MEMORY to at most {m.memory_for_containers // c.tasks}")
    if cpu > m.cpu_units:
        short.append(f"CPU_SHARES {c.cpu_shares} x TASKS_PER_MACHINE {c.tasks} = {cpu} CPU units")
        if m.cpu_units // c.tasks >= MIN_CPU_SHARES:
            lower.append(f"CPU_SHARES to at most {m.cpu_units // c.tasks}")
    gpus = c.gpus * c.tasks
    if gpus > m.gpus:  # lowering MEMORY or CPU_SHARES then places no more containers
        short.append(f"gpus {c.gpus} (tool/spec.json) x TASKS_PER_MACHINE {c.tasks} = {gpus} GPU{'s' * (gpus > 1)}")
        lower = []
    held = c.held_by(m)
    placed = (
        "ECS would place none of them: its machines would bill idle"
        if not held
        else f"ECS would place only {held} per machine: the other tasks would wait while the machines bill"
    )
    fixes = [f"lower {' and '.join(lower)}"] * bool(lower) + [f"TASKS_PER_MACHINE to {held}"] * bool(held)
    larger = _larger(c, m)
    kind = "a MACHINE_TYPE with GPUs" if c.gpus and not m.gpus else "a larger MACHINE_TYPE"
    fixes.append(f"choose {kind}{f' (e.g. {larger})' if larger else ''}")
    if fitting:
        fixes.append(f"remove {m.name!r} from MACHINE_TYPE ({', '.join(fitting)} hold{'s' * (len(fitting) == 1)} them)")
    return (
        f"{' and '.join(short)} do{'es' * (len(short) == 1)} not fit MACHINE_TYPE {m.describe()}; "
        f"{placed}. Fix: {', or '.join(fixes)}"
    )


def _larger(c: Containers, m: Machine) -> str:
    """The smallest type of the same family (m5 for m5.xlarge) in the table that holds the containers; for
    containers with GPUs and a family without enough, the smallest such type of the GPU families."""
    family = m.name.split(".")[0]
    return _smallest_holding(c, (family,)) or (_smallest_holding(c, GPU_FAMILIES) if c.gpus else "")


def _smallest_holding(c: Containers, families: tuple[str, ...]) -> str:
    fitting = [
        t
        for name in INSTANCE_TYPES
        if name.split(".")[0] in families and (t := table_machine(name)) and c.held_by(t) >= c.tasks
    ]
    smallest = min(fitting, key=lambda t: (t.memory_mib, t.vcpus, t.name), default=None)
    return smallest.name if smallest else ""


def offline_fit(config: DSConfig, gpus: int = 0) -> Fit:
    """`check`'s fit: the shipped table; types it lacks are notes."""
    known = {t: m for t in config.MACHINE_TYPE if (m := table_machine(t))}
    return check_fit(config, known, gpus)


def described_machines(ctx: Context) -> dict[str, Machine]:
    """MACHINE_TYPE as AWS describes it in AWS_REGION; CommandError for a name AWS does not know."""
    names = list(dict.fromkeys(ctx.config.MACHINE_TYPE))
    try:
        pages = ctx.client("ec2").get_paginator("describe_instance_types").paginate(InstanceTypes=names)
        described: list[dict[str, Any]] = [t for page in pages for t in page["InstanceTypes"]]
    except ClientError as exc:
        code = error_code(exc)
        if code == "InvalidInstanceType":
            raise CommandError(
                f"MACHINE_TYPE {names}: {exc.response['Error'].get('Message', code)} in {ctx.config.AWS_REGION}; "
                "fix the name in config.py (e.g. 'm5.xlarge'); nothing was started"
            ) from None
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            raise CommandError(
                "startCluster checks that the containers fit MACHINE_TYPE with ec2:DescribeInstanceTypes, which "
                "your AWS user may not call: give it the policy `python run.py setupAccount --print-policy` "
                "prints; nothing was started"
            ) from None
        raise
    return {
        t["InstanceType"]: Machine(
            t["InstanceType"],
            t["VCpuInfo"]["DefaultVCpus"],
            t["MemoryInfo"]["SizeInMiB"],
            sum(gpu.get("Count", 0) for gpu in t.get("GpuInfo", {}).get("Gpus", [])),
        )
        for t in described
    }


def require_fit(ctx: Context) -> dict[str, Machine]:
    """startCluster, before anything is created: CommandError naming each type the containers do not fit,
    or if the service's task definition (what ECS places) has other CPU units, memory or GPUs than asked.
    The machine types as AWS describes them."""
    machines = described_machines(ctx)
    fit = check_fit(ctx.config, machines, ctx.spec.gpus)
    if fit.problems:
        raise CommandError(
            "the containers do not fit the machines, nothing was started:\n  " + "\n  ".join(fit.problems)
        )
    _require_registered(ctx)
    return machines


def _require_registered(ctx: Context) -> None:
    ecs = ctx.client("ecs")
    [service] = ecs.describe_services(cluster=ctx.config.ECS_CLUSTER, services=[ctx.service_name])["services"]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    container = definition["containerDefinitions"][0]
    registered = (container.get("cpu"), container.get("memory"))
    if registered != (ctx.config.CPU_SHARES, ctx.config.MEMORY):
        raise CommandError(
            f"service {ctx.service_name} runs task definition {definition['family']}:{definition['revision']} "
            f"with cpu {registered[0]} and memory {registered[1]}, but config.py has CPU_SHARES "
            f"{ctx.config.CPU_SHARES} and MEMORY {ctx.config.MEMORY}: run `python run.py setup` to register "
            "config.py's, then startCluster; nothing was started"
        )
    if not by_digest(container["image"]):  # registered by a version before setup pinned images
        raise CommandError(
            f"service {ctx.service_name} runs task definition {definition['family']}:{definition['revision']}, "
            f"which names its image by tag ({container['image']}): the machines could each pull another image. Run "
            "`python run.py setup` to pin it by digest, then startCluster; nothing was started"
        )
    gpus = container_gpus(container)
    if gpus != ctx.spec.gpus:
        raise CommandError(
            f"service {ctx.service_name} runs task definition {definition['family']}:{definition['revision']} "
            f"with {gpus} GPU(s) per container, but tool/spec.json has gpus {ctx.spec.gpus}: run `python run.py "
            "setup` to register it, then startCluster; nothing was started"
        )
