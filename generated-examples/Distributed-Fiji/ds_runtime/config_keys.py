"""Every config.py key of the DS family (DS, DCP, DF, DOZC) and what this repository does with it.

One entry per key: its default when a user's config.py lacks it (and whose default that
is), what it means in the originals, and what happens to it here. The config loader
(config.py) fills defaults and writes its notes from this table; docs can be generated
from it (`key_table_markdown`). To add a key, add one `Key` here (and, for a DS key with
a type, a field to config.DSConfig).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Derived:
    """A default computed from other keys, as DS's own config.py writes it (e.g. APP_NAME + 'Queue')."""

    text: str
    compute: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Key:
    name: str
    meaning: str  # what the key means in the originals
    use: str  # what the generated repository does with it
    default: Any = None  # used when config.py lacks the key; REQUIRED: it must be there
    origin: str = "DS"  # whose default: DS, DCP or dsgen
    replaced_by: str = ""  # a legacy key: read as this key when config.py lacks that one
    translate: Callable[[Any], Any] | None = None  # legacy value -> value of `replaced_by`

    def default_text(self) -> str:
        return self.default.text if isinstance(self.default, Derived) else repr(self.default)


REQUIRED = object()  # no default can work: config.py must set it
TOOL = "a key of this tool (tool/spec.json config_keys): "
NOT_HERE = "ignored with a note by tools that do not declare it"


def _whole_number(value: Any) -> int:
    if type(value) is not int:  # a wrong DOCKER_CORES is reported for itself, not multiplied
        raise TypeError(f"{value!r} is not a whole number")
    return value


def _requirements_file(value: Any) -> Any:
    # DCP before 2.1 ran `pip install -r REQUIREMENTS_FILE` in CellProfiler-plugins.
    return f"-r {value}" if isinstance(value, str) and value.strip() else ""


