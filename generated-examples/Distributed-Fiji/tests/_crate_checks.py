"""Checks of an exported crate: the Process Run Crate's MUSTs (ours), and roc-validator's, offline
(_roc_validate.py, run in an interpreter that has it)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ds_runtime.control.commands.export import PROCESS_RUN_CRATE

RO_CRATE = "https://w3id.org/ro/crate/1.3"
TOOL_TYPES = {"SoftwareApplication", "SoftwareSourceCode", "ComputationalWorkflow"}


def graph(folder: Path) -> dict[str, dict[str, Any]]:
    """The crate's entities by id."""
    data = json.loads((folder / "ro-crate-metadata.json").read_text())
    return {e["@id"]: e for e in data["@graph"]}


def refs(value: Any) -> list[str]:
    """The ids a property refers to (one reference or a list)."""
    items = value if isinstance(value, list) else [value] if value else []
    return [item["@id"] for item in items]


def types(entity: dict[str, Any]) -> set[str]:
    kind = entity.get("@type", [])
    return set(kind if isinstance(kind, list) else [kind])


def profile_problems(folder: Path) -> list[str]:
    """What breaks a MUST of Process Run Crate 0.6 (and the SHOULDs this export promises), in words."""
    entities = graph(folder)
    problems = []
    root = entities.get("./", {})
    if RO_CRATE not in refs(entities.get("ro-crate-metadata.json", {}).get("conformsTo")):
        problems.append(f"the metadata descriptor does not conform to {RO_CRATE}")
    profile = entities.get(PROCESS_RUN_CRATE, {})
    if PROCESS_RUN_CRATE not in refs(root.get("conformsTo")) or "CreativeWork" not in types(profile):
        problems.append(f"the root does not conform to a CreativeWork {PROCESS_RUN_CRATE}")
    mentioned = set(refs(root.get("mentions")))
    actions = [e for e in entities.values() if "CreateAction" in types(e)]
    if not actions:
        problems.append("no CreateAction")
    for action in actions:
        where = action["@id"]
        tools = refs(action.get("instrument"))
        if len(tools) != 1 or not TOOL_TYPES & types(entities.get(tools[0], {})):
            problems.append(f"{where}: instrument is not one SoftwareApplication")
        missing = [i for i in refs(action.get("object")) + refs(action.get("result")) if i not in entities]
        if missing:
            problems.append(f"{where}: refers to {missing}, not in the crate")
        failed = action.get("actionStatus", {}).get("@id", "").endswith("FailedActionStatus")
        if "error" in action and not failed:
            problems.append(f"{where}: an error without FailedActionStatus")
        if where not in mentioned:
            problems.append(f"{where}: not among the root's mentions")
    return problems


def validator_python() -> str | None:
    """An interpreter that has roc-validator: this one, or DSGEN_ROC_VALIDATOR_PYTHON (CI installs it in a
    venv of its own, .ci/roc-validator/install.sh: it pins rich<14, which this repository's lock cannot hold)."""
    if importlib.util.find_spec("rocrate_validator"):
        return sys.executable
    return os.environ.get("DSGEN_ROC_VALIDATOR_PYTHON") or None


def validator_issues(folder: Path, cache: Path, python: str) -> list[str]:
    """roc-validator's issues with the crate at REQUIRED severity, against RO-Crate 1.3, offline."""
    done = subprocess.run(
        [python, str(Path(__file__).with_name("_roc_validate.py")), str(folder), str(cache)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"roc-validator did not run ({python}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)
