"""Reading the JSON files a user hands to a command, with errors that name the file and the spot.

Whatever the file holds, the only error is the one the caller names (JobFileError, FleetFileError),
never a traceback: a missing or unreadable file, bytes that are not UTF-8, broken JSON, a key given
twice in one object (a JSON reader keeps the last one silently: a second "groups" would drop every
job of the first), a file over MAX_BYTES or nested deeper than MAX_DEPTH.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_BYTES = 256 * 1024 * 1024  # a Job file of a million jobs is far smaller; the parsed file takes ~10x this
MAX_DEPTH = 32  # a Job file nests 4 deep, a Fleet file 7


class _DuplicateKey(ValueError):
    def __init__(self, key: str, keys: list[str]):
        super().__init__(key)
        self.key, self.keys = key, keys


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key, [k for k, _ in pairs])
        found[key] = value
    return found


def _depth(data: Any) -> int:
    """How deep lists and objects nest (a scalar is 0), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:  # deeper is refused anyway: no need to walk it
            stack.extend((child, depth + 1) for child in children)
    return deepest


def read_json(path: Path, error: type[Exception], missing_hint: str) -> Any:
    """The parsed file; `error` says where it is missing, unreadable, too big, too deep or where the JSON breaks."""
    try:
        if path.is_dir():
            raise error(f"{path}: is a folder; {missing_hint}")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{path}: {size:,} bytes, over the {MAX_BYTES:,} a file here may have; split it into several")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: not found; {missing_hint}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise error(
            f"{path}: key {exc.key!r} is given twice in one object (the one with keys {', '.join(exc.keys)});"
            " a JSON reader would keep only the last; keep one (merge their values)"
        ) from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except RecursionError:
        raise error(f"{path}: nested deeper than {MAX_DEPTH} levels of lists and objects; flatten it") from None
    if _depth(data) > MAX_DEPTH:
        raise error(f"{path}: nested deeper than {MAX_DEPTH} levels of lists and objects; flatten it")
    return data
