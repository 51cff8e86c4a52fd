"""uploadInputs / downloadOutputs: local folders in and out of the bucket, on AWS or locally."""

from __future__ import annotations

from pathlib import Path

from ..keys import safe_key
from ..worker.done import listed_objects
from ..worker.transfer import download, upload
from .context import CommandError, Context


def upload_inputs(ctx: Context, folder: Path, prefix: str) -> int:
    if not folder.is_dir():
        raise CommandError(f"{folder}: input folder not found; give a folder of files to upload")
    prefix = safe_key(prefix, what="prefix")
    sent = upload(ctx.client("s3"), ctx.config.AWS_BUCKET, folder, prefix)
    ctx.console.print(f"{len(sent)} file(s) from {folder} uploaded to s3://{ctx.config.AWS_BUCKET}/{prefix}")
    return 0


def download_outputs(ctx: Context, prefix: str, folder: Path) -> int:
    prefix = safe_key(prefix, what="prefix")
    keys = [key for key, _ in listed_objects(ctx.client("s3"), ctx.config.AWS_BUCKET, prefix)]
    if not keys:
        raise CommandError(f"nothing under s3://{ctx.config.AWS_BUCKET}/{prefix}; check the prefix")
    download(ctx.client("s3"), ctx.config.AWS_BUCKET, keys, folder)
    ctx.console.print(f"{len(keys)} file(s) from s3://{ctx.config.AWS_BUCKET}/{prefix} downloaded to {folder}")
    return 0
