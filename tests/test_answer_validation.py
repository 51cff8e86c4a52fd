"""Every question's validator refuses bad answers with a message naming the fix, and nothing is written.

The same checks run under `dsgen new` and plain `copier copy`: they live in copier.yml (and the
macros of includes/ it calls). Each bad answer is also given to the runtime, validators left out:
it must refuse what the answer would generate too, unless the table below says why not.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jinja2
import pytest

from dsgen.render import AnswerError, render
from dsgen.source import WORKING_TREE

from .runtime_view import refusal

# (question, bad answer, words the message must contain)
BAD_ANSWERS = [
    ("tool_name", "1Tool", "letters and digits"),
    ("tool_name", "My Tool", "letters and digits"),
    ("docker_image", "Not An Image", "not an image reference"),
    ("job_list_key", "my-jobs", "letters, digits and _"),
    ("fields", "{name: x}", "must be a YAML list"),
    ("fields", "[{name: 9lives, scope: job}]", "use letters, digits and _"),
    ("fields", "[{name: a, scope: job}, {name: a, scope: shared}]", "declared twice"),
    ("fields", "[{name: job_id, scope: job}]", "reserved"),
    ("fields", "[{name: groups, scope: shared}]", "reserved"),
    ("fields", "[{name: a}]", "scope must be shared"),
    ("fields", "[{name: a, scope: job, type: float}]", "is not one of"),
    ("fields", "[{name: a, scope: job, colour: red}]", "unknown keys colour"),
    ("fields", "[{name: a, scope: job, aliases: a-b}]", "aliases must be a list"),
    ("fields", "[{name: a, scope: job, aliases: [a b]}]", "aliases must be a list"),
    ("fields", "[{name: a, scope: job}, {name: b, scope: job, aliases: [a]}]", "is declared twice"),
    ("command", '"echo hello"', "non-empty list"),
    ("command", "[]", "non-empty list"),
    ("command", '["echo", "{nope}"]', "{nope} is neither a declared field nor a built-in"),
    ("command", '["echo", "{sample|upper}"]', "filter |upper is unknown"),
    ("command", "[echo, 3]", "must be text"),
    ("command", "[echo, {when: nope, args: [x]}]", "is not a declared field"),
    ("command", "[echo, {when: sample}]", "a conditional item needs when"),
    ("command", '[echo, "{config.NOPE}"]', "NOPE is not a config key"),
    ("command", "[echo, {when: config.NOPE, args: [x]}]", "NOPE is not a config key"),
    ("command", "[echo, {when: [sample], args: [x]}]", "must name a field or config.NAME"),
    ("command", "[echo, {when: sample, matches: 3, args: [x]}]", "matches must be a regular expression"),
    ("command", '[echo, {split: "{sample}", when: sample}]', "a split item is"),
    ("command", "[echo, {split: [a, b]}]", "a split item is"),
    ("command", '[echo, {split: "{nope}"}]', "{nope} is neither a declared field nor a built-in"),
    ("command", "[echo, {when: sample, args: [{split: 3}]}]", "must be text or {split"),
    ("command", '[echo, {when: sample, args: [{split: "{config.NOPE}"}]}]', "NOPE is not a config key"),
    ("bucket_view", "home/ubuntu/bucket", "must be an absolute folder"),
    ("bucket_view", "/", "must be an absolute folder"),
    ("bucket_view", "/home/../etc", "must be an absolute folder"),
    ("input_fields", "[sample]", "not a declared field of type s3_key or s3_prefix"),
    ("input_fields", '["{input_dir}/x"]', "an input key is built from job fields only"),
    ("input_fields", '["{config.AWS_BUCKET}/x"]', "an input key is built from job fields only"),
    ("input_fields", '["../{sample}/"]', "must be a key relative to the bucket"),
    ("input_fields", '["/{sample}"]', "must be a key relative to the bucket"),
    ("input_fields", '["{sample|upper}/"]', "filter |upper is unknown"),
    ("input_fields", "[[input]]", "must be a field name or a key template"),
    ("input_fields", "[{key: input, lists_files: {path_root: relative}}]", "lists_files must be {path_root"),
    (
        "input_fields",
        "[{key: input, lists_files: {path_root: /r, rows_matching: sample}}]",
        "must name a mapping field",
    ),
    ("input_fields", "[{key: input, lists_files: {path_root: /r, bucket: config.NOPE}}]", "lists_files.bucket"),
    ("input_fields", "[{key: input, colour: red}]", "unknown keys colour"),
    ("input_fields", "[{bucket: sample}]", "an object needs key"),
    ("input_fields", "[{key: input, bucket: config.NOPE}]", "NOPE is not a bucket key of extra_config"),
    ("input_fields", "[{key: input, bucket: config.JOB_BUCKETS}]", "JOB_BUCKETS is not a bucket key"),
    ("input_fields", "[{key: input, bucket: output}]", "nor a declared field of type string"),
    ("input_fields", "[{key: input, bucket: sample}]", "add JOB_BUCKETS to extra_config"),
    ("input_fields", "[{key: input, when: nope}]", "is not a declared field"),
    ("input_fields", "[{key: input, when: config.NOPE}]", "NOPE is not a config key"),
    ("input_fields", "[{key: input, matches: x}]", "needs when"),
    ("input_fields", "[{key: sample}]", "not a declared field of type s3_key or s3_prefix"),
    ("output_prefix", "/abs/{job_id}", "relative to the bucket"),
    ("output_prefix", "{output}/../{job_id}", "relative to the bucket"),
    ("output_prefix", "{output_dir}", "local folders cannot appear here"),
    ("output_prefix", "", "must not be empty"),
    ("output_prefix", "{output}/{sample|lower}", "filter |lower is unknown"),
    ("output_prefix", "{output}/{sample|layout}", "must be |layout:<a declared field>"),
    ("output_prefix", "{output}/{sample|layout:nope}", "must be |layout:<a declared field>"),
    ("command", '["echo", "{sample|layout:nope}"]', "must be |layout:<a declared field>"),
    ("input_fields", '["{sample|layout}/"]', "must be |layout:<a declared field>"),
    ("output_exclude", "cp.is.done", "must be a YAML list"),
    ("output_exclude", '["../x"]', "must stay inside the output folder"),
    ("output_exclude", "[3]", "must be a non-empty pattern"),
    ("own_output_folder", "{nope}.zarr", "{nope} is not a declared field"),
    ("own_output_folder", "../{sample}", "must be a folder inside the output prefix"),
    ("output_bucket", "config.NOPE", "NOPE is not a bucket key of extra_config"),
    ("output_bucket", "output", "nor a declared field of type string"),
    ("output_bucket", "sample", "add JOB_BUCKETS to extra_config"),
    ("upload_flags", "--acl private --recursive", "--recursive is not a supported upload flag"),
    ("upload_flags", "--acl={nope}", "{nope} is neither a declared field nor config.NAME"),
    ("upload_flags", "{config.NOPE}", "NOPE is not a config key"),
    ("upload_flags", "{sample|upper}", "filter |upper is unknown"),
    ("done_min_files", "-1", "0 or more"),
    ("done_min_files", "config.NOPE", "NOPE is not a config key"),
    ("done_min_files", "lots", "use a whole number"),
    ("done_required_file", "{nope}.txt", "{nope} is not a declared field"),
    ("done_content_match", "last_line", "contains"),
    ("aws_region", "mars-1", "not a region name"),
    ("machine_types", "[]", "non-empty YAML list"),
    ("machine_types", "[big]", "not an instance type"),
    ("machine_price", "0", "above 0"),
    ("cluster_machines", "0", "at least 1"),
    ("tasks_per_machine", "0", "at least 1"),
    ("docker_cores", "0", "at least 1"),
    ("cpu_shares", "64", "at least 128"),
    ("memory_mb", "0", "at least 128"),
    ("ebs_vol_size", "8", "at least 22"),
    ("extra_config", "[A]", "YAML mapping"),
    ("extra_config", "{lower: 1}", "UPPER_CASE"),
    ("extra_config_help", "[A]", "must be a YAML mapping"),
    ("extra_config_help", "{NOPE: text}", "is not a key of extra_config"),
    ("extra_config_help", '{FLAG: "two\\nlines"}', "must be one line"),
    ("example_jobs", "[{nope: 1}]", "unknown fields nope"),
    # startup steps: the same rules as spec.py's (template/tests/test_spec.py, startup cases)
    ("startup", "{run: [x]}", "must be a YAML list of steps"),
    ("startup", "[{into: /x}]", "a step is {fetch: URL, into: /folder} or {run:"),
    ("startup", "[{fetch: https://h.test/a.py, run: [x]}]", "a step is {fetch: URL"),
    ("startup", "[{fetch: https://h.test/a.py}]", "fetch and into must both be text"),
    ("startup", "[{fetch: ftp://h.test/a.py, into: /x}]", "must be an http://, https:// or s3:// URL"),
    ("startup", "[{fetch: https://h.test/a.py, into: x/y}]", "must be an absolute folder"),
    ("startup", "[{run: [x], cwd: rel}]", "must be an absolute folder"),
    ("startup", "[{run: []}]", "run must be a non-empty list"),
    ("startup", "[{run: [x, 3]}]", "must be text or {split"),
    ("startup", "[{run: [x], timeout: 3}]", "unknown keys timeout"),
    ("startup", "[{run: [x], when: sample}]", "may test config.NAME only"),
    ("startup", "[{run: [x], when: config.NOPE}]", "NOPE is not a config key"),
    ("startup", "[{run: [x], matches: y}]", "needs when (the config.NAME it tests)"),
    ("startup", '[{run: [x, "{sample}"]}]', "may use {config.NAME} only"),
    ("startup", '[{run: [x, "{output_dir}"]}]', "may use {config.NAME} only"),
    ("startup", '[{run: [x, {split: "{config.NOPE}"}]}]', "NOPE is not a config key"),
    ("startup", '[{run: [x], cwd: "{config.AWS_BUCKET|upper}"}]', "filter |upper is unknown"),
    ("docker_steps", "RUN true", "must be a YAML list"),
    ("docker_steps", "[3]", "must be text"),
    ("docker_steps", '["RUN a\\nRUN b"]', "must be a single line"),
    ("docker_steps", "[COPY . /app]", "must start with RUN, ENV, ARG, WORKDIR or LABEL"),
    ("docker_steps", "[USER root]", "must start with RUN, ENV, ARG, WORKDIR or LABEL"),
    ("docker_steps", "[ENV AWS_SECRET_ACCESS_KEY=abc]", "looks like AWS credentials"),
    ("docker_steps", "[RUN aws configure set aws_access_key_id x]", "looks like AWS credentials"),
    ("docker_steps", "[ENV KEY=AKIAABCDEFGHIJKLMNOP]", "looks like AWS credentials"),
]


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS, ids=[f"{q}={a}" for q, a, _ in BAD_ANSWERS])
def test_bad_answer_is_refused_and_nothing_written(tmp_path: Path, question: str, answer: str, message: str) -> None:
    dest = tmp_path / "out"
    with pytest.raises(AnswerError) as refused:
        render(dest, {question: answer}, source=WORKING_TREE)
    assert f"'{question}'" in str(refused.value)
    assert message in str(refused.value)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == [], "a staging folder was left behind"


# What the runtime's refusal names for each question: the spec key or config.py key the answer becomes.
RUNTIME_NAMES = {
    "tool_name": "APP_NAME",
    "fields": "field",
    "command": "command",
    "bucket_view": "bucket_view",
    "input_fields": "input.field",
    "output_prefix": "output.prefix",
    "output_exclude": "output_exclude",
    "own_output_folder": "own.output.folder",
    "output_bucket": "output_bucket",
    "upload_flags": "upload_flags",
    "done_min_files": "min_files",
    "done_required_file": "required_file",
    "done_content_match": "content_match",
    "aws_region": "AWS_REGION",
    "machine_types": "MACHINE_TYPE",
    "machine_price": "MACHINE_PRICE",
    "cluster_machines": "CLUSTER_MACHINES",
    "tasks_per_machine": "TASKS_PER_MACHINE",
    "docker_cores": "DOCKER_CORES",
    "cpu_shares": "CPU_SHARES",
    "memory_mb": "MEMORY",
    "ebs_vol_size": "EBS_VOL_SIZE",
    "extra_config": "config[ _]keys",  # spec.json calls them config_keys
    "example_jobs": "job 0: nope: unknown field",
    "startup": "startup",
}
# Refused by copier alone, by design: the runtime takes what the answer generates. Keyed by
# question (every bad answer to it) or by (question, answer).
COPIER_ONLY = {
    ("tool_name", "1Tool"): "it names the repository (Distributed-<tool_name>); APP_NAME itself may hold a digit first",
    "docker_image": "only the Dockerfile's FROM reads it; docker build refuses a bad reference",
    "job_list_key": "the runtime reads the Job file's list under whatever key the spec names",
    ("machine_types", "[big]"): "config.py takes any instance type name; EC2 refuses one it does not know",
    "extra_config_help": "the help becomes comments in config.py, which the runtime never reads",
    "docker_steps": "Dockerfile lines; the runtime never reads the Dockerfile",
}
# Refused by copier because the template cannot even render them into a spec.
UNRENDERABLE = {
    ("fields", "{name: x}"): "spec.json.jinja sorts a list of fields by scope",
    ("fields", "[{name: a}]"): "spec.json.jinja sorts fields by scope, which the spec itself does not keep",
    ("extra_config", "[A]"): "spec.json.jinja lists extra_config's keys as config_keys",
}


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS, ids=[f"{q}={a}" for q, a, _ in BAD_ANSWERS])
def test_the_runtime_refuses_what_copier_refuses(tmp_path: Path, question: str, answer: str, message: str) -> None:
    """The template renders the answer (no validators); the runtime loads the spec, config.py and a job."""
    if (question, answer) in UNRENDERABLE:
        with pytest.raises(jinja2.UndefinedError):
            refusal({question: answer}, tmp_path)
        return
    refused = refusal({question: answer}, tmp_path)
    if (question, answer) in COPIER_ONLY or question in COPIER_ONLY:
        assert refused == "", "the runtime refuses it too now: move it out of COPIER_ONLY"
    else:
        assert refused, "copier refuses this answer but the runtime takes what it generates"
        assert re.search(RUNTIME_NAMES[question], refused), refused


def test_unknown_question_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnswerError, match="unknown question"):
        render(tmp_path / "out", {"tool_nmae": "Fiji"}, source=WORKING_TREE)


def test_non_empty_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(AnswerError, match="not empty"):
        render(tmp_path, {}, source=WORKING_TREE)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_every_question_has_help_and_a_validated_bad_case() -> None:
    """A new question needs help text and a line in BAD_ANSWERS (or a reason it needs none)."""
    import yaml

    from dsgen.render import TEMPLATE_ROOT

    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    asked = {k: v for k, v in config.items() if not k.startswith("_") and v.get("when") is not False}
    free_text = {"tool_description", "done_required_content", "needs_fuse"}  # any value is acceptable
    for name, question in asked.items():
        assert question.get("help"), f"question {name} has no help text"
        if "choices" in question:  # copier itself refuses anything else
            assert any(q == name for q, _, _ in BAD_ANSWERS), f"no bad-answer test for {name}"
        elif name not in free_text:
            assert question.get("validator"), f"question {name} has no validator"
            assert any(q == name for q, _, _ in BAD_ANSWERS), f"no bad-answer test for {name}"


GOOD_ANSWERS = {
    "extra_config": "{MY_FLAG: 'False', TOOL_HOME: /opt/tool}",
    "extra_config_help": "{TOOL_HOME: Where the tool is installed in the image}",
    "fields": "[{name: prefix, scope: shared, type: s3_prefix}, {name: flags, scope: shared, required: false},"
    " {name: sample, scope: job}]",
    "command": '["{config.TOOL_HOME}/bin/tool", "{input_dir}/{prefix}/{sample}", {split: "{flags}"},'
    ' {when: config.MY_FLAG, matches: "(?i)^true$", args: [--flag, {split: "{config.TOOL_HOME|basename} x"}]}]',
    "input_fields": '["{prefix}/{sample}/", "{prefix}/{sample|stem}.txt"]',
    "output_prefix": "{prefix}/{sample}",
    "done_min_files": "config.EXPECTED_NUMBER_FILES",
}


def test_new_command_syntax_is_accepted_and_lands_in_the_spec(tmp_path: Path) -> None:
    import json

    dest = render(tmp_path / "out", GOOD_ANSWERS, source=WORKING_TREE)
    spec = json.loads((dest / "tool" / "spec.json").read_text())
    assert spec["command"][2] == {"split": "{flags}"}
    assert spec["input_fields"] == ["{prefix}/{sample}/", "{prefix}/{sample|stem}.txt"]
    assert spec["done"]["min_files"] == "config.EXPECTED_NUMBER_FILES"
    assert spec["config_keys"] == ["MY_FLAG", "TOOL_HOME"]
    config = (dest / "config.py").read_text()
    assert "# Where the tool is installed in the image\nTOOL_HOME = " in config


BUCKET_ANSWERS = {
    "fields": "[{name: images, scope: shared, type: s3_prefix}, {name: pipeline, scope: shared, type: s3_key},"
    " {name: in_bucket, scope: shared, required: false}, {name: out_bucket, scope: shared, required: false},"
    " {name: acl, scope: shared, required: false, default: ''}, {name: sample, scope: job}]",
    "extra_config": "{WORKSPACE_BUCKET: '', JOB_BUCKETS: '', UPLOAD_FLAGS: ''}",
    "command": '["tool", "{input_dir}/{images}/{sample}"]',
    "input_fields": '[{key: pipeline, bucket: config.WORKSPACE_BUCKET}, {key: "{images}/{sample}/", bucket: in_bucket,'
    ' when: in_bucket, matches: "^[a-z]"}, images]',
    "output_prefix": "out/{sample}",
    "output_bucket": "out_bucket",
    "upload_flags": "{config.UPLOAD_FLAGS} --acl={acl} --storage-class STANDARD_IA --metadata-directive REPLACE",
}


def test_bucket_references_and_upload_flags_land_in_the_spec(tmp_path: Path) -> None:
    import json

    dest = render(tmp_path / "out", BUCKET_ANSWERS, source=WORKING_TREE)
    spec = json.loads((dest / "tool" / "spec.json").read_text())
    assert spec["input_fields"] == [
        {"key": "pipeline", "bucket": "config.WORKSPACE_BUCKET"},
        {"key": "{images}/{sample}/", "bucket": "in_bucket", "when": "in_bucket", "matches": "^[a-z]"},
        "images",
    ]
    assert (spec["output_bucket"], spec["upload_flags"]) == ("out_bucket", BUCKET_ANSWERS["upload_flags"])
    from dsgen.render import TEMPLATE_ROOT

    sys.path.insert(0, str(TEMPLATE_ROOT / "template"))
    from ds_runtime.spec import load_spec

    loaded = load_spec(dest / "tool" / "spec.json")  # the runtime accepts what the validators let through
    assert [entry.bucket for entry in loaded.input_fields] == ["config.WORKSPACE_BUCKET", "in_bucket", ""]
