"""The emulator's conditional writes are atomic, as S3's are.

moto's S3 checks a write's condition (If-None-Match: *, If-Match: ETag) and then writes, in two
steps, and its server serves each request in a thread of its own: two uploads of one key with
If-None-Match: * can both pass the check and both "win", where S3 lets exactly one. The
workers' no-clobber uploads (worker/noclobber.py) rely on S3's answer, so the emulator must
give it. moto also ignores If-Match on CompleteMultipartUpload, which S3 honours.

`install()` wraps moto's handlers of writes to a key (PUT, POST, DELETE) in one lock, so
each condition is decided and acted on with no other write in between, and checks If-Match
on CompleteMultipartUpload under that lock. Reads are not locked. The handlers are wrapped,
not rewritten: if this moto lacks them, install() warns and changes nothing.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections.abc import Callable
from typing import Any

from moto.s3 import exceptions, responses

# moto's S3Response handlers of a write to a key, and the parameters each is called with.
WRAPPED = {
    "_key_response_put": ["self", "query", "key_name"],
    "_key_response_post": ["self", "request", "body", "bucket_name", "query", "key_name"],
    "_key_response_delete": ["self", "bucket_name", "query", "key_name"],
}
_WRITES = threading.RLock()
_ORIGINALS: dict[str, Callable[..., Any]] = {}


def _one_at_a_time(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return handler(self, *args, **kwargs)

    return locked


def _completing(handler: Callable[..., Any]) -> Callable[..., Any]:
    """POST to a key, with S3's If-Match on CompleteMultipartUpload: the key's object must be that one."""

    @functools.wraps(handler)
    def checked(self: Any, request: Any, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        with _WRITES:
            wanted = request.headers.get("If-Match")
            upload = query.get("uploadId", [""])[0]
            if wanted and upload:
                existing = self.backend.get_object(bucket_name, key_name)
                if existing is None:
                    raise exceptions.MissingKey(key=key_name)
                repeated = existing.multipart is not None and existing.multipart.id == upload  # already completed
                if not repeated and wanted.strip('"') != existing.etag.strip('"'):
                    raise exceptions.PreconditionFailed("If-Match")
            return handler(self, request, body, bucket_name, query, key_name)

    return checked


def incompatibility() -> str | None:
    """Why this moto cannot be wrapped, or None."""
    for name, parameters in WRAPPED.items():
        handler = _ORIGINALS.get(name) or getattr(responses.S3Response, name, None)
        if handler is None or list(inspect.signature(handler).parameters) != parameters:
            return f"moto's S3Response.{name} is not the handler this was written for"
    return None


def install() -> bool:
    """Make the emulator's S3 writes atomic (process-wide, idempotent); False (with a warning) if it cannot."""
    if _ORIGINALS:
        return True
    problem = incompatibility()
    if problem:
        warnings.warn(f"atomic_s3 not installed: {problem}; conditional writes may both win", stacklevel=2)
        return False
    for name in WRAPPED:
        _ORIGINALS[name] = getattr(responses.S3Response, name)
        wrap = _completing if name == "_key_response_post" else _one_at_a_time
        setattr(responses.S3Response, name, wrap(_ORIGINALS[name]))
    return True


def uninstall() -> None:
    for name, handler in _ORIGINALS.items():
        setattr(responses.S3Response, name, handler)
    _ORIGINALS.clear()