# The DS keys, typed by config.DSConfig, in config.py's order.
DS_KEYS: tuple[Key, ...] = (
    Key("APP_NAME", "names the queue, service, task, logs, alarms and dashboard", "the same", REQUIRED),
    Key(
        "DOCKERHUB_TAG",
        "the worker image",
        "the ECS task's image (buildImage tags it); setup pins it to its digest, or give `repo@sha256:...`",
        REQUIRED,
    ),
    Key("AWS_REGION", "the region everything runs in", "every AWS client's region", "us-east-1"),
    Key(
        "AWS_PROFILE",
        "the AWS CLI profile whose keys DS copied into the task definition",
        "the profile of every AWS client; 'default' missing from ~/.aws falls back to the default "
        "credential chain with a note; never copied into AWS (containers get a task role)",
        "default",
    ),
    Key(
        "SSH_KEY_NAME",
        "the key pair file in ~/.ssh (DS reads it nowhere)",
        "the Fleet file's KeyName, only when it names a key pair that exists in AWS_REGION",
        "",
        "dsgen",
    ),
    Key("AWS_BUCKET", "the bucket of inputs, outputs and logs", "the same; exported logs go here", REQUIRED),
    Key("ECS_CLUSTER", "the ECS cluster", "the same; a cluster other than 'default' is removed when unused", "default"),
    Key("CLUSTER_MACHINES", "machines in the spot fleet", "the EC2 Fleet's TotalTargetCapacity", 3),
    Key("TASKS_PER_MACHINE", "containers per machine", "service tasks = CLUSTER_MACHINES x this", 1),
    Key(
        "MACHINE_TYPE",
        "EC2 instance types (a list; one string in old configs)",
        "one launch specification per type; `check` and startCluster refuse each type that cannot hold "
        "TASKS_PER_MACHINE containers of CPU_SHARES and MEMORY (1024 units per vCPU; its memory less 5% "
        "for the system and the ECS agent), as ECS would place no task there and the machine would bill idle",
        ["m4.xlarge"],
    ),
    Key(
        "MACHINE_PRICE", "the spot bid per machine-hour", "every fleet override's MaxPrice and the cost estimate", 0.10
    ),
    Key("EBS_VOL_SIZE", "disk per machine in GB (at least 22)", "the last volume of each launch specification", 30),
    Key(
        "ASSIGN_IP",
        "'False' removes the public IP the Fleet file asks for; 'True' keeps the Fleet file's choice",
        "the same",
        True,
        "DCP",
    ),
    Key("DOCKER_CORES", "worker processes per container", "the same", 4),
    Key(
        "CPU_SHARES",
        "CPU units per container (1024 = 1 core)",
        "the task definition's cpu",
        Derived("DOCKER_CORES * 1024", lambda v: _whole_number(v["DOCKER_CORES"]) * 1024),
    ),
    Key(
        "MEMORY",
        "memory per container in MB",
        "the task definition's memory (MiB); TASKS_PER_MACHINE of them must fit each MACHINE_TYPE",
        15000,
    ),
    Key("SECONDS_TO_START", "seconds between starting each worker process", "the same", 3 * 60),
    Key(
        "SQS_QUEUE_NAME",
        "the job queue",
        "the same",
        Derived("APP_NAME + 'Queue'", lambda v: f"{v['APP_NAME']}Queue"),
    ),
    Key("SQS_MESSAGE_VISIBILITY", "seconds a job is hidden while it runs", "the queue's visibility timeout", 60),
    Key(
        "SQS_DEAD_LETTER_QUEUE",
        "where failed jobs go: a queue name or ARN (DCP keeps the name after the last ':')",
        "the same, name or ARN; never deleted while another queue still sends failed jobs to it",
        Derived("APP_NAME + 'DeadMessages'", lambda v: f"{v['APP_NAME']}DeadMessages"),
        "dsgen",
    ),
    Key(
        "JOB_RETRIES",
        "tries before a job is dead-lettered (DS: always 10)",
        "the queue's maxReceiveCount",
        10,
    ),
    Key(
        "LOG_GROUP_NAME",
        "the jobs' CloudWatch log group; DS sends container output to LOG_GROUP_NAME + '_perInstance'",
        "the same: jobs' logs here, the containers' own output in the _perInstance group",
        Derived("APP_NAME", lambda v: v["APP_NAME"]),
    ),
    Key("AUTO_MONITOR", "a Lambda tears down when the queue is empty", "the same, and checks the caps", False),
    Key("CREATE_DASHBOARD", "a CloudWatch dashboard of the run", "the same", False),
    Key("CLEAN_DASHBOARD", "remove the dashboard at the end", "the same", False),
    Key(
        "CHECK_IF_DONE_BOOL",
        "skip a job whose outputs are already there",
        "skip a job whose last attempt finished with the same image, command, tool spec and input versions"
        " (its outcome record's fingerprint) and whose outputs are still there; any change runs it again and"
        " replaces its outputs. A job last finished by a version before provenance: DS's file rule"
        " (EXPECTED_NUMBER_FILES ...). submitJob says first how many will be skipped (docs/resume.md)",
        False,
    ),
    Key("EXPECTED_NUMBER_FILES", "output files that make a job done", "the same", 7),
    Key("MIN_FILE_SIZE_BYTES", "bytes an output file needs to count", "the same", 1),
    Key("NECESSARY_STRING", "text an output file's name needs to count", "the same", ""),
    Key("MAX_COST", "(not in DS)", "dollars after which the run is torn down; 0 = no cap", 0, "dsgen"),
    Key("MAX_HOURS", "(not in DS)", "hours after which the run is torn down; 0 = no cap", 0, "dsgen"),
    Key(
        "MACHINE_IDLE_SECONDS",
        "(not in DS: monitor shrinks the fleet to the jobs in flight at minutes ending in 9)",
        "a machine running no job this long, while none waits, is released (never a busy one)",
        120,
        "dsgen",
    ),
    Key(
        "JOB_TIMEOUT",
        "(not in DS: a hung tool holds its machine until the visibility heartbeat stops)",
        "seconds a job may run; past it the job is stopped and counts as a failure; None = no limit",
        None,
        "dsgen",
    ),
    Key(
        "ON_DEMAND_AFTER_INTERRUPTIONS",
        "(not in DS: the fleet is spot only)",
        "after this many interrupted jobs in the run, or once the fleet reports a spot capacity error, "
        "`monitor` has the fleet start on-demand machines for the spot ones missing (never more than asked for); "
        "0 = never",
        0,
        "dsgen",
    ),
)

