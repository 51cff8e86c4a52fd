"""Make moto's S3 listing and request routing fast at 100,000 keys, without changing their answers.

moto 5.2 does work proportional to the whole bucket on every ListObjectsV2 page: it copies
the bucket's key store, filters it by prefix, sorts what is left, then walks from the start
to the continuation token, and only then cuts the page of 1,000. Listing a bucket of n keys
page by page is O(n^2 log n): 100 pages over 100,000 outcome records took minutes. And its
server routes every request by listing moto's package folder (`list_of_moto_modules`: an
os.listdir and ~180 stat calls, twice per request), which was 40% of a GET's time. Its
answers' timestamps are read back from text with dateutil's general parser, once per key
listed (a third of a listing page's time).

`install()` replaces, in-process:

- its server's request handler with one that answers a plain GetObject itself, on a connection
  kept open (fast_s3_get: werkzeug's one connection per request, moto's Flask app and generic
  set-up cost ~1.5 ms of CPU per read);
- `serialized` with one that writes ListObjectsV2's entries as strings (fast_s3_listing:
  moto's model-driven serializer cost ~0.2 ms per key listed);

- `S3Backend.list_objects_v2` with one that keeps each bucket's key names sorted (made again
  only after a write adds or removes a name) and answers a page by bisecting to its start
  and reading only the page's keys, with moto's own `_truncate_result` (tokens and all);
- `moto.backends.list_of_moto_modules` with the same names, listed once;
- the serializer's `parse_to_aware_datetime` (botocore's) with one that reads text with
  aws.read_timestamp (the standard library; tested equal to botocore's reading) first.

The listing keeps moto's rules line for line: delete markers are left out but their
folders kept, common prefixes (Delimiter) count as entries of the page, keys and prefixes
come merged in name order, a continuation token or StartAfter starts after that name.

Guard: every function replaced or replicated is pinned by a hash of its source, as in
fast_sqs (here and in the two modules' PINNED_SOURCES). If anything differs, `install()`
warns, patches nothing and returns False: moto then runs unchanged, only slower.
"""

from __future__ import annotations

import bisect
import hashlib
import inspect
import itertools
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import Any

# Only the modules: a moto without the names below makes install() refuse, not this import fail.
from moto import backends
from moto.core import serialize
from moto.s3 import models, utils

from ..aws import read_timestamp

# sha256 (first 16 hex digits) of inspect.getsource() of each function replaced or replicated.
PINNED_SOURCES: dict[tuple[Any, str], str] = {
    (models.S3Backend, "list_objects"): "9409ba5af314a9d7",
    (models.S3Backend, "list_objects_v2"): "f5600333ebab1dc8",
    (models.S3Backend, "_get_results_from_token"): "6f8dde36a3c2fb5b",
    (models.S3Backend, "_truncate_result"): "28479183c337597b",
    (utils._VersionedKeyStore, "__setitem__"): "72ca2d3b969cfe8d",
    (utils._VersionedKeyStore, "setlist"): "f34cb76811ccce34",
    (utils._VersionedKeyStore, "pop"): "92736e3c4102461e",
    (backends, "list_of_moto_modules"): "4f741a10b06500e8",
    (serialize, "parse_to_aware_datetime"): "67b03abe3bd3f3a1",
}
# The key store's methods that may add or remove a name: each bumps the store's version.
NAME_CHANGES = ("__setitem__", "setlist", "pop", "__delitem__", "clear", "update", "setdefault", "popitem")

_lock = threading.Lock()
_versions = itertools.count(1)  # next() is atomic in CPython: concurrent writes never share a version
_originals: dict[tuple[Any, str], Any] = {}  # non-empty exactly when installed; MISSING: not the class's own
_MISSING = object()


