"""Every bad answer is refused with a message naming its question and the fix, and nothing is written.

One validator per rule: copier.yml checks single answers' shapes inline; every rule across answers is
the runtime's, which `dsgen new` runs on the render before writing it (dsgen/runtime_check.py) and a
plain `copier copy` user runs as `python run.py check`: both print the same words.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from dsgen.render import TEMPLATE_ROOT, AnswerError, render
from dsgen.runtime_check import EXAMPLE_JOB_FILE, printed_problems, question_of
from dsgen.source import WORKING_TREE

# (question, bad answer, words the message must contain)
BAD_ANSWERS = [
    ("tool_name", "1Tool", "letters and digits"),
    ("tool_name", "My Tool", "letters and digits"),
    ("docker_image", "Not An Image", "not an image reference"),
    ("job_list_key", "my-jobs", "letters, digits and _"),
    ("fields", "{name: x}", "must be a YAML list"),
    ("fields", "[{name: 9lives, scope: job}]", "job_fields.0.name: field name '9lives' must start with a letter and"),
    ("fields", "[{name: a, scope: job}, {name: a, scope: shared}]", "declared twice"),
    ("fields", "[{name: job_id, scope: job}]", "reserved"),
    ("fields", "[{name: groups, scope: shared}]", "reserved"),
    ("fields", "[{name: a}]", "must be a YAML list of fields, each a mapping with a name and a"),
    (
        "fields",
        "[{name: a, scope: job, type: float}]",
        "job_fields.0.type: Input should be 'string', 'integer', 'number',",
    ),
    ("fields", "[{name: a, scope: job, colour: red}]", "job_fields.0.colour: Extra inputs are not permitted"),
    ("fields", "[{name: a, scope: job, aliases: a-b}]", "job_fields.0.aliases: Input should be a valid list"),
    (
        "fields",
        "[{name: a, scope: job, aliases: [a b]}]",
        "job_fields.0.aliases: alias 'a b' must hold only letters, digits, _",
    ),
    (
        "fields",
        "[{name: a, scope: job}, {name: b, scope: job, aliases: [a]}]",
        "fields declared twice (as a name or an alias): a; keep one of each",
    ),
    ("command", '"echo hello"', "command: the command is a list of arguments, or {steps: [{run: [...]}, ...]}"),
    ("command", "[sh, -c, 'echo {sample}']", "command[2]: the script that sh -c runs holds {sample}, where a value"),
    ("command", "[bash, -c, 'cat {sample}']", "Pass the value as an argument after the script (bash -c '..."),
    ("command", "[python3, -c, 'print(\"{sample}\")']", "command[2]: the script that python3 -c runs holds {sample}"),
    (
        "command",
        "{steps: [{run: [echo]}, {run: [sh, -c, 'echo {sample}']}]}",
        "command.steps[1].run[2]: the script that sh -c runs holds {sample}",
    ),
    (
        "command",
        "{steps: [{run: [echo, '{sample}'], stdout: /tmp/out.txt}]}",
        "command.steps[0].stdout '/tmp/out.txt' must name a file in the job's folders: under {output_dir}",
    ),
    ("command", "{steps: []}", "command.steps: List should have at least 1 item after validation, not 0"),
    ("command", "{steps: [{run: [echo], to: x}]}", "command.steps.0.to: Extra inputs are not permitted"),
    ("command", "[]", "command: List should have at least 1 item after validation, not 0"),
    ("command", '["echo", "{nope}"]', "command[1] uses {nope}, which is neither a declared field nor a"),
    ("command", '["echo", "{sample|upper}"]', "command[1]: unknown filter |upper; known: kv, pairs, values,"),
    ("command", "[echo, 3]", 'command.1: a command item is text, {split: "<template>"} (its words'),
    ("command", "[echo, {when: nope, args: [x]}]", "command[1] 'when: nope' names no declared field"),
    ("command", "[echo, {when: sample}]", "command.1.when.args: Field required"),
    ("command", '[echo, "{config.NOPE}"]', "NOPE is not a config key"),
    ("command", "[echo, {when: config.NOPE, args: [x]}]", "NOPE is not a config key"),
    ("command", "[echo, {when: [sample], args: [x]}]", "command.1.when.when: Input should be a valid string"),
    (
        "command",
        "[echo, {when: sample, matches: 3, args: [x]}]",
        "command.1.when.matches: Input should be a valid string",
    ),
    (
        "command",
        '[echo, {split: "{sample}", when: sample}]',
        'command.1: a command item is text, {split: "<template>"} (its words',
    ),
    ("command", "[echo, {split: [a, b]}]", "command.1.split.split: Input should be a valid string"),
    ("command", '[echo, {split: "{nope}"}]', "command[1].split uses {nope}, which is neither a declared field nor a"),
    (
        "command",
        "[echo, {when: sample, args: [{split: 3}]}]",
        "command.1.when.args.0.split.split: Input should be a valid string",
    ),
    ("command", '[echo, {when: sample, args: [{split: "{config.NOPE}"}]}]', "NOPE is not a config key"),
    ("gpus", "-1", "gpus: gpus -1: give the GPUs each container needs, 0 for none"),
    ("bucket_view", "home/ubuntu/bucket", "must be an absolute folder"),
    ("bucket_view", "/", "must be an absolute folder"),
    ("bucket_view", "/home/../etc", "must be an absolute folder"),
    ("input_fields", "[sample]", "input_fields[0]: input field 'sample' must be a declared field of"),
    ("input_fields", '["{input_dir}/x"]', "input_fields[0] cannot use the local folder {input_dir}; it is"),
    ("input_fields", '["{config.AWS_BUCKET}/x"]', "input_fields[0] cannot use {config.AWS_BUCKET}: config keys may"),
    ("input_fields", '["../{sample}/"]', "input_fields[0] '../x/' contains a '.' or '..' segment"),
    ("input_fields", '["/{sample}"]', "input_fields[0] '/x' is absolute; give a key relative to the bucket"),
    ("input_fields", '["{sample|upper}/"]', "input_fields[0]: unknown filter |upper; known: kv, pairs, values,"),
    ("input_fields", "[[input]]", "input_fields.0: Input should be a valid dictionary or instance of"),
    (
        "input_fields",
        "[{key: input, lists_files: {path_root: relative}}]",
        "input_fields.0.lists_files.path_root: path_root 'relative' must be an",
    ),
    (
        "input_fields",
        "[{key: input, lists_files: {path_root: /r, rows_matching: sample}}]",
        "input_fields[0].lists_files: a list is one file, not a prefix; name",
    ),
    ("input_fields", "[{key: input, lists_files: {path_root: /r, bucket: config.NOPE}}]", "lists_files.bucket"),
    ("input_fields", "[{key: input, colour: red}]", "input_fields.0.colour: Extra inputs are not permitted"),
    ("input_fields", "[{bucket: sample}]", "input_fields.0.key: Field required"),
    (
        "input_fields",
        "[{key: input, bucket: config.NOPE}]",
        "input_fields[0].bucket 'config.NOPE': NOPE is not a config key of",
    ),
    (
        "input_fields",
        "[{key: input, bucket: config.JOB_BUCKETS}]",
        "input_fields[0].bucket 'config.JOB_BUCKETS': JOB_BUCKETS lists",
    ),
    (
        "input_fields",
        "[{key: input, bucket: output}]",
        "input_fields[0].bucket 'output' is a field of type s3_prefix; a",
    ),
    (
        "input_fields",
        "[{key: input, bucket: sample}]",
        "input_fields[0].bucket names a field, so jobs choose buckets: add",
    ),
    ("input_fields", "[{key: input, when: nope}]", "input_fields[0] 'when: nope' names no declared field"),
    ("input_fields", "[{key: input, when: config.NOPE}]", "NOPE is not a config key"),
    ("input_fields", "[{key: input, matches: x}]", "needs when"),
    ("input_fields", "[{key: sample}]", "input_fields[0]: input field 'sample' must be a declared field of"),
    ("output_prefix", "/abs/{job_id}", "groups[0]: output_prefix: output prefix '/abs/0000000000000000' has"),
    ("output_prefix", "{output}/../{job_id}", "groups[0]: output_prefix: output prefix 'outputs/../0000000000000000'"),
    ("output_prefix", "{output_dir}", "output_prefix cannot use the local folder {output_dir}; it is"),
    ("output_prefix", "", "groups[0]: output_prefix: output prefix is empty for this job"),
    ("output_prefix", "{output}/{sample|lower}", "output_prefix: unknown filter |lower; known: kv, pairs, values,"),
    ("output_prefix", "{output}/{sample|layout}", "output_prefix: filter |layout needs a field: |layout:<field>"),
    (
        "output_prefix",
        "{output}/{sample|layout:nope}",
        "output_prefix: filter |layout:nope names 'nope', which is not a",
    ),
    (
        "command",
        '["echo", "{sample|layout:nope}"]',
        "command[1]: filter |layout:nope names 'nope', which is not a declared",
    ),
    ("input_fields", '["{sample|layout}/"]', "input_fields[0]: filter |layout needs a field: |layout:<field>"),
    ("output_exclude", "cp.is.done", "output_exclude: Input should be a valid list"),
    ("output_exclude", '["../x"]', "output_exclude[0] '../x': give a pattern inside the output folder,"),
    ("output_exclude", "[3]", "output_exclude.0: Input should be a valid string"),
    ("own_output_folder", "{nope}.zarr", "own_output_folder uses {nope}, which is neither a declared field nor"),
    ("own_output_folder", "../{sample}", "groups[0]: own_output_folder: own output folder '../sample-1'"),
    ("output_bucket", "config.NOPE", "output_bucket 'config.NOPE': NOPE is not a config key of this tool"),
    ("output_bucket", "output", "output_bucket 'output' is a field of type s3_prefix; a bucket field"),
    ("output_bucket", "sample", "output_bucket names a field, so jobs choose buckets: add JOB_BUCKETS"),
    ("upload_flags", "--acl private --recursive", "upload_flags: --recursive unknown; supported: --acl, --sse,"),
    ("upload_flags", "--acl={nope}", "upload_flags uses {nope}, which is neither a declared field nor a"),
    ("upload_flags", "{config.NOPE}", "NOPE is not a config key"),
    ("upload_flags", "{sample|upper}", "upload_flags: unknown filter |upper; known: kv, pairs, values,"),
    ("done_min_files", "-1", "0 or more"),
    ("done_min_files", "config.NOPE", "done.min_files 'config.NOPE' must be a number or config.NAME of a"),
    ("done_min_files", "lots", "use a whole number"),
    ("done_required_file", "{nope}.txt", "done.required_file uses {nope}, which is neither a declared field nor"),
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
    ("extra_config_help", '{FLAG: "two\\nlines"}', "must be a YAML mapping of config key to one line of help, e.g."),
    ("example_jobs", "[{nope: 1}]", "groups[0]: nope: unknown field; declared as a key of each job:"),
    ("startup", "{run: [x]}", "startup: Input should be a valid list"),
    ("startup", "[{into: /x}]", "startup.0: a startup step is {fetch: URL, into: /folder} or {run:"),
    ("startup", "[{fetch: https://h.test/a.py, run: [x]}]", "startup.0.fetch.into: Field required"),
    ("startup", "[{fetch: https://h.test/a.py}]", "startup.0.fetch.into: Field required"),
    ("startup", "[{fetch: ftp://h.test/a.py, into: /x}]", "must be an http://, https:// or s3:// URL"),
    ("startup", "[{fetch: https://h.test/a.py, into: x/y}]", "must be an absolute folder"),
    ("startup", "[{run: [x], cwd: rel}]", "must be an absolute folder"),
    ("startup", "[{run: []}]", "startup.0.run.run: List should have at least 1 item after validation,"),
    ("startup", "[{run: [x, 3]}]", 'startup.0.run.run.1: an argument is text or {split: "<template>"}'),
    ("startup", "[{run: [x], timeout: 3}]", "startup.0.run.timeout: Extra inputs are not permitted"),
    ("startup", "[{run: [x], when: sample}]", "may test config.NAME only"),
    ("startup", "[{run: [x], when: config.NOPE}]", "NOPE is not a config key"),
    ("startup", "[{run: [x], matches: y}]", "startup.0.run: matches needs when: the field or config.NAME whose"),
    ("startup", '[{run: [x, "{sample}"]}]', "may use {config.NAME} only"),
    ("startup", '[{run: [x, "{output_dir}"]}]', "may use {config.NAME} only"),
    ("startup", '[{run: [x, {split: "{config.NOPE}"}]}]', "NOPE is not a config key"),
    (
        "startup",
        '[{run: [x], cwd: "{config.AWS_BUCKET|upper}"}]',
        "startup[0]: cwd: unknown filter |upper; known: kv, pairs, values,",
    ),
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


# Bad answers only the runtime checks (a rule of the spec, of a job, of a Job file): a plain copier render
# (no dsgen) of each is refused by the render's own `run.py check` in the words `dsgen new` shows.
_PLAIN = {
    ("command", '["echo", "{nope}"]'),
    ("input_fields", "[sample]"),
    ("output_prefix", ""),
    ("example_jobs", "[{nope: 1}]"),
}
PLAIN_COPIER_CASES = {q: (a, m) for q, a, m in BAD_ANSWERS if (q, a) in _PLAIN}


@pytest.mark.slow
@pytest.mark.parametrize("question", sorted(PLAIN_COPIER_CASES))
def test_a_plain_copier_render_gets_the_same_refusal_from_run_py_check(tmp_path: Path, question: str) -> None:
    answer, message = PLAIN_COPIER_CASES[question]
    dest = tmp_path / "plain"
    with WORKING_TREE.checkout() as template:  # copier.yml and template/ as a folder: copier copies it whole
        copier.run_copy(template.path, dest, data={question: answer}, defaults=True, quiet=True)
    done = subprocess.run(
        [sys.executable, "run.py", "check", str(EXAMPLE_JOB_FILE)], cwd=dest, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stdout
    assert question in {question_of(problem) for problem in printed_problems(done.stdout)}


def test_unknown_question_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnswerError, match="unknown question"):
        render(tmp_path / "out", {"tool_nmae": "Fiji"}, source=WORKING_TREE)


def test_non_empty_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(AnswerError, match="not empty"):
        render(tmp_path, {}, source=WORKING_TREE)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_every_question_has_help_and_a_bad_answer_case() -> None:
    """A new question needs help text and a line in BAD_ANSWERS (or a reason it needs none)."""
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    asked = {k: v for k, v in config.items() if not k.startswith("_") and v.get("when") is not False}
    free_text = {"tool_description", "done_required_content", "needs_fuse"}  # any value is acceptable
    for name, question in asked.items():
        assert question.get("help"), f"question {name} has no help text"
        if name not in free_text:
            assert any(q == name for q, _, _ in BAD_ANSWERS), f"no bad-answer test for {name}"


def test_every_help_line_reads_whole_at_80_columns() -> None:
    """copier shows a question's help as its prompt, after a 2-column mark: a longer line is cut at 80."""
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    too_long = [
        (name, line)
        for name, question in config.items()
        if isinstance(question, dict)
        for line in question.get("help", "").splitlines()
        if len(line) > 76
    ]
    assert not too_long


