"""`run.py export --ro-crate DIR`: a run's outcome records as a Workflow Run RO-Crate (Process Run Crate)."""
# ruff: noqa: F811 (the fixture local_repo comes from test_local_mode)

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands.export import action_id, crate_files, export, s3_uri
from ds_runtime.control.common.context import CommandError, Context
from ds_runtime.outcomes import Outcome, default_prefix

from ._control_support import REGION, make_ctx, output, write_job_file, write_spec
from ._crate_checks import graph, profile_problems, refs, types, validator_issues, validator_python
from .test_control_costs import BUCKET, outcome, record
from .test_local_mode import JOBS, local_repo, run_py  # noqa: F401 (local_repo: a fixture)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/echo@sha256:" + "ab" * 32
NO_VALIDATOR = (
    "roc-validator is not installed here (it pins rich<14, so it lives in a venv of its own: "
    "DSGEN_ROC_VALIDATOR_PYTHON=<that venv>/bin/python; requirements-dev.in says how)"
)


def require_validator() -> str:
    """The interpreter that runs roc-validator; a skip without one (a failure where CI installed it:
    DSGEN_REQUIRE_ROC_VALIDATOR=1, so that a missing install never passes as a skip)."""
    python = validator_python()
    if python is None:
        if os.environ.get("DSGEN_REQUIRE_ROC_VALIDATOR") == "1":
            pytest.fail(f"{NO_VALIDATOR} (DSGEN_REQUIRE_ROC_VALIDATOR=1)", pytrace=False)
        pytest.skip(NO_VALIDATOR)
    return python


RUNTIME = "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"


def provenance(job: str, attempt: int = 1, sha: str = "c" * 64) -> dict[str, Any]:
    """The provenance fields a worker fills: 3 inputs, 2 outputs."""
    return {
        "image": IMAGE,
        "argv": [["echo", f"sample {job}", "/tmp/out"]],
        "spec_sha256": "5" * 64,
        "settings": {"ECHO_MODE": "loud"},
        "inputs": [
            {"bucket": BUCKET, "key": f"in/{job}/w{n} x.tif", "size": 100 + n, "etag": f'"e{n}"', "version_id": f"v{n}"}
            for n in range(3)
        ],
        "outputs": [{"bucket": BUCKET, "key": f"out/{job}/r{n}.csv", "size": 10 + n, "sha256": sha} for n in range(2)],
        "runtime": RUNTIME,
        "output_prefix": f"out/{job}",
    }


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield make_ctx(tmp_path)


def exported(ctx: Context, folder: Path, *records: Outcome, job_files: int = 1) -> dict[str, dict[str, Any]]:
    record(*records)
    jobs = [write_job_file(folder, 2, name=f"job{i}.json") for i in range(job_files)]
    files = crate_files(folder / "config.py", write_spec(folder), jobs)
    assert export(ctx, folder / "crate", files) == 0
    return graph(folder / "crate")


def action(entities: dict[str, dict[str, Any]], job: str, attempt: int = 1) -> dict[str, Any]:
    (found,) = [e for e in entities.values() if e.get("name", "").startswith(f"job {job} attempt {attempt}:")]
    return found


def test_each_attempt_is_an_action_with_its_inputs_outputs_checksums_and_status(ctx: Context, tmp_path: Path) -> None:
    entities = exported(
        ctx,
        tmp_path,
        outcome("a1", "failed", 1, exit_code=3, error="tool failed", **provenance("a1", 1, sha="d" * 64)),
        outcome("a1", "done", 2, exit_code=0, **provenance("a1", 2)),
        outcome("b2", "done", 1, exit_code=0, **provenance("b2")),
    )
    assert profile_problems(tmp_path / "crate") == []
    done = action(entities, "a1", 2)
    assert done["@id"] == "#attempt/a1/20250101T000200.000000Z-002-done"  # its record's key, below the prefix
    assert done["actionStatus"] == {"@id": "http://schema.org/CompletedActionStatus"} and "error" not in done
    assert done["description"] == "echo 'sample a1' /tmp/out"
    assert done["startTime"].startswith("2025-01-01T00:01") and done["endTime"] == "2025-01-01T00:02:00+00:00"
    inputs = [entities[i] for i in refs(done["object"]) if i.startswith("s3://")]
    assert [(i["@id"], i["contentSize"], i["etag"], i["version"]) for i in inputs] == [
        (f"s3://{BUCKET}/in/a1/w{n}%20x.tif", str(100 + n), f'"e{n}"', f"v{n}") for n in range(3)
    ]
    assert {"config.py", "files/job0.json"} <= set(refs(done["object"]))  # the configuration used
    outputs = [entities[i] for i in refs(done["result"])]
    assert [(o["@id"], o["contentSize"], o["sha256"]) for o in outputs] == [
        (f"s3://{BUCKET}/out/a1/r{n}.csv", str(10 + n), "c" * 64) for n in range(2)
    ]
    failed = action(entities, "a1", 1)
    assert failed["actionStatus"] == {"@id": "http://schema.org/FailedActionStatus"}
    assert failed["error"] == "tool failed; exit code 3"
    # The first attempt wrote the same keys with other bytes: its outputs are entities of their own.
    assert [entities[i]["sha256"] for i in refs(failed["result"])] == ["d" * 64] * 2
    assert set(refs(failed["result"])).isdisjoint(refs(done["result"]))
    assert all(entities[i]["name"].startswith(f"s3://{BUCKET}/out/a1/r") for i in refs(failed["result"]))


