"""`run.py export --ro-crate DIR`: a run's outcome records as a Workflow Run RO-Crate (Process Run Crate).

The crate (RO-Crate 1.3, Process Run Crate 0.6, written with the `rocrate` package) holds:
- the tool as a SoftwareApplication per distinct (image, spec hash, runtime) the attempts ran with: its
  image (by digest) as version, the ds_runtime commit as its software requirement, its spec as url;
- one CreateAction per job attempt (outcome record): its inputs (`object`: s3:// Files with size, ETag and
  version) and the config and Job files, its outputs (`result`: s3:// Files with size and SHA-256), status,
  start and end, error, the command as run, the image (`containerImage`: sha256 of its digest) and the
  worker settings (`environment`);
- copies of config.py, tool/spec.json and the Job files given, as Files inside the crate.
Records written before provenance was recorded say less (no image, no inputs, the output folder as a
Dataset instead of each file): the crate stays valid and says what is known.

An action's id is `#attempt/<job id>/<record name>` (outcome_records.attempt_id): the report names it beside each
failed job.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from ...outcomes import FINISHED, IN_ORDER, Outcome, default_prefix, outcome_key, utc_now
from ...provenance import file_sha256
from ..common.context import CommandError, Context
from ..views.outcome_records import OutcomeRecords, attempt_id

PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.6"
WORKFLOW_RUN = "https://w3id.org/ro/terms/workflow-run#"
# An S3 object's ETag has no schema.org term: an ad hoc term whose IRI is AWS's definition of it.
ETAG = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html#AmazonS3-Type-Object-ETag"
# Terms beyond the RO-Crate 1.3 context, inline (the workflow-run terms by their IRIs), so that reading
# the crate needs no second remote context.
TERMS = {
    "containerImage": WORKFLOW_RUN + "containerImage",
    "ContainerImage": WORKFLOW_RUN + "ContainerImage",
    "environment": WORKFLOW_RUN + "environment",
    "registry": WORKFLOW_RUN + "registry",
    "tag": WORKFLOW_RUN + "tag",
    "etag": ETAG,
}
COMPLETED = {"@id": "http://schema.org/CompletedActionStatus"}
FAILED = {"@id": "http://schema.org/FailedActionStatus"}
NO_LICENSE = "#license-not-chosen"
ABOUT = {"config.py": "the run's settings (DS's config.py)", "tool/spec.json": "the tool spec: its command and fields"}
RUNTIME_NAME = "ds_runtime"  # the worker's runtime, named with its template commit
SPEC_FILE = "tool/spec.json"  # the crate's copy of the tool spec


def action_id(prefix: str, record: Outcome) -> str:
    """The crate's id of the attempt this record describes (what the report names beside a failed job)."""
    return attempt_id(prefix, outcome_key(prefix, record))


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{quote(key, safe='/')}"


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


