"""Checks of an exported crate: the Process Run Crate's MUSTs (ours), and roc-validator's, offline.

roc-validator reads the crate as RDF, for which it fetches the JSON-LD contexts the crate names, through an
HTTP cache that its offline mode serves alone. The crate names one remote context, RO-Crate 1.3's, which
the `rocrate` package ships: the cache is filled from that copy, and the validator never reaches a network.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from ds_runtime.control.export import PROCESS_RUN_CRATE

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


def validator_issues(folder: Path, cache: Path, severity: str = "REQUIRED") -> list[str]:
    """roc-validator's issues at `severity` and above, against RO-Crate 1.3, offline."""
    import requests
    import requests_cache
    import rocrate
    import urllib3
    from requests.adapters import BaseAdapter
    from rocrate_validator import services

    context = (Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld").read_bytes()

    class ShippedContext(BaseAdapter):
        """Answers the context's URL with the copy the rocrate package ships."""

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code, response.url, response.request = 200, request.url or "", request
            headers = {"Content-Type": "application/ld+json"}
            response.headers.update(headers)
            response.raw = urllib3.HTTPResponse(
                body=io.BytesIO(context), headers=headers, status=200, preload_content=False, request_url=request.url
            )
            return response

        def close(self) -> None:
            pass

    with requests_cache.CachedSession(cache_name=str(cache), backend="sqlite", expire_after=-1) as session:
        session.mount(RO_CRATE + "/context", ShippedContext())
        assert session.get(RO_CRATE + "/context").status_code == 200
    result = services.validate(
        {
            "rocrate_uri": str(folder),
            "profile_identifier": "ro-crate-1.3",
            "requirement_severity": severity,
            "offline": True,
            "cache_path": str(cache),
        }
    )
    return [f"{i.severity.name} {i.check.identifier}: {i.message} ({i.violatingEntity})" for i in result.get_issues()]
