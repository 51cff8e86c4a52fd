"""`dsgen new --from-cwl TOOL.cwl`: answers drafted from a CWL CommandLineTool, for review.

Many tools have a CWL description (and an image on BioContainers): its baseCommand, arguments and
input bindings are the command line, its File inputs the downloads, its DockerRequirement the image,
its ResourceRequirement the container's size, its output globs the done rule. What has no place in
a tool spec (expressions, stdout capture, arrays of files, ...) is listed in the drafted file, never
guessed. The developer reviews the file, then runs `dsgen new --data-file` on it.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .interview import tool_name_from
from .render import AnswerError

_EXPRESSION = re.compile(r"\$[({]")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_WILDCARD = re.compile(r"[*?\[]")
_SCALARS = {"string": "string", "int": "integer", "long": "integer", "float": "number", "double": "number"}
_TRUE = "(?i)^true$"


@dataclass
class Draft:
    answers: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)  # what the CWL says that the answers do not


@dataclass(frozen=True)
class _Item:
    """One place on the command line, in CWL's order: position, then arguments (by index) before inputs (by name)."""

    position: int
    order: tuple[int, int | str]
    words: list[Any]


def _short_id(uri: str) -> str:
    return re.split(r"[#/]", uri)[-1]


def _field_name(cwl_id: str, draft: Draft) -> str:
    name = _short_id(cwl_id)
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", name)
    fixed = fixed if fixed[:1].isalpha() else f"in_{fixed}"
    if fixed != name:
        draft.unmapped.append(f"input {name!r} is the field {fixed!r} (field names are letters, digits and _)")
    return fixed


def _type_of(cwl_type: Any) -> tuple[str, bool, Any]:
    """(CWL type name, optional?, array item type or None) of an input's type."""
    optional = False
    if isinstance(cwl_type, list):
        rest = [t for t in cwl_type if t != "null"]
        optional = len(rest) < len(cwl_type)
        cwl_type = rest[0] if len(rest) == 1 else cwl_type
    if isinstance(cwl_type, str) and cwl_type.endswith("?"):
        optional, cwl_type = True, cwl_type[:-1]
    if isinstance(cwl_type, str) and cwl_type.endswith("[]"):
        return "array", optional, cwl_type[:-2]
    kind = type(cwl_type).__name__
    if kind.endswith("ArraySchema"):
        return "array", optional, cwl_type.items
    if kind.endswith("EnumSchema"):
        return "enum", optional, None
    return (cwl_type if isinstance(cwl_type, str) else kind), optional, None


def _plain(value: Any) -> Any:
    """A value as plain Python (the CWL loader's scalars are ruamel.yaml's subclasses, which PyYAML cannot write)."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _bound(prefix: str | None, separate: bool | None, value: Any) -> list[Any]:
    """An input's words: its value, after its prefix as a word of its own or joined to it (separate: false)."""
    if not prefix:
        return [value]
    if separate is False and isinstance(value, str):
        return [prefix + value]
    return [prefix, value]


