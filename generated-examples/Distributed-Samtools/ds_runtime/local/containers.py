"""Local workers as Docker containers: the repository's own worker image, run as ECS would run it.

With `--docker`, local mode starts CLUSTER_MACHINES x TASKS_PER_MACHINE containers of
config.py's DOCKERHUB_TAG in place of worker processes: the tool runs from the image,
so nothing but Docker has to be installed, and a local run tries the very image the
cloud will run. setup pins the image by its id (DS_IMAGE holds the same), and the containers
run that id, as ECS runs the digest its task definition names. Each container gets the
registered task definition's environment, memory limit, CPU shares, privilege and GPUs
(`--gpus N`, only for a tool with gpus), plus the emulator's address, throwaway keys that
only the emulator accepts (never real credentials) and short receives.

Host networking lets a container reach the emulator on 127.0.0.1 (the emulator
listens on loopback only). Linux engines have it; Docker Desktop only with its
"host networking" setting turned on.

The containers are labelled (ds.app, ds.run), so `docker ps --filter label=ds.app=<APP_NAME>`
finds them. Stopping is `docker stop`: SIGTERM, which the worker turns into releasing
its job, then SIGKILL after the grace period; each container's log is then saved to
.local/workers/<name>.log and the container removed.
"""

from __future__ import annotations

import contextlib
import math
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import DSConfig
from ..control.common.context import CommandError, Context, PinnedImage
from ..control.common.docker_engine import docker_engine, first_line
from ..control.machines.machine_fit import container_gpus
from .workers import EMULATOR_KEYS, SHORT_RECEIVES, STOP_GRACE_SECONDS, container_definition

LABEL_APP = "ds.app"
LABEL_RUN = "ds.run"


@dataclass(frozen=True)
class LocalContainer:
    id: str
    name: str


def require_image(client: Any, tag: str) -> dict[str, Any]:
    """The local image `tag`'s attributes; a CommandError saying how to get it if it is not here."""
    import docker  # imported by whoever made `client`

    try:
        return client.images.get(tag).attrs
    except docker.errors.ImageNotFound:
        raise CommandError(
            f"image {tag} (config.py's DOCKERHUB_TAG) is not on this computer: build it with "
            f"`python run.py buildImage`, or `docker pull {tag}` if it is published"
        ) from None


def container_environment(ctx: Context, endpoint_url: str) -> dict[str, str]:
    """The task definition's environment, plus the emulator's address, its throwaway keys and short receives."""
    env = {item["name"]: item["value"] for item in container_definition(ctx).get("environment", [])}
    return {**env, **EMULATOR_KEYS, **SHORT_RECEIVES, "AWS_ENDPOINT_URL": endpoint_url}


def run_options(ctx: Context, endpoint_url: str) -> dict[str, Any]:
    """`docker run` options mirroring the task definition (memory, CPU shares, privilege, GPUs)."""
    definition = container_definition(ctx)
    options: dict[str, Any] = {
        "environment": container_environment(ctx, endpoint_url),
        "network_mode": "host",  # the emulator listens on 127.0.0.1 only
        "privileged": bool(definition.get("privileged")),  # as on ECS: only for a FUSE mount
    }
    if definition.get("memory"):
        options["mem_limit"] = f"{int(definition['memory'])}m"  # ECS's hard limit, in MiB
    if definition.get("cpu", 0) >= 2:
        options["cpu_shares"] = int(definition["cpu"])  # ECS's cpu units are Docker's CPU shares
    gpus = container_gpus(definition)
    if gpus:  # `docker run --gpus N`: only then, as a computer without the NVIDIA runtime refuses any request
        options["device_requests"] = [{"count": gpus, "capabilities": [["gpu"]]}]
    return options


def start_containers(
    ctx: Context, endpoint_url: str, count: int, run_id: str = "", client: Any = None
) -> list[LocalContainer]:
    """`count` containers of the image setup pinned (each runs DOCKER_CORES workers), labelled with app and run."""
    client = client or docker_engine()
    import docker

    image = container_definition(ctx)["image"]  # the built image's id setup pinned, as ECS runs its digest
    options = run_options(ctx, endpoint_url)
    app = ctx.config.APP_NAME
    labels = {LABEL_APP: app, LABEL_RUN: run_id or "local"}
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{app}-{run_id}" if run_id else app)
    started: list[LocalContainer] = []
    try:
        for index in range(count):
            name = f"{prefix}-task{index + 1}-{secrets.token_hex(2)}"
            container = client.containers.run(image, detach=True, name=name, labels=labels, **options)
            started.append(LocalContainer(container.id, name))
    except docker.errors.APIError as exc:
        stop_containers([c.id for c in started], grace=0, client=client)
        raise CommandError(f"could not start a container of {image}: {first_line(exc)}") from None
    return started


def running_containers(ids: list[str], client: Any = None) -> int:
    """How many of these containers are still up (created, running or restarting)."""
    client = client or docker_engine()
    import docker

    count = 0
    for container_id in ids:
        with contextlib.suppress(docker.errors.NotFound):  # removed: not running
            count += client.containers.get(container_id).status in ("created", "running", "restarting")
    return count


def stop_containers(
    ids: list[str], grace: float = STOP_GRACE_SECONDS, log_dir: Path | None = None, client: Any = None
) -> None:
    """`docker stop` (SIGTERM, SIGKILL after `grace`) all at once, keep each log, then remove them."""
    if not ids:
        return
    client = client or docker_engine()
    import docker

    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)

    def stop_one(container_id: str) -> None:
        try:
            container = client.containers.get(container_id)
        except docker.errors.NotFound:
            return  # removed already
        with contextlib.suppress(docker.errors.APIError):  # gone, or dead: the forced remove settles it
            container.stop(timeout=max(0, math.ceil(grace)))
            if log_dir is not None:
                (log_dir / f"{container.name}.log").write_bytes(container.logs())
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)

    with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
        list(pool.map(stop_one, ids))  # re-raises the first error, after every stop has run


class ContainerFleet:
    """The local fleet as containers of the worker image (needs a Docker engine and the image)."""

    kind = "docker"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_engine()
        return self._client

    def check(self, config: DSConfig) -> None:
        require_image(self.client, config.DOCKERHUB_TAG)

    def image(self, config: DSConfig) -> PinnedImage:
        built = require_image(self.client, config.DOCKERHUB_TAG)["Id"]
        return PinnedImage(built, "the image built on this computer, by its id")

    def start(self, ctx: Context, endpoint_url: str, count: int, run_id: str = "") -> list[str]:
        return [c.id for c in start_containers(ctx, endpoint_url, count, run_id, client=self.client)]

    def stop(self, ids: list[str], grace: float = STOP_GRACE_SECONDS) -> None:
        stop_containers(ids, grace, self.log_dir, client=self.client)

    def running(self, ids: list[str]) -> int:
        return running_containers(ids, client=self.client)

    def where_logs_are(self) -> str:
        return f"`docker logs <name>` while they run, then {self.log_dir}"