def _source_hash(owner: Any, name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


def _all_pins() -> dict[tuple[Any, str], str]:
    from . import fast_s3_get, fast_s3_listing  # here: a moto lacking their names refuses, not breaks, import

    return {**PINNED_SOURCES, **fast_s3_get.PINNED_SOURCES, **fast_s3_listing.PINNED_SOURCES}


def incompatibility() -> str | None:
    """Why this moto cannot be patched safely, or None when it can."""
    try:
        pins = _all_pins()
    except ImportError as exc:
        return f"moto lacks what fast_s3 relies on ({exc})"
    for (owner, name), expected in pins.items():
        try:
            if _source_hash(owner, name) != expected:
                return f"moto's {owner.__name__}.{name} has changed"
        except (AttributeError, OSError, TypeError):
            return f"moto's {owner.__name__}.{name} is missing or unreadable"
    return None


def _counting(method: Callable[..., Any]) -> Callable[..., Any]:
    def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._ds_version = next(_versions)

    return changed


def sorted_names(store: utils._VersionedKeyStore) -> list[str]:
    """The store's key names in order, sorted again only after a change (delete markers included)."""
    version = getattr(store, "_ds_version", 0)  # read first: a write during the sort makes the next call sort again
    cached = getattr(store, "_ds_sorted", None)
    if cached is not None and cached[0] == version:
        return cached[1]
    names = sorted(dict.copy(store))  # dict's own copy: one C call, safe against concurrent writes
    store._ds_sorted = (version, names)
    return names


def _after(name: str) -> str:
    """The least string above every string that starts with `name`."""
    return name[:-1] + chr(ord(name[-1]) + 1)


def page(
    names: list[str], store: utils._VersionedKeyStore, prefix: str, delimiter: str, limit: str | None, count: int
) -> list[Any]:
    """Up to `count` entries (keys, and folders as strings) after `limit`, in name order, as moto lists them."""
    start = bisect.bisect_left(names, prefix)
    if limit is not None:
        start = max(start, bisect.bisect_right(names, limit))
    found: list[Any] = []
    i = start
    while i < len(names) and len(found) < count:
        name = names[i]
        if not name.startswith(prefix):
            break
        rest = name[len(prefix) :]
        if delimiter and delimiter in rest:
            folder = prefix + rest.split(delimiter)[0] + delimiter
            if limit is None or folder > limit:
                found.append(folder)
            i = bisect.bisect_left(names, _after(folder), i)  # past every key the folder holds
            continue
        key = store.get(name)
        if key is not None and not isinstance(key, models.FakeDeleteMarker):
            found.append(key)
        i += 1
    return found


def _list_objects_v2(
    self: models.S3Backend,
    bucket: models.FakeBucket,
    prefix: str | None,
    delimiter: str | None,
    continuation_token: str | None,
    start_after: str | None,
    max_keys: int,
) -> tuple[list[Any], bool, str | None]:
    if isinstance(bucket, models.FakeTableStorageBucket):  # moto's own answer (an error)
        return _originals[(models.S3Backend, "list_objects_v2")](
            self, bucket, prefix, delimiter, continuation_token, start_after, max_keys
        )
    limit = self._pagination_tokens.get(continuation_token) if continuation_token else start_after
    names = sorted_names(bucket.keys)
    entries = page(names, bucket.keys, prefix or "", delimiter or "", limit or None, max_keys + 1)
    return self._truncate_result(entries, max_keys)


def _modules_once(listing: Callable[[], Iterable[str]]) -> Callable[[], tuple[str, ...]]:
    modules = tuple(listing())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    return list_of_moto_modules


def _reading_text_fast(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_to_aware_datetime(value: Any) -> Any:
        return convert(read_timestamp(value) if isinstance(value, str) else value)

    return parse_to_aware_datetime


def install() -> bool:
    """Patch moto's S3 listing and routing in this process; True if active (idempotent).

    Refuses, with a RuntimeWarning and nothing patched, when moto is not the code this
    was written for. Call before the emulator serves its first request.
    """
    with _lock:
        if _originals:
            return True
        problem = incompatibility()
        if problem:
            warnings.warn(f"fast_s3 not installed, moto left unchanged: {problem}", RuntimeWarning, stacklevel=2)
            return False
        from . import fast_s3_get, fast_s3_listing

        store = utils._VersionedKeyStore
        handler, response = fast_s3_get.MotoRequestHandler, fast_s3_get.S3Response
        replacements: dict[tuple[Any, str], Any] = {
            (handler, "run_wsgi"): fast_s3_get.handling(handler.run_wsgi),
            (response, "serialized"): fast_s3_listing.serializing(response.serialized),
            (models.S3Backend, "list_objects_v2"): _list_objects_v2,
            (backends, "list_of_moto_modules"): _modules_once(backends.list_of_moto_modules),
            (serialize, "parse_to_aware_datetime"): _reading_text_fast(serialize.parse_to_aware_datetime),
        }
        for name in NAME_CHANGES:
            replacements[(store, name)] = _counting(getattr(store, name))
        for (owner, name), replacement in replacements.items():
            _originals[(owner, name)] = vars(owner).get(name, _MISSING)
            setattr(owner, name, replacement)
        return True


def uninstall() -> None:
    """Restore moto's own functions (the tests use it to compare the two)."""
    with _lock:
        for (owner, name), original in _originals.items():
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        _originals.clear()


def is_installed() -> bool:
    return bool(_originals)
