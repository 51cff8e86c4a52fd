"""uploadInputs / downloadOutputs: local folders in and out of a bucket, on AWS or locally."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...buckets import allowed_buckets
from ...config import DSConfig
from ...keys import safe_key
from ...s3_files import download, listed_objects, upload
from ...spec import ToolSpec
from ..common.context import CommandError, Context


def chosen_bucket(spec: ToolSpec, config: DSConfig, name: str | None, option: str = "--bucket") -> str:
    """AWS_BUCKET, or the bucket named by `option` if this run may touch it (buckets.allowed_buckets)."""
    if not name:
        return config.AWS_BUCKET
    allowed = allowed_buckets(spec, config.AWS_BUCKET, config.worker_config())
    if name not in allowed:
        raise CommandError(
            f"{option} {name}: not a bucket of this run; config.py names {', '.join(sorted(allowed))}"
            " (AWS_BUCKET, the tool's bucket keys and JOB_BUCKETS)"
        )
    return name


def upload_inputs(ctx: Context, folder: Path, prefix: str, bucket: str | None = None) -> int:
    if not folder.is_dir():
        raise CommandError(f"{folder}: input folder not found; give a folder of files to upload")
    prefix = safe_key(prefix, what="prefix")
    bucket = chosen_bucket(ctx.spec, ctx.config, bucket)
    sent = upload(ctx.client("s3"), bucket, folder, prefix)
    ctx.console.print(f"{len(sent)} file(s) from {folder} uploaded to s3://{bucket}/{prefix}")
    return 0


def download_outputs(ctx: Context, prefix: str, folder: Path, bucket: str | None = None) -> int:
    prefix = safe_key(prefix, what="prefix")
    bucket = chosen_bucket(ctx.spec, ctx.config, bucket)
    keys = [key for key, _ in listed_objects(ctx.client("s3"), bucket, prefix)]
    if not keys:
        raise CommandError(f"nothing under s3://{bucket}/{prefix}; check the prefix")
    download(ctx.client("s3"), bucket, keys, folder)
    ctx.console.print(f"{len(keys)} file(s) from s3://{bucket}/{prefix} downloaded to {folder}")
    return 0


def run_upload_inputs(ctx: Context, args: argparse.Namespace) -> int:
    return upload_inputs(ctx, args.folder, args.prefix, args.bucket)


def run_download_outputs(ctx: Context, args: argparse.Namespace) -> int:
    return download_outputs(ctx, args.prefix, args.folder, args.bucket)
