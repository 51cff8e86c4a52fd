"""setup's image pin: config.py's DOCKERHUB_TAG resolved to the digest ECS will pull.

A tag can move (a new push of `:1.0`, `:latest`); a digest cannot. The task definition names
the image by digest (`repo@sha256:...`) and gives the worker the same text as DS_IMAGE, so a
run set up before a push keeps the image it was set up with, and every outcome record names
what really ran. Where the digest comes from, first that answers:
  - DOCKERHUB_TAG is already `repo@sha256:...`: that;
  - an ECR repository: ECR's DescribeImages of the tag;
  - any other registry: the registry itself, through the Docker engine (its logins included);
    else the digest `buildImage --push` recorded in files/pushed-images.json (push_record.py).
A tag none of these can resolve is refused (see `unresolvable`): setup creates nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ...aws import RETRIES
from ..common.context import CommandError, Context, PinnedImage, error_code
from ..common.docker_engine import docker_engine, first_line
from ..resources.account import ecr_image, ecr_repository
from .push_record import PUSH_RECORD, recorded_push

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
ECR_MISSING = ("RepositoryNotFoundException", "ImageNotFoundException")


def by_digest(tag: str) -> bool:
    return bool(DIGEST.search(tag))


def repository_of(tag: str) -> str:
    """The image's name without its tag or digest (a registry's port is not a tag)."""
    name = tag.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.split(':', 1)[0]}"


def pin(ctx: Context, engine: Callable[[], Any] = docker_engine, record: Path = PUSH_RECORD) -> PinnedImage:
    """DOCKERHUB_TAG by digest; a CommandError saying how to push it when it cannot be resolved."""
    tag = ctx.config.DOCKERHUB_TAG
    if by_digest(tag):
        return PinnedImage(tag, "config.py names it by digest")
    if ecr_repository(tag):
        return PinnedImage(f"{repository_of(tag)}@{_ecr_digest(ctx, tag)}", "ECR's digest of the tag")
    recorded = recorded_push(tag, record)
    digest, why_not = registry_digest(tag, engine)
    if digest:
        how = "the registry's digest of the tag"
        if recorded is not None and recorded[0] != digest:
            how += f"; the tag has moved since buildImage --push recorded {recorded[0]} in {record}"
        return PinnedImage(f"{repository_of(tag)}@{digest}", how)
    if recorded is None:
        raise CommandError(unresolvable(tag, f"the registry could not be asked ({why_not})", record))
    digest, pushed = recorded
    return PinnedImage(
        f"{repository_of(tag)}@{digest}",
        f"as buildImage --push recorded it in {record} at {pushed}; the registry could not be asked: {why_not}",
    )


def registry_digest(tag: str, engine: Callable[[], Any]) -> tuple[str, str]:
    """(the registry's digest of `tag`, '') through the Docker engine and its logins, or ('', why not)."""
    try:
        client = engine()
    except CommandError as exc:  # no engine, or no docker package
        return "", str(exc)
    import docker
    import requests

    try:
        return client.images.get_registry_data(tag).id, ""
    except (docker.errors.DockerException, requests.RequestException) as exc:  # no registry, tag or login
        return "", first_line(exc)


def _ecr_digest(ctx: Context, tag: str) -> str:
    parts = ecr_image(tag)
    assert parts is not None  # ecr_repository matched it, and a digest was taken as it is
    account, region, name, version = parts
    ecr = ctx.session.client("ecr", region_name=region, config=RETRIES)  # the repository's region, maybe not ours
    try:
        found = ecr.describe_images(
            registryId=account, repositoryName=name, imageIds=[{"imageTag": version or "latest"}]
        )["imageDetails"]
    except ClientError as exc:
        if error_code(exc) not in ECR_MISSING:
            raise
        raise CommandError(unresolvable(tag, f"ECR answers {error_code(exc)}", None)) from None
    return str(found[0]["imageDigest"])


def unresolvable(tag: str, why: str, record: Path | None) -> str:
    """Why setup refuses a tag it cannot pin, and the fixes."""
    recorded = f" and no push of it is recorded in {record}" if record is not None else ""
    return (
        f"config.py's DOCKERHUB_TAG {tag!r} cannot be pinned to a digest: {why}{recorded}. setup names the image "
        "by digest, so that every job of the run uses one image and its outcome records say which; the tag "
        "may not have been pushed. Push it with `python run.py buildImage --push` (it records the digest), "
        f"or name the image by digest in config.py (DOCKERHUB_TAG = '{repository_of(tag)}@sha256:...'). "
        "Nothing was created"
    )


def check_line(tag: str, record: Path = PUSH_RECORD) -> str:
    """`check`'s line on the image (offline: what setup will pin it to, as far as is known here)."""
    if by_digest(tag):
        return f"image: {tag} (pinned by digest in config.py)"
    if ecr_repository(tag):
        return f"image: {tag}; setup pins it to ECR's digest of the tag"
    try:
        recorded = recorded_push(tag, record)
    except CommandError as exc:
        return f"image: {tag}; {exc}"
    if recorded is None:
        return (
            f"image: {tag}; no push of it is recorded in {record}: setup asks the registry through Docker for its "
            "digest and refuses if none answers (`python run.py buildImage --push` pushes and records it)"
        )
    return f"image: {tag}; pushed as {recorded[0]} at {recorded[1]}: setup pins that unless the registry has moved it"


def registered_task_definition(ctx: Context) -> dict[str, Any] | None:
    """The newest revision of the app's task definition family, or None before the first setup."""
    try:
        return ctx.client("ecs").describe_task_definition(taskDefinition=ctx.task_family)["taskDefinition"]
    except ClientError as exc:
        if error_code(exc) != "ClientException":  # ECS's answer for an unknown family
            raise
        return None


def registered_image(ctx: Context) -> str:
    """The image the registered task definition pins (what `status` shows); '' before setup."""
    current = registered_task_definition(ctx)
    return current["containerDefinitions"][0]["image"] if current and current.get("status") == "ACTIVE" else ""
