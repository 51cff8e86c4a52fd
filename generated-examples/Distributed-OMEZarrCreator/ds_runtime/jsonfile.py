"""Reading the JSON files a user hands to a command, with errors that name the file and the spot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path, error: type[Exception], missing_hint: str) -> Any:
    """The parsed file; `error` says where it is missing or where the JSON breaks."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: not found; {missing_hint}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
