"""Write the entries of moto's ListObjectsV2 answer directly, the rest with moto's own serializer.

moto 5.2 renders every answer through a generic serializer driven by botocore's model: per
key listed it walks the entry's shape, looks each field up under several spellings, parses
and formats its timestamp and emits it through xmltodict and SAX. A page of 1,000 keys
took ~0.2 s of the server's CPU, 100 pages at 100,000 jobs ~20 s.

`serializing(serialized)` wraps moto's `serialized` for ListObjectsV2: the answer without its
entries goes through moto's serializer (headers, namespace, the page's other fields, common
prefixes: all moto's), and the entries (`<Contents>`, each Key, LastModified, ETag, ChecksumAlgorithm if
any, Size, StorageClass, in botocore's model's order) are written as strings and set in
their place, just after `</IsTruncated>` (the model's first member: no other text of the
answer can hold that tag, its `<` would be escaped). Text is escaped as moto's XML writer
does (`&`, `<`, `>`); each LastModified is formatted once by moto's own timestamp serializer
for that field and remembered. An entry with any other field (an owner, a checksum), a pretty
printed answer or an answer not of that form goes to moto's serializer whole.
tests/test_fast_s3.py compares the bytes with moto's.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Any
from xml.sax.saxutils import escape

from moto import settings
from moto.core.responses import ActionResult, BaseResponse, get_service_model
from moto.core.serialize import TimestampSerializer, get_serializer_class
from moto.s3.responses import S3Response

# sha256 (first 16 hex digits) of the source of each moto function this relies on.
PINNED_SOURCES: dict[tuple[Any, str], str] = {
    (BaseResponse, "serialized"): "fa206d2726cafee3",
    (ActionResult, "execute_result"): "6333faa349b58671",
    (S3Response, "list_objects_v2"): "02ae6886fcf580c8",  # the answer's fields, entries' fields
}

ENTRY_FIELDS = {"Key", "LastModified", "ETag", "Size", "StorageClass"}
CHECKSUM = "ChecksumAlgorithm"  # set when the object was written with a checksum (botocore's default)
FIRST_MEMBER_END = "</IsTruncated>"


def _last_modified_format() -> str:
    """The format moto's S3 serializer gives the entries' LastModified: the field's own, or its default."""
    model = get_service_model("s3")
    stamp = model.operation_model("ListObjectsV2").output_shape.members["Contents"].member.members["LastModified"]  # type: ignore[attr-defined]
    default = get_serializer_class("s3", model.protocol).DEFAULT_TIMESTAMP_FORMAT  # type: ignore[attr-defined]
    return stamp.serialization.get("timestampFormat", default)


@lru_cache(maxsize=65536)
def last_modified(value: str) -> str:
    """moto's text for this LastModified (keys written in the same millisecond share it)."""
    found: dict[str, str] = {}
    TimestampSerializer(_FORMAT).serialize(found, value, _STAMP_SHAPE, "stamp")
    return found["stamp"]


_FORMAT = _last_modified_format()
_STAMP_SHAPE = SimpleNamespace(serialization={})  # the one attribute TimestampSerializer reads of a shape


def entries_xml(contents: list[dict[str, Any]]) -> str | None:
    """The `<Contents>` elements as moto writes them (members in the model's order, a list flattened);
    None if an entry has another field."""
    parts = []
    for item in contents:
        if item.keys() - {CHECKSUM} != ENTRY_FIELDS:
            return None
        checksums = "".join(f"<{CHECKSUM}>{escape(c)}</{CHECKSUM}>" for c in item.get(CHECKSUM, ()))
        parts.append(
            f"<Contents><Key>{escape(item['Key'])}</Key>"
            f"<LastModified>{last_modified(item['LastModified'])}</LastModified>"
            f"<ETag>{escape(item['ETag'])}</ETag>{checksums}<Size>{int(item['Size'])}</Size>"
            f"<StorageClass>{escape(item['StorageClass'])}</StorageClass></Contents>"
        )
    return "".join(parts)


def serializing(serialized: Any) -> Any:
    """BaseResponse.serialized, writing ListObjectsV2's entries itself."""

    def fast_serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result if type(action_result) is ActionResult else None
        listing = getattr(self, "data", {}).get("Action") == "ListObjectsV2"
        if listing and isinstance(result, dict) and result.get("Contents") and not settings.PRETTIFY_RESPONSES:
            entries = entries_xml(result["Contents"])
            if entries is not None:
                status, headers, body = serialized(self, ActionResult({**result, "Contents": []}))
                if isinstance(body, str) and body.count(FIRST_MEMBER_END) == 1:
                    at = body.index(FIRST_MEMBER_END) + len(FIRST_MEMBER_END)
                    return status, headers, body[:at] + entries + body[at:]
        return serialized(self, action_result)

    return fast_serialized
