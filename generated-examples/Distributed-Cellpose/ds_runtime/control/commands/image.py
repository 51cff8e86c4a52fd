"""`python run.py buildImage [--push] [--build-arg K=V ...]`: the worker image, in one command.

Builds this repository's Dockerfile, tagged with config.py's DOCKERHUB_TAG (the image
the task definition names, by the digest setup pins it to), and with --push sends it to
that tag's registry (Docker Hub unless the tag starts with a registry host), using the
logins `docker login` made: no credentials pass through run.py. The pushed digest is
recorded in files/pushed-images.json (push_record.py). Needs a running Docker engine and the `docker`
Python package (in requirements.txt).
"""

from __future__ import annotations

import argparse
import platform as host_platform
import re
import time
from pathlib import Path
from typing import Any

from ..common.context import CommandError, Context
from ..common.docker_engine import docker_engine, first_line
from ..machines.push_record import PUSH_RECORD, record_push

BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOG_LINES_ON_ERROR = 30


def parse_build_args(items: list[str] | None) -> dict[str, str]:
    """`K=V` strings (repeated --build-arg) as a dict; a bad one is a CommandError."""
    args: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not BUILD_ARG_NAME.match(name):
            example = "--build-arg WORKER_PYTHON=/usr/bin/python3"
            raise CommandError(f"--build-arg {item!r}: write NAME=VALUE, e.g. {example}")
        args[name] = value
    return args


def build_image(
    ctx: Context,
    push: bool,
    build_args: dict[str, str],
    *,
    context: Path | None = None,
    network: str | None = None,
    platform: str | None = None,
    nocache: bool = False,
    client: Any = None,
) -> int:
    """Build `context`/Dockerfile (default: this folder) as DOCKERHUB_TAG; push it if asked. 0 on success.

    `network`: the build's network (`host` reaches an index served on 127.0.0.1);
    `platform`: e.g. linux/amd64, what ECS's x86 machines run, from an arm64 computer.
    """
    context = (context or Path.cwd()).resolve()
    if not (context / "Dockerfile").is_file():
        raise CommandError(f"{context / 'Dockerfile'} not found: run buildImage from the repository's folder")
    tag = ctx.config.DOCKERHUB_TAG
    if "@" in tag:
        raise CommandError(
            f"config.py's DOCKERHUB_TAG {tag!r} names an image by digest, which no build can produce: "
            "give a tag to build and push (e.g. 'myorg/distributed-fiji:1.0'); setup pins it to its digest"
        )
    client = client or docker_engine()
    _warn_about_platform(ctx, client, platform)
    ctx.console.print(f"building {tag} from {context / 'Dockerfile'}")
    started = time.monotonic()
    _build(ctx, client, context, tag, build_args, network=network, platform=platform, nocache=nocache)
    size = client.images.get(tag).attrs.get("Size", 0)
    ctx.console.print(f"built {tag} ({size / 1e6:.0f} MB) in {time.monotonic() - started:.1f} s")
    if push:
        started = time.monotonic()
        digest = push_image(ctx, client, tag)
        ctx.console.print(f"pushed {tag} ({digest or 'no digest reported'}) in {time.monotonic() - started:.1f} s")
        if digest:  # what setup pins the tag to when it cannot ask the registry
            record_push(tag, digest, context / PUSH_RECORD)
            ctx.console.print(f"digest recorded in {context / PUSH_RECORD} (commit it: setup pins the run to it)")
    else:
        ctx.console.print(f"push it with `python run.py buildImage --push` (or `docker push {tag}`)")
    return 0


def _build(
    ctx: Context,
    client: Any,
    context: Path,
    tag: str,
    build_args: dict[str, str],
    *,
    network: str | None,
    platform: str | None,
    nocache: bool,
) -> None:
    import docker

    lines: list[str] = []
    error = ""
    try:
        for chunk in client.api.build(
            path=str(context),
            tag=tag,
            buildargs=build_args,
            network_mode=network,
            platform=platform,
            nocache=nocache,
            rm=True,
            forcerm=True,  # no stopped containers left behind by a failed step
            decode=True,
        ):
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    lines.append(line)
                    ctx.console.print(line, markup=False, highlight=False, soft_wrap=True)
            if "error" in chunk:
                error = chunk["error"].strip()
    except docker.errors.APIError as exc:
        error = first_line(exc)
    if error:
        raise CommandError(f"docker build of {tag} failed: {error}{_tail(lines)}")


def push_image(ctx: Context, client: Any, tag: str) -> str:
    """Push `tag` with the engine's logins; its digest. A CommandError says why a push failed."""
    import docker
    from docker.utils import parse_repository_tag

    repository, version = parse_repository_tag(tag)
    registry = repository.split("/", 1)[0] if _has_registry(repository) else "Docker Hub"
    ctx.console.print(f"pushing {tag} to {registry}")
    digest, error, layers = "", "", set()
    try:
        for chunk in client.api.push(repository, tag=version or "latest", stream=True, decode=True):
            if "error" in chunk:
                error = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            elif chunk.get("status") in ("Pushed", "Layer already exists") and chunk.get("id") not in layers:
                layers.add(chunk.get("id"))
            elif "aux" in chunk and isinstance(chunk["aux"], dict):
                digest = chunk["aux"].get("Digest", digest)
    except docker.errors.APIError as exc:
        error = first_line(exc)
    if error:
        login = "docker login" if registry == "Docker Hub" else f"docker login {registry}"
        raise CommandError(
            f"push of {tag} to {registry} failed: {error.strip()}. The image is built; check that the "
            f"registry is reachable, that DOCKERHUB_TAG names a repository you may write to, and that "
            f"`{login}` has been run on this computer"
        )
    return digest


def _has_registry(repository: str) -> bool:
    """Docker's rule: the first part is a registry host if it has a dot or a port, or is localhost."""
    first, sep, _ = repository.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _warn_about_platform(ctx: Context, client: Any, platform: str | None) -> None:
    if platform:
        return
    arch = str(client.info().get("Architecture") or host_platform.machine())
    if arch not in ("x86_64", "amd64"):
        ctx.console.print(
            f"note: this engine builds {arch} images; for x86 EC2 machines add --platform linux/amd64",
            markup=False,
        )


def _tail(lines: list[str]) -> str:
    shown = [line for line in lines if line.strip()][-LOG_LINES_ON_ERROR:]
    return ("\nlast lines of the build:\n" + "\n".join(shown)) if shown else ""


def run_build_image(ctx: Context, args: argparse.Namespace) -> int:
    build_args = parse_build_args(args.build_args)
    return build_image(ctx, args.push, build_args, network=args.network, platform=args.platform, nocache=args.no_cache)