@pytest.mark.parametrize(("extra_config", "asked"), [({}, False), ({"MODEL": "cyto2"}, True)])
def test_the_meaning_of_config_keys_is_asked_only_when_there_are_keys(
    tmp_path: Path, extra_config: dict, asked: bool
) -> None:
    data = {"extra_config": extra_config}
    copier.run_copy(str(TEMPLATE_ROOT), str(tmp_path), data=data, defaults=True, vcs_ref="HEAD", quiet=True)
    assert ("extra_config_help" in yaml.safe_load((tmp_path / ".copier-answers.yml").read_text())) == asked


def test_copier_yml_keeps_only_inline_shape_checks() -> None:
    """Validators are short and read no macro library: the runtime holds every rule across answers."""
    text = (TEMPLATE_ROOT / "copier.yml").read_text()
    assert "{% from" not in text and "{%- from" not in text and "import" not in text
    config = yaml.safe_load(text)
    long = [k for k, v in config.items() if isinstance(v, dict) and len(v.get("validator", "")) > 700]
    assert not long, f"validators too long to read inline: {long}"


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


def test_steps_and_a_script_reading_its_values_as_arguments_are_accepted(tmp_path: Path) -> None:
    """The two fixes the injection refusal names both render, as written."""
    import json

    steps = (
        "{steps: [{run: [sort, '{input_dir}/{sample}'], stdout: '{work_dir}/sorted.txt'},"
        " {run: [sh, -c, 'uniq -c \"$1\" > \"$2\"', sh, '{work_dir}/sorted.txt', '{output_dir}/{sample}.txt']}]}"
    )
    dest = render(tmp_path / "out", {"command": steps}, source=WORKING_TREE)
    spec = json.loads((dest / "tool" / "spec.json").read_text())
    assert spec["command"]["steps"][0] == {"run": ["sort", "{input_dir}/{sample}"], "stdout": "{work_dir}/sorted.txt"}
    assert spec["command"]["steps"][1]["run"][3:] == ["sh", "{work_dir}/sorted.txt", "{output_dir}/{sample}.txt"]
    readme = (dest / "README.md").read_text()
    assert '    {"run": ["sort", "{input_dir}/{sample}"], "stdout": "{work_dir}/sorted.txt"}\n' in readme