@dataclass
class CrateWriter:
    """Builds one crate from records; each shared entity (tool, image, setting, file) is added once."""

    crate: ROCrate
    bucket: str  # AWS_BUCKET: where a record written before output_bucket put its outputs
    prefix: str  # the outcome records' (their keys make the actions' ids)
    configuration: list[Any]  # the config and Job files, part of every action's object
    # Each id added -> its properties. Looked up here, not with crate.get: rocrate answers an id it does not
    # hold by scanning every entity for sub-crates, which made a 3,456-job crate take minutes.
    added: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, entity_id: str, properties: dict[str, Any]) -> dict[str, str]:
        """A contextual entity, once; a reference to it."""
        if entity_id not in self.added:
            self.added[entity_id] = properties
            self.crate.add(ContextEntity(self.crate, entity_id, properties=properties))
        return {"@id": entity_id}

    def file(self, uri: str, properties: dict[str, Any]) -> dict[str, str]:
        """A web-based File, once per content: what another attempt said of it is added (one job's output read
        by another as input gets both its SHA-256 and its ETag); the same key with other content (an input
        replaced, an output written again) gets its own entity, `uri#<its hash>`, named after the key."""
        entity_id = uri
        found = self.added.get(uri)
        if found is not None and any(k in found and found[k] != v for k, v in properties.items()):
            entity_id = f"{uri}#{_short_hash(*map(str, properties.values()))}"
            found = self.added.get(entity_id)
        if found is None:
            self.added[entity_id] = dict(properties)
            self.crate.add_file(entity_id, properties={"name": uri, **properties})
        else:  # the same content: a hit in rocrate's map, no scan
            entity = self.crate.get(entity_id)
            for key, value in properties.items():
                found[key] = entity[key] = value
        return {"@id": entity_id}

    def tool(self, record: Outcome, name: str, tag: str) -> dict[str, str]:
        """The tool as this attempt ran it: its image (by digest; by `tag`, DOCKERHUB_TAG, in records
        before provenance), its spec's hash and the worker's runtime. Its url is the spec in the crate."""
        notes = [f"tool spec sha256 {record.spec_sha256}"] if record.spec_sha256 else []
        if not record.image:
            notes.append(f"the image as config.py names it now ({tag}): the record, older than provenance, names none")
        properties: dict[str, Any] = {
            "@type": "SoftwareApplication",
            "name": name,
            "version": record.image or tag,
            "url": {"@id": SPEC_FILE},
        }
        if notes:
            properties["description"] = "; ".join(notes)
        if record.runtime:  # the template commit of the worker's runtime (a text: it has no web page of its own)
            properties["softwareRequirements"] = f"{RUNTIME_NAME} {record.runtime}"
        return self.add(f"#tool-{_short_hash(record.image or tag, record.spec_sha256, record.runtime)}", properties)

    def image(self, reference: str) -> dict[str, str]:
        """A ContainerImage from `repo@sha256:...` (or a local image id, `sha256:...`)."""
        name, _, digest = reference.rpartition("@") if "@" in reference else ("", "", reference)
        registry, _, repository = name.partition("/") if "." in name.split("/", 1)[0] else ("docker.io", "", name)
        properties: dict[str, Any] = {
            "@type": "ContainerImage",
            "additionalType": {"@id": WORKFLOW_RUN + "DockerImage"},
            "name": repository or reference,
        }
        if name:
            properties["registry"] = registry
        if digest.startswith("sha256:"):
            properties["sha256"] = digest.removeprefix("sha256:")
        return self.add(f"#image-{_short_hash(reference)}", properties)

    def setting(self, name: str, value: str) -> dict[str, str]:
        return self.add(
            f"#setting-{_short_hash(name, value)}", {"@type": "PropertyValue", "name": name, "value": value}
        )

    def inputs(self, record: Outcome) -> list[dict[str, str]]:
        found = []
        for entry in record.inputs:
            properties: dict[str, Any] = {"contentSize": str(entry.get("size", ""))}
            if entry.get("etag"):
                properties["etag"] = str(entry["etag"])
            if entry.get("version_id"):
                properties["version"] = str(entry["version_id"])
            uri = s3_uri(str(entry.get("bucket") or self.bucket), str(entry.get("key", "")))
            found.append(self.file(uri, {k: v for k, v in properties.items() if v != ""}))
        return found

    def outputs(self, record: Outcome) -> list[dict[str, str]]:
        bucket = record.output_bucket or self.bucket
        found = []
        for entry in record.outputs:
            properties = {"contentSize": str(entry.get("size", "")), "sha256": str(entry.get("sha256", ""))}
            uri = s3_uri(str(entry.get("bucket") or bucket), str(entry.get("key", "")))
            found.append(self.file(uri, {k: v for k, v in properties.items() if v != ""}))
        if not found and record.state in FINISHED and record.output_prefix:
            # A record before provenance names only its output folder.
            folder = s3_uri(bucket, record.output_prefix.strip("/") + "/")
            if folder not in self.added:
                self.added[folder] = {"name": folder, "description": "a job's output folder"}
                self.crate.add_dataset(folder, properties=self.added[folder])
            found.append({"@id": folder})
        return found

    def action(self, record: Outcome, tool: dict[str, str]) -> dict[str, str]:
        ok = record.state in FINISHED
        steps = "; ".join(shlex.join(step) for step in record.argv)
        properties: dict[str, Any] = {
            "@type": "CreateAction",
            "name": f"job {record.job_id} attempt {record.attempt}: {record.state}",
            "description": steps or "the command was not recorded (a record before provenance)",
            "startTime": record.started_at,
            "endTime": record.finished_at,
            "instrument": tool,
            "object": self.inputs(record) + self.configuration,
            "actionStatus": COMPLETED if ok else FAILED,
        }
        result = self.outputs(record)
        if result:
            properties["result"] = result
        if not ok:
            exit_code = "" if record.exit_code is None else f"exit code {record.exit_code}"
            properties["error"] = "; ".join(p for p in (record.error, exit_code) if p) or record.state
        if record.image:
            properties["containerImage"] = self.image(record.image)
        if record.settings:
            properties["environment"] = [self.setting(k, v) for k, v in sorted(record.settings.items())]
        return self.add(action_id(self.prefix, record), properties)


