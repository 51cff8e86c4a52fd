"""Names the tool spec reserves or recognises: field types, built-in placeholders, config keys."""

from __future__ import annotations

import re
from typing import Literal

FieldType = Literal["string", "integer", "number", "boolean", "s3_key", "s3_prefix", "mapping"]

# Placeholders the worker fills in itself, whatever the job's fields are.
BUILTIN_PLACEHOLDERS: dict[str, str] = {
    "input_dir": "the job's local input folder (downloaded inputs land here)",
    "output_dir": "the job's local output folder (uploaded to the output prefix)",
    "work_dir": "the job's private working folder (parent of input_dir and output_dir)",
    "job_id": "the job's stable id, derived from its content",
    "group": "all of this job's own fields, as a mapping",
}
# The built-ins that are local folders: only the command, which runs beside them, may use them.
LOCAL_FOLDERS = ("input_dir", "output_dir", "work_dir")
# The built-ins that differ from job to job, as job fields do.
PER_JOB_BUILTINS = ("job_id", "group")

# `{config.NAME}` in a command reads the tool's config key NAME, which the worker
# receives as an environment variable of that name (`run.py setup` puts it there).
CONFIG_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# DS's own config.py keys that reach the worker's environment under the same name.
DS_WORKER_CONFIG_KEYS = (
    "APP_NAME",
    "AWS_BUCKET",
    "AWS_REGION",
    "LOG_GROUP_NAME",
    "SQS_MESSAGE_VISIBILITY",
    "CHECK_IF_DONE_BOOL",
    "EXPECTED_NUMBER_FILES",
    "MIN_FILE_SIZE_BYTES",
    "NECESSARY_STRING",
    "DOCKER_CORES",
    "SECONDS_TO_START",
)

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
JOB_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

# What a startup step may fetch from: the web, or S3 with the worker's own role.
URL_SCHEMES = ("http://", "https://", "s3://")