BUCKET_ANSWERS = {
    "fields": "[{name: images, scope: shared, type: s3_prefix}, {name: pipeline, scope: shared, type: s3_key},"
    " {name: in_bucket, scope: shared, required: false}, {name: out_bucket, scope: shared, required: false},"
    " {name: acl, scope: shared, required: false, default: private}, {name: sample, scope: job}]",
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
    sys.path.insert(0, str(TEMPLATE_ROOT / "template"))
    from ds_runtime.spec import load_spec

    loaded = load_spec(dest / "tool" / "spec.json")  # the runtime accepts what the validators let through
    assert [entry.bucket for entry in loaded.input_fields] == ["config.WORKSPACE_BUCKET", "in_bucket", ""]


def test_the_command_is_shown_in_the_readme_and_docs_as_written(tmp_path: Path) -> None:
    """JSON for the eye, not for HTML: `&&`, `>` and `'` stay as the developer typed them (not \\u0026)."""
    command = '["tool", "--expr", "a>b && c<d", "--name=it\'s", "{sample}"]'
    dest = render(tmp_path / "out", {"command": command}, source=WORKING_TREE)
    shown = '["tool", "--expr", "a>b && c<d", "--name=it\'s", "{sample}"]'
    for page in ("README.md", "docs/tool.md"):
        text = (dest / page).read_text()
        assert shown in text, page
        assert "\\u00" not in text, page
