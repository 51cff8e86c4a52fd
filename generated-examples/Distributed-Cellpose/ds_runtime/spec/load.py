"""Loading tool/spec.json: a SpecError names the file and lists every problem, one per line."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..jsonfile import read_json
from .errors import SpecError
from .shapes import COMMAND_FORMS
from .tool import ToolSpec


def load_spec(path: str | Path) -> ToolSpec:
    """Load tool/spec.json; a SpecError names the file and what is wrong."""
    path = Path(path)
    data = read_json(path, SpecError, "it is rendered by dsgen (run `copier update` to restore it)")
    try:
        return ToolSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: invalid tool spec:\n  " + "\n  ".join(_lines(exc))) from None


def _lines(exc: ValidationError) -> list[str]:
    """One line per problem: a key's own error after its place; each cross-field rule's as it says it."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        if loc[:1] == ("command",) and loc[1:2] and loc[1] in COMMAND_FORMS:
            loc = loc[:1] + loc[2:]  # the form is told by the shape; its tag is no place in the spec
        where = ".".join(str(part) for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        lines += [f"{where}: {line}" if where else line for line in message.splitlines()]
    return lines
