"""S3 keys built from job data: normalised, and unable to leave their prefix."""

from __future__ import annotations

import re

_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
S3_MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


def safe_key(key: str, *, what: str = "key") -> str:
    """Normalise an S3 key or prefix built from job data, refusing escapes.

    Refused: absolute paths, `..` or `.` segments, empty segments (`a//b`: S3 holds it as a key
    apart from `a/b`, which a local copy could not tell from it), backslashes, control characters
    (NUL among them) and keys over S3's 1,024 bytes. A trailing slash is kept (it marks a prefix).
    """
    if not isinstance(key, str):
        raise ValueError(f"{what} must be text, got {type(key).__name__}")
    if key.startswith("s3://"):
        raise ValueError(f"{what} {key!r} is an s3:// URL; give the key only (the bucket comes from config)")
    if key.startswith("/"):
        raise ValueError(f"{what} {key!r} is absolute; give a key relative to the bucket")
    if _BAD_KEY_CHARS.search(key):
        raise ValueError(f"{what} {key!r} contains a backslash or control character")
    parts = key.split("/")[:-1] if key.endswith("/") else key.split("/")
    if any(p in ("..", ".") for p in parts):
        raise ValueError(f"{what} {key!r} contains a '.' or '..' segment")
    if key and "" in parts:
        raise ValueError(
            f"{what} {key!r} has an empty part ('//'); S3 keeps a//b and a/b as two different keys: write one slash"
        )
    normal = "/".join(parts)
    if len(normal.encode()) > S3_MAX_KEY_BYTES:
        raise ValueError(f"{what} {key[:40]!r}... is {len(normal.encode())} bytes, over S3's {S3_MAX_KEY_BYTES}")
    return normal + "/" if key.endswith("/") and normal else normal


def join_key(prefix: str, relative: str) -> str:
    """`prefix/relative`, where `relative` (from a file name or job data) cannot escape `prefix`."""
    rel = safe_key(relative, what="path")
    base = safe_key(prefix, what="prefix").rstrip("/")
    return f"{base}/{rel}" if base else rel


def local_path(folder: str, key: str) -> str:
    """Where an input key or prefix lands under a local folder (keys are already safe)."""
    return folder.rstrip("/") + "/" + safe_key(key).rstrip("/")
