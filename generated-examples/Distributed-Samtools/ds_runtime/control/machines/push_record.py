"""The digests `buildImage --push` pushed, by tag: what `setup` pins a tag to when no registry answers it.

A JSON file in the repository's files/ folder, {tag: {"digest": "sha256:...", "pushed": ISO time}}.
Committed with the repository, it lets whoever sets up from a clone pin the very image the
tool's developer pushed, with no Docker engine of their own.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..common.context import CommandError

PUSH_RECORD = Path("files") / "pushed-images.json"  # from the repository's folder, where run.py runs


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path}: not a JSON record of pushed images ({exc}); delete it and push again") from None
    return data if isinstance(data, dict) else {}


def recorded_push(tag: str, path: Path = PUSH_RECORD) -> tuple[str, str] | None:
    """(digest, when it was pushed) of the last push of `tag` recorded here, or None."""
    entry = _read(path).get(tag)
    if not isinstance(entry, dict) or not str(entry.get("digest", "")).startswith("sha256:"):
        return None
    return str(entry["digest"]), str(entry.get("pushed", ""))


def record_push(tag: str, digest: str, path: Path = PUSH_RECORD) -> None:
    """Remember that `tag` was pushed as `digest` (other tags' entries are kept)."""
    data = _read(path)
    data[tag] = {"digest": digest, "pushed": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
