"""Upload flags: aws-cli `s3` options, as DS tools pass them, turned into boto3 upload arguments.

DS workers upload with `aws s3 mv <folder> s3://... --recursive <UPLOAD_FLAGS>`; this
worker uploads with boto3, so the same words become its ExtraArgs. The words are split
as a POSIX shell would (shlex), never run by one. Only options that set how an object
is stored are known; any other is refused with the list of these.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Flag:
    arg: str  # boto3's ExtraArgs name; '' for a flag accepted and ignored
    choices: tuple[str, ...] = ()  # aws-cli's allowed values (empty: any)
    alone: str | None = None  # the value when given without one, as aws-cli allows for some
    ignored_because: str = ""


ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
)

# Each ExtraArgs name is one boto3's transfer manager accepts (S3Transfer.ALLOWED_UPLOAD_ARGS).
FLAGS: dict[str, Flag] = {
    "--acl": Flag("ACL", ACLS),
    "--sse": Flag("ServerSideEncryption", ("AES256", "aws:kms", "aws:kms:dsse"), alone="AES256"),
    "--sse-kms-key-id": Flag("SSEKMSKeyId"),
    "--storage-class": Flag("StorageClass", STORAGE_CLASSES),
    "--content-type": Flag("ContentType"),
    "--cache-control": Flag("CacheControl"),
    "--content-disposition": Flag("ContentDisposition"),
    "--content-encoding": Flag("ContentEncoding"),
    "--content-language": Flag("ContentLanguage"),
    "--website-redirect": Flag("WebsiteRedirectLocation"),
    "--request-payer": Flag("RequestPayer", ("requester",), alone="requester"),
    "--expected-bucket-owner": Flag("ExpectedBucketOwner"),
    # DCP's docs suggest it; aws-cli uses it only when copying S3 objects, never for uploads.
    "--metadata-directive": Flag(
        "", ("COPY", "REPLACE"), ignored_because="it applies only to copies between S3 objects, not to uploads"
    ),
}


class UploadFlagsError(ValueError):
    """Upload flags that cannot be used; the message names the flag and lists the known ones."""


@dataclass(frozen=True)
class UploadArgs:
    extra_args: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # flags accepted but ignored, and why


def known() -> str:
    return ", ".join(FLAGS)


def parse_upload_flags(text: str) -> UploadArgs:
    """ExtraArgs for every output upload, from aws-cli words such as '--acl bucket-owner-full-control'."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UploadFlagsError(f"upload flags {text!r} cannot be split into words: {exc}") from None
    extra: dict[str, str] = {}
    notes: list[str] = []
    seen: set[str] = set()
    index = 0
    while index < len(words):
        word = words[index]
        name, has_value, value = word.partition("=") if word.startswith("--") else (word, "", "")
        flag = FLAGS.get(name)
        if flag is None:
            what = "an unknown upload flag" if word.startswith("--") else "not a flag"
            raise UploadFlagsError(f"upload flags {text!r}: {name!r} is {what}; supported: {known()}")
        if name in seen:
            raise UploadFlagsError(f"upload flags {text!r}: {name} is given twice; keep one")
        seen.add(name)
        index += 1
        if not has_value:
            if index < len(words) and not words[index].startswith("--"):
                value, index = words[index], index + 1
            elif flag.alone is not None:
                value = flag.alone
            else:
                raise UploadFlagsError(f"upload flags {text!r}: {name} needs a value, e.g. {_example(name, flag)}")
        if flag.choices and value not in flag.choices:
            raise UploadFlagsError(f"upload flags {text!r}: {name} {value!r}: use one of {', '.join(flag.choices)}")
        if flag.arg:
            extra[flag.arg] = value
        else:
            notes.append(f"upload flag {name} {value} ignored: {flag.ignored_because}")
    return UploadArgs(extra, notes)


def unknown_flags(text: str) -> list[str]:
    """Words of a flags template's fixed text that look like flags but are not known ones."""
    names = [word.split("=", 1)[0] for word in text.split() if word.startswith("--")]
    return [name for name in names if name not in FLAGS]


def _example(name: str, flag: Flag) -> str:
    return f"{name} {flag.choices[0] if flag.choices else 'VALUE'}"
