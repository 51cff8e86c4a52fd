"""tool/spec.json as parsed: every key of a tool spec, and what follows from its keys alone.

`ToolSpec` (tool.py) adds the cross-field rules and the per-job view; rules.py and
job_view.py read a document, so neither needs the class that uses them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, field_validator

from .constants import DS_WORKER_CONFIG_KEYS
from .shapes import (
    STRICT,
    ArgGroup,
    Command,
    CommandStep,
    CommandSteps,
    DoneRule,
    FieldSpec,
    InputSpec,
    SplitArg,
    is_template,
    text_of,
)
from .startup import StartupStep


class PlacedStep(NamedTuple):
    """A step of the command with where it is: `items` names its items' place (`{items}[2]`), `where` its own."""

    where: str  # "command" for a single command, else "command.steps[N]"
    items: str  # "command", or "command.steps[N].run"
    step: CommandStep


class SpecDocument(BaseModel):  # BaseModel itself, so that ruff sees a pydantic model (RUF012)
    model_config = STRICT

    tool_name: str
    app_name: str
    docker_image: str
    job_list_key: str = "groups"
    # One argv (a list of items), or {steps: [{run: [...], stdout: "..."}, ...]}: programs in order.
    command: Command
    shared_fields: list[FieldSpec] = []
    job_fields: list[FieldSpec] = []
    # Inputs downloaded to input_dir/<key>: a field name (s3_key or s3_prefix field), or a
    # key template from fields, e.g. "{input_location}/{plate}/" (a trailing / marks a prefix);
    # or an object {key, bucket, when, matches} (InputSpec) for another bucket or a condition.
    input_fields: list[InputSpec] = []
    output_prefix: str
    output_bucket: str = ""  # a bucket reference, as an input's bucket
    # aws-cli upload flags (upload_flags.py), a template of {field} and {config.NAME}.
    upload_flags: str = ""
    done: DoneRule = DoneRule()
    # Output files neither uploaded nor counted (shell-style patterns on the path in the output
    # folder), e.g. DCP's cp.is.done: read by the done rule, then left behind.
    output_exclude: list[str] = []
    # When jobs share one output prefix (DOZC: every plate under output_location), the folder
    # in it that this job alone writes, e.g. "{plate}.ome.zarr": CHECK_IF_DONE_BOOL counts there.
    own_output_folder: str = ""
    needs_fuse: bool = False
    # GPUs each container needs: the task definition asks ECS for them (resourceRequirements), the
    # machines must have TASKS_PER_MACHINE x gpus of them and run the ECS GPU-optimised AMI. 0: none.
    gpus: int = 0
    # An absolute folder at which the tool reads the bucket as a tree (DF's and DCP's
    # /home/ubuntu/bucket): while it runs, the job's inputs appear there under their keys,
    # read-only, and nothing else (worker/bucket_view.py). '' for none.
    bucket_view: str = ""
    # The tool's own config.py keys, beyond DS's; the config loader accepts them.
    config_keys: list[str] = []
    # Their values in the answers: what a config.py without one of them gets (with a note).
    config_defaults: dict[str, Any] = {}
    # Run once per container, in order, before any job is taken (worker/startup.py).
    startup: list[StartupStep] = []

    @field_validator("bucket_view")
    @classmethod
    def _view_is_a_folder(cls, path: str) -> str:
        if path and (not path.startswith("/") or path.rstrip("/") == "" or ".." in path.split("/")):
            raise ValueError(f"bucket_view {path!r} must be an absolute folder, e.g. /home/ubuntu/bucket")
        return path.rstrip("/")

    @field_validator("gpus")
    @classmethod
    def _gpus_are_a_count(cls, gpus: int) -> int:
        if gpus < 0:
            raise ValueError(f"gpus {gpus}: give the GPUs each container needs, 0 for none (e.g. 1 for Cellpose)")
        return gpus

    @field_validator("input_fields", mode="before")
    @classmethod
    def _strings_are_keys(cls, entries: Any) -> Any:
        # The short form: a field name or key template, from AWS_BUCKET, always wanted.
        if isinstance(entries, list):
            return [{"key": e} if isinstance(e, str) else e for e in entries]
        return entries

    @property
    def fields(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in [*self.shared_fields, *self.job_fields]}

    @property
    def config_names(self) -> set[str]:
        """Config keys a command may read: the tool's own and DS's that reach the worker."""
        return set(self.config_keys) | set(DS_WORKER_CONFIG_KEYS)

    def templates(self) -> list[tuple[str, str]]:
        """Every template string in the spec, with where it is, for checking."""
        found = []
        for placed in self.command_steps():
            for i, item in enumerate(placed.step.run):
                args = item.args if isinstance(item, ArgGroup) else [item]
                for j, arg in enumerate(args):
                    where = f"{placed.items}[{i}]" + (f".args[{j}]" if isinstance(item, ArgGroup) else "")
                    found.append((where + (".split" if isinstance(arg, SplitArg) else ""), text_of(arg)))
            if placed.step.stdout:
                found.append((f"{placed.where}.stdout", placed.step.stdout))
        for i, entry in enumerate(self.input_fields):
            if is_template(entry.key):
                found.append((f"input_fields[{i}]", entry.key))
        found.append(("output_prefix", self.output_prefix))
        if self.own_output_folder:
            found.append(("own_output_folder", self.own_output_folder))
        if self.done.required_file:
            found.append(("done.required_file", self.done.required_file))
        if self.upload_flags:
            found.append(("upload_flags", self.upload_flags))
        return found

    def command_steps(self) -> list[PlacedStep]:
        """The programs a job runs, in order: a single command is one step (its items at `command[N]`)."""
        if isinstance(self.command, CommandSteps):
            return [
                PlacedStep(f"command.steps[{i}]", f"command.steps[{i}].run", step)
                for i, step in enumerate(self.command.steps)
            ]
        return [PlacedStep("command", "command", CommandStep.model_construct(run=self.command, stdout=""))]

    def bucket_refs(self) -> list[tuple[str, str]]:
        """(where, bucket reference) of every input, then of the outputs."""
        found = [(f"input_fields[{i}].bucket", entry.bucket) for i, entry in enumerate(self.input_fields)]
        found += [
            (f"input_fields[{i}].lists_files.bucket", entry.lists_files.bucket)
            for i, entry in enumerate(self.input_fields)
            if entry.lists_files
        ]
        return [*found, ("output_bucket", self.output_bucket)]

    @property
    def row_matched_fields(self) -> set[str]:
        """Mapping fields whose keys pick an input list's rows as CellProfiler's -g picks them (an input's
        lists_files.rows_matching): their values are compared as metadata_values.py types them."""
        return {e.lists_files.rows_matching for e in self.input_fields if e.lists_files and e.lists_files.rows_matching}

    def is_mapping_key(self, name: str) -> bool:
        """`field.key`: one key of a mapping field (placeholders.lookup)."""
        head, dot, key = name.partition(".")
        return bool(dot and key) and head in self.fields and self.fields[head].type == "mapping"