def _input_item(inp: Any, draft: Draft) -> _Item | None:
    """The input's field (added to the draft) and its place on the command line; None when it has none."""
    cwl_name = _short_id(inp.id)
    binding = inp.inputBinding
    type_name, optional, items = _type_of(inp.type_)
    if binding is None:
        draft.unmapped.append(f"input {cwl_name!r} has no inputBinding (not on the command line): left out")
        return None
    if binding.valueFrom is not None:
        draft.unmapped.append(f"input {cwl_name!r}: valueFrom {binding.valueFrom!r} is not mapped")
        return None
    name = _field_name(inp.id, draft)
    spec: dict[str, Any] = {"name": name, "scope": "job"}
    if inp.label or inp.doc:
        spec["help"] = " ".join(str(inp.label or inp.doc).split())
    value: Any = "{" + name + "}"
    if type_name in ("File", "Directory"):
        spec["type"] = "s3_key" if type_name == "File" else "s3_prefix"
        draft.answers["input_fields"].append(name)
        value = "{input_dir}/{" + name + "}"
        if getattr(inp, "secondaryFiles", None):
            draft.unmapped.append(
                f"input {cwl_name!r}: its secondaryFiles are not downloaded (add them to input_fields)"
            )
    elif type_name == "boolean":
        spec["type"] = "boolean"
    elif type_name in _SCALARS or type_name == "enum":
        spec["type"] = _SCALARS.get(type_name, "string")
    elif type_name == "array" and items in _SCALARS:
        spec["type"] = "string"
        written = f"items separated by {binding.itemSeparator!r}" if binding.itemSeparator else "words"
        spec["help"] = " ".join(filter(None, [spec.get("help"), f"(a list of {items}, written as {written})"]))
        if not binding.itemSeparator:  # each item an argument of its own, as CWL gives them
            value = {"split": "{" + name + "}"}
    else:
        shown = f"an array of {_type_of(items)[0]}" if type_name == "array" else type_name
        draft.unmapped.append(f"input {cwl_name!r} of type {shown}: no field type holds it; left out")
        return None
    default = _plain(inp.default)
    if default is not None and not isinstance(default, dict):
        spec |= {"required": False, "default": default}
    elif default is not None:
        draft.unmapped.append(f"input {cwl_name!r}: its default {default!r} is not mapped")
        optional = True
    elif optional:
        spec["required"] = False
    draft.answers["fields"].append(spec)
    if spec["type"] == "boolean":
        words: list[Any] = [{"when": name, "matches": _TRUE, "args": [binding.prefix]}] if binding.prefix else []
        if not binding.prefix:
            draft.unmapped.append(f"input {cwl_name!r}: a boolean without a prefix adds nothing to the command")
    else:
        words = _bound(binding.prefix, binding.separate, value)
        if optional:
            words = [{"when": name, "args": words}]
    return _Item(binding.position or 0, (1, cwl_name), words)


def _argument_items(tool: Any, draft: Draft) -> list[_Item]:
    found = []
    for index, argument in enumerate(tool.arguments or []):
        if isinstance(argument, str):
            position, words = 0, [argument]
        else:  # a CommandLineBinding: a literal valueFrom, after its prefix
            position, words = argument.position or 0, _bound(argument.prefix, argument.separate, argument.valueFrom)
        if any(isinstance(w, str) and _EXPRESSION.search(w) for w in words) or None in words:
            draft.unmapped.append(f"argument {words!r} is a CWL expression: not mapped")
            continue
        found.append(_Item(int(position), (0, index), words))
    return found


def _requirement(tool: Any, name: str) -> Any:
    for holder in (tool.requirements or [], tool.hints or []):
        for item in holder:
            kind = item.get("class") if isinstance(item, dict) else type(item).__name__
            if kind == name:
                return item
    return None


def _resources(tool: Any, draft: Draft) -> None:
    docker = _requirement(tool, "DockerRequirement")
    pull = (
        (docker.get("dockerPull") if isinstance(docker, dict) else getattr(docker, "dockerPull", None))
        if docker
        else None
    )
    if pull:
        draft.answers["docker_image"] = pull
    else:
        draft.unmapped.append(
            "no DockerRequirement with dockerPull: docker_image is its default; give the tool's image"
        )
    resources = _requirement(tool, "ResourceRequirement")
    if resources is None:
        return
    cores, ram = getattr(resources, "coresMin", None), getattr(resources, "ramMin", None)
    for key, value, answer in (("coresMin", cores, "cpu_shares"), ("ramMin", ram, "memory_mb")):
        if isinstance(value, str):
            draft.unmapped.append(f"ResourceRequirement {key} {value!r} is an expression: {answer} is its default")
    if isinstance(cores, int | float):
        draft.answers["cpu_shares"] = max(128, math.ceil(cores * 1024))
    if isinstance(ram, int | float):
        draft.answers["memory_mb"] = max(128, math.ceil(ram))  # CWL's MiB, a little over DS's MB: never too little


