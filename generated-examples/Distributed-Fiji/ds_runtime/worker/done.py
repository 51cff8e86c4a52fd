"""When is a job done after a run: the spec's done rule (before one: provenance.resume)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..keys import safe_key
from ..s3_files import output_files
from ..spec import DoneRule

# The required file's content is searched in its first MiB: done markers are small.
CONTENT_SCAN_BYTES = 1 << 20


def done_problem(
    rule: DoneRule,
    exit_code: int | None,
    output_dir: Path,
    required_file: str = "",
    min_files: int | None = None,
    exclude: Sequence[str] = (),
    who: str = "the tool",
) -> str:
    """Why a finished run does not count as done; '' when it does.

    `required_file` is the rule's file rendered for this job (ToolSpec.required_file);
    `min_files` the rule's count when it comes from config (ToolSpec.min_files);
    files matching `exclude` (ToolSpec.output_exclude) are not uploaded, so not counted;
    `who` names the program whose exit code is judged (the last of several steps).
    """
    if exit_code != rule.exit_code:
        return f"{who} exited with code {exit_code}, expected {rule.exit_code}"
    least = min_files if min_files is not None else rule.min_files
    if not isinstance(least, int):
        raise ValueError(f"done rule min_files {least!r} needs the config: pass min_files")
    count = len(output_files(output_dir, exclude))
    if count < least:
        return f"the tool wrote {count} output file(s), expected at least {least}"
    if required_file:
        required = output_dir / safe_key(required_file, what="required_file")
        if not required.is_file():
            return f"the required output file {required_file!r} is missing"
        if rule.required_content:
            with required.open(errors="replace") as handle:
                text = handle.read(CONTENT_SCAN_BYTES)
            if rule.content_match == "first_line":
                first = text.splitlines()[0] if text else ""
                if first != rule.required_content:
                    return f"{required_file!r} begins with {first[:80]!r}, not the line {rule.required_content!r}"
            elif rule.required_content not in text:
                return f"{required_file!r} does not contain {rule.required_content!r}"
    return ""
