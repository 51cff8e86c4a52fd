"""One job's view of the tool spec: its programs' argv, inputs, output keys, upload flags and done rule.

`ToolSpec.for_job(values, job_id, config)` makes one; every method then reads the same
checked values, id and config. `config` holds the tool's config keys as the worker's
environment has them; None (a check before submitting) reads every config key as empty.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..keys import S3_MAX_KEY_BYTES, join_key, local_path, safe_key
from ..placeholders import config_name, lookup, placeholders, render
from .arguments import config_value, expand_args
from .constants import PER_JOB_BUILTINS
from .document import SpecDocument
from .shapes import ArgGroup, Input, ToolStep, is_template


@dataclass(frozen=True)
class JobView:
    spec: SpecDocument
    values: Mapping[str, Any]
    job_id: str
    config: Mapping[str, str] | None = None

    def group(self) -> dict[str, Any]:
        """The job's own fields that have a value (the `{group}` placeholder, the log stream's name)."""
        return {f.name: self.values[f.name] for f in self.spec.job_fields if self.values.get(f.name) is not None}

    def _fill(self, **folders: str) -> dict[str, Any]:
        # A prefix reads as a folder: `{prefix}/{name}` joins without a double slash.
        prefixes = {name for name, f in self.spec.fields.items() if f.type == "s3_prefix"}
        shown = {k: v.rstrip("/") if k in prefixes and isinstance(v, str) else v for k, v in self.values.items()}
        return {**shown, "job_id": self.job_id, "group": self.group(), **folders}

    def inputs(self) -> list[Input]:
        """Every input this job downloads, in spec order, with its bucket reference.

        An entry is skipped when its condition does not hold (config None: config keys
        read as empty), a field entry when the field has no value, and a template entry
        when any field (or mapping key, `{field.key}`) it names has none.
        """
        spec, values, fields = self.spec, self.values, self.spec.fields
        found: list[Input] = []
        for entry in spec.input_fields:
            if not entry.holds(values, self.config):
                continue
            if not is_template(entry.key):
                if values.get(entry.key):
                    is_prefix = fields[entry.key].type == "s3_prefix"
                    found.append(Input(values[entry.key], is_prefix, entry.bucket, entry.lists_files))
                continue
            if any(_given(values, name.strip()) in (None, "", {}) for name, _ in placeholders(entry.key)):
                continue
            key = render(entry.key, self._fill())
            if spec.bucket_view and key.startswith(spec.bucket_view + "/"):
                key = key[len(spec.bucket_view) + 1 :]  # DF writes inputs as paths under the view
            key = safe_key(key, what=f"input {entry.key!r}")
            if not key.rstrip("/"):
                raise ValueError(f"input {entry.key!r} is empty for this job")
            found.append(Input(key, entry.key.endswith("/"), entry.bucket, entry.lists_files))
        return found

    def steps(self, work_dir: str, input_dir: str, output_dir: str) -> list[ToolStep]:
        """The programs the job runs, in order (a single command is one): each one's argv, one template
        item one argument (a `split` item: as many as its words), and its stdout file ('' for the log).

        Input fields stand for where the worker downloaded them: `input_dir/<key>`. A stdout file
        outside `work_dir` (a value holding `..` or a leading /) is refused.
        """
        spec, values = self.spec, self.values
        env = self._fill(work_dir=work_dir, input_dir=input_dir, output_dir=output_dir)
        for entry in spec.input_fields:
            if not is_template(entry.key) and values.get(entry.key):
                env[entry.key] = local_path(input_dir, values[entry.key])
        for where, template in spec.templates():
            if where.startswith("command"):
                for name, _ in placeholders(template):
                    key = config_name(name)
                    if key is not None:
                        env[name.strip()] = config_value(self.config, key)
        found = []
        for placed in spec.command_steps():
            argv: list[str] = []
            for index, item in enumerate(placed.step.run):
                where = f"{placed.items}[{index}]"
                if isinstance(item, ArgGroup):
                    if item.holds(values, self.config):
                        argv.extend(expand_args(item.args, env, where))
                else:
                    argv.extend(expand_args([item], env, where))
            stdout = placed.step.stdout and _inside(work_dir, render(placed.step.stdout, env), f"{placed.where}.stdout")
            found.append(ToolStep(argv, stdout))
        return found

    def upload_text(self) -> str:
        """The job's upload flags as text: upload_flags with its fields and config keys filled in
        (a field without a value as empty text), for upload_flags.parse_upload_flags."""
        env = {k: "" if v is None else v for k, v in self._fill().items()}
        for name, _ in placeholders(self.spec.upload_flags):
            key = config_name(name)
            if key is not None:
                env[name.strip()] = config_value(self.config, key)
        return render(self.spec.upload_flags, env)

    def min_files(self) -> int:
        """The done rule's least number of output files, read from config if it names a key."""
        minimum = self.spec.done.min_files
        if isinstance(minimum, int):
            return minimum
        key = config_name(minimum) or minimum
        text = config_value(self.config, key).strip()
        if not re.fullmatch(r"\d+", text):
            raise ValueError(f"config {key}={text!r} is not a whole number (done rule: at least that many files)")
        return int(text)

    def required_file(self) -> str:
        """The done rule's file for this job, relative to its output folder ('' if none)."""
        if not self.spec.done.required_file:
            return ""
        return safe_key(render(self.spec.done.required_file, self._fill()), what="required file")

    def output_key(self) -> str:
        """The job's S3 output prefix (no trailing slash), refused if it would escape."""
        return self._folder(self.spec.output_prefix, "output prefix")

    def output_root(self) -> str:
        """The part of the output prefix that names no job field (nor {job_id}, {group}): its leading
        segments, rendered, with no trailing slash; '' when its first segment names one (the bucket's root).
        Every job of a Job file whose outputs share this folder writes below it (the task role's grant)."""
        per_job = {f.name for f in self.spec.job_fields} | set(PER_JOB_BUILTINS)
        shared: list[str] = []
        for segment in self.spec.output_prefix.split("/"):
            if any(name.strip().partition(".")[0] in per_job for name, _ in placeholders(segment)):
                break
            shared.append(segment)
        rendered = render("/".join(shared), self._fill()) if shared else ""
        return safe_key(rendered, what="output prefix").rstrip("/") if rendered.strip("/") else ""

    def own_output_key(self) -> str:
        """Where this job's outputs alone are (no trailing slash): its output prefix, or own_output_folder in it."""
        prefix = self.output_key()
        if not self.spec.own_output_folder:
            return prefix
        return join_key(prefix, self._folder(self.spec.own_output_folder, "own output folder")).rstrip("/")

    def _folder(self, template: str, what: str) -> str:
        """A folder key from a template, refused if it escapes or if a part of it is empty for this job.

        An empty part (`out//x`, `out/` from `{output}/{sample}`) would make the job's folder
        another's, or the shared prefix itself: CHECK_IF_DONE_BOOL would then count files
        that other jobs wrote and skip a job that never ran.
        """
        rendered = render(template, self._fill())
        parts = rendered[:-1].split("/") if template.endswith("/") else rendered.split("/")
        if rendered and "" in parts:
            raise ValueError(f"{what} {rendered!r} has an empty part for this job ({template!r}); give it a value")
        key = safe_key(rendered, what=what).rstrip("/")
        if not key:
            raise ValueError(f"{what} is empty for this job")
        size = len(key.encode())
        if size + 2 > S3_MAX_KEY_BYTES:  # no room left for `/<file>` under it
            raise ValueError(f"{what} is {size} bytes; S3 keys under it would pass {S3_MAX_KEY_BYTES}")
        return key


def _inside(folder: str, path: str, what: str) -> str:
    """`path` (relative to `folder`, or absolute) as an absolute path, refused unless it names a file in `folder`."""
    full = posixpath.normpath(posixpath.join(folder, path))
    if not full.startswith(folder.rstrip("/") + "/"):
        raise ValueError(f"{what} {path!r} is outside the job's folder; write it under {{output_dir}} or {{work_dir}}")
    return full


def _given(values: Mapping[str, Any], name: str) -> Any:
    """A field's value, or one key's of a mapping field; None when there is none."""
    try:
        return lookup(values, name)
    except (KeyError, ValueError):
        return None