def _outputs(tool: Any, command: list[Any], draft: Draft) -> None:
    """Literal output files the command names go to {output_dir} (uploaded) and make the done rule."""
    if tool.stdout:
        draft.unmapped.append(
            f"stdout {tool.stdout!r}: the command's standard output is kept in the job's log, not written to a file"
        )
    if tool.stderr:
        draft.unmapped.append(f"stderr {tool.stderr!r}: standard error is kept in the job's log, not written to a file")
    placed = 0
    for output in tool.outputs:
        name = _short_id(output.id)
        if output.type_ in ("stdout", "stderr"):
            draft.unmapped.append(f"output {name!r} is the command's {output.type_}: kept in the job's log only")
            continue
        glob = getattr(output.outputBinding, "glob", None) if output.outputBinding else None
        if not isinstance(glob, str) or _EXPRESSION.search(glob) or _WILDCARD.search(glob) or glob not in command:
            draft.unmapped.append(
                f"output {name!r} (glob {glob!r}): the tool runs in {{work_dir}} and only {{output_dir}} is uploaded;"
                " make the command write it under {output_dir}, and set done_min_files or done_required_file"
            )
            continue
        command[command.index(glob)] = "{output_dir}/" + glob
        placed += 1
    if placed:
        draft.answers["done_min_files"] = placed


def draft_from_cwl(path: Path) -> Draft:
    """The answers a CWL CommandLineTool gives, and what it says that they cannot hold."""
    from cwl_utils.parser import load_document_by_uri

    if not path.is_file():
        raise AnswerError(f"{path}: CWL file not found")
    try:
        tool = load_document_by_uri(path.resolve())
    except Exception as exc:  # schema-salad's validation errors: the file's own problem, named by it
        raise AnswerError(f"{path}: not a CWL document cwl-utils can read: {exc}") from None
    if type(tool).__name__ != "CommandLineTool":
        raise AnswerError(f"{path}: a {type(tool).__name__}, not a CommandLineTool: draft one tool at a time")
    base = tool.baseCommand if isinstance(tool.baseCommand, list) else [tool.baseCommand] if tool.baseCommand else []
    name = tool_name_from(base) or tool_name_from([path.stem]) or "MyTool"
    draft = Draft({"tool_name": name, "fields": [], "input_fields": []})
    if tool.label or tool.doc:
        draft.answers["tool_description"] = " ".join(str(tool.label or tool.doc).split())
    items = _argument_items(tool, draft) + [i for i in (_input_item(inp, draft) for inp in tool.inputs) if i]
    command = list(base) + [w for item in sorted(items, key=lambda i: (i.position, i.order)) for w in item.words]
    if not command:
        raise AnswerError(f"{path}: no baseCommand or arguments: there is no command to run")
    _outputs(tool, command, draft)
    draft.answers["command"] = command
    draft.answers["output_prefix"] = "outputs/{job_id}"
    _resources(tool, draft)
    for requirement in [*(tool.requirements or []), *(tool.hints or [])]:
        kind = requirement.get("class") if isinstance(requirement, dict) else type(requirement).__name__
        if kind not in ("DockerRequirement", "ResourceRequirement", "InlineJavascriptRequirement"):
            draft.unmapped.append(f"{kind} is not mapped")
    order = ["tool_name", "tool_description", "docker_image", "fields", "command", "input_fields", "output_prefix"]
    draft.answers = {k: draft.answers[k] for k in order if k in draft.answers} | draft.answers
    return draft


def draft_text(draft: Draft, source: Path) -> str:
    """The drafted answers file: what could not map, as comments, above the answers."""
    import yaml

    from .interview import ANSWERS_HEADER

    lines = [ANSWERS_HEADER.rstrip("\n"), f"# Drafted from {source} by dsgen new --from-cwl: review every answer."]
    if draft.unmapped:
        lines.append("# What the CWL file says that these answers do not hold (decide each, then delete it here):")
        lines += [
            textwrap.fill(note, 100, initial_indent="#   - ", subsequent_indent="#     ") for note in draft.unmapped
        ]
    return (
        "\n".join(lines)
        + "\n"
        + yaml.safe_dump(draft.answers, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    )