def test_one_jobs_output_read_by_another_is_one_file_with_its_checksum_and_etag(ctx: Context, tmp_path: Path) -> None:
    first = provenance("a1")
    second = provenance("b2")
    second["inputs"] = [{"bucket": BUCKET, "key": "out/a1/r0.csv", "size": 10, "etag": '"e9"', "version_id": "v9"}]
    entities = exported(ctx, tmp_path, outcome("a1", "done", 1, **first), outcome("b2", "done", 2, **second))
    uri = f"s3://{BUCKET}/out/a1/r0.csv"
    assert refs(action(entities, "b2", 2)["object"])[0] == uri and uri in refs(action(entities, "a1")["result"])
    assert {k: entities[uri][k] for k in ("contentSize", "sha256", "etag", "version")} == {
        "contentSize": "10",
        "sha256": "c" * 64,
        "etag": '"e9"',
        "version": "v9",
    }


def test_the_tool_names_its_image_by_digest_its_spec_hash_and_runtime(ctx: Context, tmp_path: Path) -> None:
    two = (outcome(job, "done", **provenance(job)) for job in ("a1", "b2"))
    entities = exported(ctx, tmp_path, *two)
    done = action(entities, "a1")
    (tool_id,) = refs(done["instrument"])
    assert refs(action(entities, "b2")["instrument"]) == [tool_id]  # one tool for the run
    tool = entities[tool_id]
    assert types(tool) == {"SoftwareApplication"} and tool["name"] == "Echo"
    assert tool["version"] == IMAGE and "5" * 64 in tool["description"] and refs(tool["url"]) == ["tool/spec.json"]
    assert tool["softwareRequirements"] == f"ds_runtime {RUNTIME}"
    image = entities[refs(done["containerImage"])[0]]
    assert types(image) == {"ContainerImage"} and image["sha256"] == "ab" * 32
    assert image["registry"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com" and image["name"] == "echo"
    (setting,) = [entities[i] for i in refs(done["environment"])]
    assert (setting["@type"], setting["name"], setting["value"]) == ("PropertyValue", "ECHO_MODE", "loud")


def test_the_crate_holds_copies_of_the_config_spec_and_job_files(ctx: Context, tmp_path: Path) -> None:
    entities = exported(ctx, tmp_path, outcome("a1", "done", **provenance("a1")), job_files=2)
    crate = tmp_path / "crate"
    for name, source in [("config.py", "config.py"), ("tool/spec.json", "spec.json")] + [
        (f"files/job{i}.json", f"job{i}.json") for i in range(2)
    ]:
        assert (crate / name).read_bytes() == (tmp_path / source).read_bytes(), name
        assert name in refs(entities["./"]["hasPart"])
    assert (crate / "files/job1.json").exists() and entities["files/job1.json"]["@type"] == "File"


def test_records_before_provenance_make_a_crate_that_says_less(ctx: Context, tmp_path: Path) -> None:
    entities = exported(ctx, tmp_path, outcome("a1", "done", output_prefix="out/a1"), outcome("b2", "failed"))
    assert profile_problems(tmp_path / "crate") == []
    done = action(entities, "a1")
    assert "command was not recorded" in done["description"] and "containerImage" not in done
    assert refs(done["result"]) == [f"s3://{BUCKET}/out/a1/"]  # the output folder, as a Dataset
    assert entities[f"s3://{BUCKET}/out/a1/"]["@type"] == "Dataset"
    tool = entities[refs(done["instrument"])[0]]
    assert tool["version"] == ctx.config.DOCKERHUB_TAG and "the record, older than provenance" in tool["description"]
    assert "result" not in action(entities, "b2") and action(entities, "b2")["error"] == "failed"


def test_export_refuses_a_folder_that_holds_files_and_changes_nothing(ctx: Context, tmp_path: Path) -> None:
    (tmp_path / "crate").mkdir()
    (tmp_path / "crate" / "notes.txt").write_text("mine")
    files = crate_files(tmp_path / "config.py", write_spec(tmp_path), [])
    with pytest.raises(CommandError, match="crate: exists and is not an empty folder; name a new folder"):
        export(ctx, tmp_path / "crate", files)
    assert [p.name for p in (tmp_path / "crate").iterdir()] == ["notes.txt"]


def test_export_refuses_a_run_without_records_and_writes_nothing(ctx: Context, tmp_path: Path) -> None:
    files = crate_files(tmp_path / "config.py", write_spec(tmp_path), [])
    with pytest.raises(CommandError, match="no outcome records under s3://echo-bucket/_ds_status/DistributedEcho/"):
        export(ctx, tmp_path / "crate", files)
    assert not (tmp_path / "crate").exists()


def test_a_missing_or_clashing_job_file_is_named(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    (tmp_path / "config.py").write_text("")
    with pytest.raises(CommandError, match=r"nope\.json: not found; nothing was written"):
        crate_files(tmp_path / "config.py", spec, [tmp_path / "nope.json"])
    (tmp_path / "a").mkdir()
    one, two = write_job_file(tmp_path, 1), write_job_file(tmp_path / "a", 1)
    with pytest.raises(CommandError, match=r"another Job file is also named job\.json; rename one"):
        crate_files(tmp_path / "config.py", spec, [one, two])


def test_the_profile_check_catches_an_action_without_its_tool(ctx: Context, tmp_path: Path) -> None:
    exported(ctx, tmp_path, outcome("a1", "done", **provenance("a1")))
    path = tmp_path / "crate" / "ro-crate-metadata.json"
    data = json.loads(path.read_text())
    for entity in data["@graph"]:
        entity.pop("instrument", None)
    path.write_text(json.dumps(data))
    assert [p for p in profile_problems(tmp_path / "crate") if "instrument is not one SoftwareApplication" in p]


@pytest.mark.slow
def test_the_crate_passes_roc_validator(ctx: Context, tmp_path: Path) -> None:
    python = require_validator()
    old_record = outcome("c3", "done", output_prefix="out/c3")  # before provenance: says less, still valid
    retried = outcome("a1", "failed", 1, **provenance("a1")), outcome("a1", "done", 2, **provenance("a1"))
    exported(ctx, tmp_path, *retried, old_record)
    assert validator_issues(tmp_path / "crate", tmp_path / "cache", python) == []


def test_export_prints_the_crate_and_its_size(ctx: Context, tmp_path: Path) -> None:
    exported(ctx, tmp_path, outcome("a1", "done", **provenance("a1")))
    size = (tmp_path / "crate" / "ro-crate-metadata.json").stat().st_size
    assert f"RO-Crate of 1 attempt(s): {tmp_path / 'crate' / 'ro-crate-metadata.json'} ({size:,} bytes)" in output(ctx)


@pytest.mark.slow
def test_a_local_run_exports_a_valid_crate_naming_every_output_with_its_checksum(local_repo: Path) -> None:
    for command in (["setup"], ["submitJob", "files/job.json"], ["startCluster", "files/fleet.json"]):
        done = run_py(local_repo, "--local", *command)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    try:
        deadline = time.monotonic() + 120
        while _counts(local_repo).get("done", 0) < JOBS and time.monotonic() < deadline:
            time.sleep(1)
        done = run_py(local_repo, "--local", "export", "--ro-crate", "crate", "--job-file", "files/job.json")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        assert run_py(local_repo, "localStop").returncode == 0
    crate = local_repo / "crate"
    assert profile_problems(crate) == []
    entities = graph(crate)
    records = [
        Outcome.from_json(path.read_text()) for path in (local_repo / "local-outputs" / "_ds_status").rglob("*.json")
    ]
    assert len([r for r in records if r.state == "done"]) == JOBS
    for item in records:
        found = entities[action_id(default_prefix("DistributedEcho"), item)]
        outputs = [(s3_uri(str(o["bucket"]), str(o["key"])), o["sha256"]) for o in item.outputs]
        if outputs:  # every output by its key, with the checksum the worker recorded
            assert [(i, entities[i]["sha256"]) for i in refs(found["result"])] == outputs
        else:  # a worker that records no outputs: the output folder
            assert refs(found["result"]) == [s3_uri("local-test-bucket", item.output_prefix.strip("/") + "/")]
    assert (crate / "files" / "job.json").read_bytes() == (local_repo / "files" / "job.json").read_bytes()
    python = validator_python()
    if python:  # roc-validator's own run is test_the_crate_passes_roc_validator's; here, when it is at hand
        assert validator_issues(crate, local_repo.parent / "cache", python) == []


def _counts(repo: Path) -> dict[str, int]:
    done = run_py(repo, "--local", "status", "--json")
    return json.loads(done.stdout)["counts"] if done.returncode == 0 else {}
