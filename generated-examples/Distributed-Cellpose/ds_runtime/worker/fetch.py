"""One file from an http(s):// or s3:// URL into a local folder, written atomically.

The file keeps the last segment of the URL's path as its name, as written, so a
command that names it by `{config.URL|basename}` finds it (for a URL without ?query).
It is written to a temporary file in the same folder and renamed into place: a
worker never sees half a file, and a failed download leaves the previous copy untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

from botocore.exceptions import BotoCoreError, ClientError

from ..spec import URL_SCHEMES

TIMEOUT_SECONDS = 60  # per connection attempt and per read: a dead server fails the step, not the container
# Characters a URL may already hold; anything else (a space in a script's name) is %-escaped.
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


class FetchError(RuntimeError):
    """The file could not be fetched or written; the message says why."""


def file_name(url: str) -> str:
    """The name the fetched file gets: the last segment of the URL's path, which must be a plain name."""
    parts = urlsplit(url)
    if f"{parts.scheme}://" not in URL_SCHEMES or not parts.netloc:
        raise FetchError(f"{url!r} is not an http://, https:// or s3://bucket/key URL")
    # As written, %-escapes and all: the name a command's {config.URL|basename} gives it.
    name = PurePosixPath(parts.path).name if not parts.path.endswith(("/", "/.", "/..")) else ""
    if not name or "\\" in name or "\0" in name:
        raise FetchError(f"{url!r} does not end in a file name (e.g. https://host/path/script.py)")
    return name


def fetch(url: str, into: Path, s3: Any) -> Path:
    """Download `url` to into/<file name> (creating `into`); the written path. Raises FetchError."""
    name = file_name(url)
    try:
        into.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=into)
    except OSError as exc:
        raise FetchError(f"cannot write into {into}: {exc.strerror or exc}") from None
    target = into / name
    try:
        with os.fdopen(handle, "wb") as out:
            _download(url, out, s3)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a tool run as another user
        os.replace(temporary, target)
        return target
    except OSError as exc:  # the disk, not the download (that raises FetchError)
        raise FetchError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _download(url: str, out: BinaryIO, s3: Any) -> None:
    parts = urlsplit(url)
    if parts.scheme == "s3":
        key = parts.path.lstrip("/")
        try:
            s3.download_fileobj(parts.netloc, key, out)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            message = f"S3 refused s3://{parts.netloc}/{key}: {error.get('Code')} {error.get('Message', '')}"
            raise FetchError(message.strip()) from None
        except BotoCoreError as exc:
            raise FetchError(f"cannot reach S3 for s3://{parts.netloc}/{key}: {exc}") from None
        return
    request = Request(quote(url, safe=URL_SAFE), headers={"User-Agent": "ds-worker"})
    try:
        with urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            shutil.copyfileobj(response, out)
    except HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except URLError as exc:
        raise FetchError(f"cannot reach {url}: {exc.reason}") from None
    except TimeoutError:
        raise FetchError(f"{url} sent nothing for {TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise FetchError(f"download of {url} broke off: {exc}") from None