# Keys of DCP, DF and DOZC beyond DS's. A tool that declares one (its answers' extra_config)
# gets it in the worker's environment, with the tool's default when config.py lacks it.
FAMILY_KEYS: tuple[Key, ...] = (
    Key("SOURCE_BUCKET", "DCP: the images' bucket", TOOL + "read inputs from it ('' = AWS_BUCKET); " + NOT_HERE),
    Key(
        "WORKSPACE_BUCKET",
        "DCP: the pipeline's and CSVs' bucket",
        TOOL + "read those from it ('' = AWS_BUCKET); " + NOT_HERE,
    ),
    Key("DESTINATION_BUCKET", "DCP: the outputs' bucket", TOOL + "outputs go there ('' = AWS_BUCKET); " + NOT_HERE),
    Key("UPLOAD_FLAGS", "DCP: aws-cli flags for uploads", TOOL + "checked, then applied to uploads; " + NOT_HERE),
    Key(
        "DOWNLOAD_FILES",
        "DCP, DF: download inputs instead of an s3fs mount",
        TOOL + "download only listed files (True) or the whole input folder; " + NOT_HERE,
    ),
    Key("ALWAYS_CONTINUE", "DCP: CellProfiler --always-continue", TOOL + "the same; " + NOT_HERE),
    Key("USE_PLUGINS", "DCP: pass --plugins-directory", TOOL + "the same; " + NOT_HERE),
    Key("UPDATE_PLUGINS", "DCP: git fetch in CellProfiler-plugins at start", TOOL + "the same; " + NOT_HERE),
    Key("PLUGINS_COMMIT", "DCP: git checkout of CellProfiler-plugins", TOOL + "the same; " + NOT_HERE),
    Key("INSTALL_REQUIREMENTS", "DCP: pip install the plugins", TOOL + "the same; " + NOT_HERE),
    Key("REQUIREMENTS", "DCP: extras/flags for that pip install", TOOL + "the same; " + NOT_HERE),
    Key(
        "REQUIREMENTS_FILE",
        "DCP before 2.1: pip install -r this file of CellProfiler-plugins",
        "read as REQUIREMENTS = '-r FILE' when config.py has no REQUIREMENTS",
        replaced_by="REQUIREMENTS",
        translate=_requirements_file,
    ),
    Key("SCRIPT_DOWNLOAD_URL", "DF: a script fetched at container start", TOOL + "the same; " + NOT_HERE),
    Key(
        "JOB_BUCKETS",
        "(dsgen) buckets Job files may name",
        TOOL + "the workers may touch only these; " + NOT_HERE,
    ),
)

KEYS: dict[str, Key] = {key.name: key for key in (*DS_KEYS, *FAMILY_KEYS)}


def key_table_markdown() -> str:
    """The table for docs and notes: key, default, meaning, what this repository does."""
    rows = ["| key | default | meaning (originals) | here |", "| --- | --- | --- | --- |"]
    for key in KEYS.values():
        if key.replaced_by:
            default = f"(legacy: {key.replaced_by})"
        elif key.default is REQUIRED:
            default = "required"
        elif key in FAMILY_KEYS:
            default = "the tool's (its answers)"
        else:
            default = f"`{key.default_text()}` ({key.origin})"
        rows.append(f"| `{key.name}` | {default} | {key.meaning} | {key.use} |")
    return "\n".join(rows)