def build_crate(
    records: Iterable[Outcome],
    ctx: Context,
    files: dict[str, Path],
    license_id: str | None = None,
) -> ROCrate:
    """The crate of these records; `files`: crate path -> local file to copy in (config, spec, Job files)."""
    crate = ROCrate()
    crate.metadata.extra_terms.update(TERMS)
    configuration = [
        crate.add_file(
            source,
            dest_path=dest,
            properties={
                "name": dest,
                "description": ABOUT.get(dest, "a Job file the run submitted"),
                "encodingFormat": "text/x-python" if dest.endswith(".py") else "application/json",
                "sha256": file_sha256(source),
            },
        )
        for dest, source in files.items()
    ]
    prefix = default_prefix(ctx.config.APP_NAME)
    used = [{"@id": f.id} for f in configuration if f.id != SPEC_FILE]  # the spec describes the tool instead
    writer = CrateWriter(crate, ctx.config.AWS_BUCKET, prefix, used)
    # Latest first: a key written by several attempts keeps its own id for what it holds now (the last
    # write), and the earlier contents get ids of their own.
    records = sorted(records, key=lambda r: (r.finished_at, r.job_id, r.attempt), reverse=True)
    actions = [writer.action(r, writer.tool(r, ctx.spec.tool_name, ctx.config.DOCKERHUB_TAG)) for r in records][::-1]
    root = crate.root_dataset
    root["name"] = f"{ctx.config.APP_NAME}: a run of {ctx.spec.tool_name}"
    jobs = len({r.job_id for r in records})
    root["description"] = (
        f"{len(actions)} attempt(s) of {jobs} job(s), from the outcome records in "
        f"s3://{ctx.config.AWS_BUCKET}/{prefix}/, exported {utc_now()}"
    )
    root["conformsTo"] = writer.add(
        PROCESS_RUN_CRATE, {"@type": ["CreativeWork", "Profile"], "name": "Process Run Crate", "version": "0.6"}
    )
    root["mentions"] = actions
    root["license"] = (
        {"@id": license_id}
        if license_id
        else writer.add(
            NO_LICENSE,
            {
                "@type": "CreativeWork",
                "name": "no license chosen",
                "description": "exported without --license: choose one (e.g. https://spdx.org/licenses/CC-BY-4.0) "
                "before sharing the crate",
            },
        )
    )
    writer.add(ETAG, {"@type": "rdf:Property", "rdfs:label": "etag", "rdfs:comment": "an S3 object's ETag"})
    return crate


def crate_files(config: Path, spec: Path, job_files: list[Path]) -> dict[str, Path]:
    """Crate path -> local file: config.py, tool/spec.json and each Job file under files/."""
    found = {"config.py": config, SPEC_FILE: spec}
    for job_file in job_files:
        dest = f"files/{job_file.name}"
        if dest in found:
            raise CommandError(f"--job-file {job_file}: another Job file is also named {job_file.name}; rename one")
        found[dest] = job_file
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing:
        raise CommandError(f"{', '.join(missing)}: not found; nothing was written")
    return found


def export(ctx: Context, out: Path, files: dict[str, Path], license_id: str | None = None) -> int:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CommandError(f"{out}: exists and is not an empty folder; name a new folder for the crate")
    records = OutcomeRecords.of(ctx)
    read, warnings = records.read(sorted(records.keys, key=IN_ORDER))
    for note in records.notes + warnings:
        ctx.console.print(f"note: {note}", highlight=False, markup=False)
    if not read:
        where = f"s3://{ctx.config.AWS_BUCKET}/{default_prefix(ctx.config.APP_NAME)}/"
        raise CommandError(
            f"no outcome records under {where}: nothing to export, nothing written (a local run's records last"
            " as long as its emulator: export before monitor or localRun ends the run)"
        )
    crate = build_crate(read.values(), ctx, files, license_id)
    crate.write(out)
    size = (out / "ro-crate-metadata.json").stat().st_size
    ctx.console.print(
        f"RO-Crate of {len(read)} attempt(s): {out / 'ro-crate-metadata.json'} ({size:,} bytes)",
        highlight=False,
        markup=False,
    )
    return 0


def run_export(ctx: Context, args: argparse.Namespace) -> int:
    files = crate_files(args.config, args.spec, args.job_files)
    return export(ctx, args.ro_crate, files, args.license)
