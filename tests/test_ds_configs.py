"""DS-family users' own config.py files load as they are: `run.py check` in the matching example.

Each fixture in tests/ds_configs/ has one original's keys and value forms. `check` runs
offline with credentials in the environment and no ~/.aws (as DS users on a fresh
machine or in CI have them), exits 0, and says which defaults it took.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CONFIGS = ROOT / "tests" / "ds_configs"
EXAMPLES = ROOT / "generated-examples"
PROFILE_NOTE = "note: AWS_PROFILE = 'default' is not a profile in ~/.aws; using the default credentials"
DLQ_ARN_NOTE = "note: SQS_DEAD_LETTER_QUEUE is an ARN: using its queue name 'DeadMessages'"

CASES = [
    (
        "ds.py",
        "Distributed-ObjectCounter",
        [
            "note: using DS's default for JOB_RETRIES = 10",
            "note: using DCP's default for ASSIGN_IP = True",
            "note: using DS's default for AUTO_MONITOR = False",
            DLQ_ARN_NOTE,
        ],
    ),
    (
        "dcp_2020.py",
        "Distributed-CellProfiler",
        [
            "note: using this tool's default for SOURCE_BUCKET = ''",
            "note: using this tool's default for UPLOAD_FLAGS = ''",
            "note: using this tool's default for UPDATE_PLUGINS = 'False'",
            "note: using DS's default for JOB_RETRIES = 10",
            DLQ_ARN_NOTE,
        ],
    ),
    (
        "dcp_2023.py",
        "Distributed-CellProfiler",
        [
            "note: using this tool's default for ALWAYS_CONTINUE = 'False'",
            "note: using DS's default for JOB_RETRIES = 10",
        ],
    ),
    ("dcp_current.py", "Distributed-CellProfiler", ["note: using dsgen's default for MAX_COST = 0"]),
    (
        "df.py",
        "Distributed-Fiji",
        [
            "note: using DS's default for DOCKER_CORES = 4",
            "note: using DS's default for CPU_SHARES = DOCKER_CORES * 1024 = 4096",
            "note: using this tool's default for FIJI_DIR = '/opt/fiji'",
            "DOWNLOAD_FILES (DCP, DF: download inputs instead of an s3fs mount) is not used by this tool; ignored",
            DLQ_ARN_NOTE,
        ],
    ),
    (
        "dozc.py",
        "Distributed-OMEZarrCreator",
        [
            "note: using DS's default for EXPECTED_NUMBER_FILES = 7",
            "note: using this tool's default for JOB_BUCKETS = ''",
            DLQ_ARN_NOTE,
        ],
    ),
]


def run_check(example: str, config: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="example-secret")
    return subprocess.run(
        [sys.executable, "run.py", "--config", str(config), "check", *files],
        cwd=EXAMPLES / example,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("fixture", "example", "notes"), CASES, ids=[c[0] for c in CASES])
def test_ds_family_config_passes_check(tmp_path: Path, fixture: str, example: str, notes: list[str]) -> None:
    done = run_check(example, CONFIGS / fixture, tmp_path, "files/exampleJob.json")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert output.rstrip().endswith("check: ok, the run can start")
    assert PROFILE_NOTE in output  # AWS_PROFILE = 'default', no ~/.aws
    for note in notes:
        assert note in output
    lines = output.splitlines()
    assert len(lines) == len(set(lines)), "a note is listed once"


def test_dcp_example_project_loads_but_its_memory_does_not_fit_its_c4_xlarge(tmp_path: Path) -> None:
    """7500 MiB on a 7.5 GiB machine: ECS registers less than that (m4.large: 7985 of 8192 MiB), so no task
    would be placed and the three machines would bill idle. Everything else loads as it is."""
    done = run_check("Distributed-CellProfiler", CONFIGS / "dcp_example_project.py", tmp_path, "files/exampleJob.json")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    for note in (
        "note: using this tool's default for UPLOAD_FLAGS = ''",
        "note: using this tool's default for WORKSPACE_BUCKET = ''",
        "REQUIREMENTS_FILE = '' is read as REQUIREMENTS = ''",
    ):
        assert note in output
    [problem] = [line for line in output.splitlines() if line.startswith("problem: ")]
    assert (
        "MEMORY 7500 x TASKS_PER_MACHINE 1 = 7500 MiB (7.324 GiB) does not fit MACHINE_TYPE c4.xlarge "
        "(4 vCPUs = 4096 CPU units, 7.5 GiB of which 7296 MiB for containers" in problem
    )
    assert "Fix: lower MEMORY to at most 7296, or choose a larger MACHINE_TYPE (e.g. c4.2xlarge)" in problem
    assert "check: 1 problem(s)" in output


def test_a_c_class_type_added_to_m_class_memory_is_refused_by_name(tmp_path: Path) -> None:
    """DCP's docs: "m class use 15000, c class use 7500". A c5.xlarge (8 GiB) among them would bill idle."""
    config = tmp_path / "config.py"
    text = (CONFIGS / "dcp_current.py").read_text()
    config.write_text(text.replace('"m5a.xlarge"]', '"c5.xlarge"]'))  # MACHINE_TYPE = ["m5.xlarge", "c5.xlarge"]
    done = run_check("Distributed-CellProfiler", config, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    [problem] = [line for line in output.splitlines() if line.startswith("problem: ")]
    assert "does not fit MACHINE_TYPE c5.xlarge (4 vCPUs" in problem and "lower MEMORY to at most 7782" in problem
    assert "or remove 'c5.xlarge' from MACHINE_TYPE (m5.xlarge holds them)" in problem


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    text = (CONFIGS / "dcp_current.py").read_text()
    config.write_text(text.replace("MEMORY = 15000", "MEMORY = 0").replace("EBS_VOL_SIZE = 30", "EBS_VOL_SIZE = '30'"))
    done = run_check("Distributed-CellProfiler", config, tmp_path, "files/exampleJob.json", "files/exampleFleet.json")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert f"problem: {config}:23: MEMORY = 0 is wrong" in output
    assert f"problem: {config}:18: EBS_VOL_SIZE = '30' is wrong" in output
    assert "SubnetId: 'subnet-WWWWWWWW' is the example's stand-in" in output
    assert "check: 3 problem(s)" in output
    assert "note: AWS_PROFILE and the Job file are checked once config.py has no problems" in output


def test_missing_profile_other_than_default_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text(
        (CONFIGS / "dcp_current.py").read_text().replace("AWS_PROFILE = 'default'", "AWS_PROFILE = 'lab'")
    )
    done = run_check("Distributed-CellProfiler", config, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "AWS_PROFILE = 'lab' is not a profile on this computer (found: none)" in output
    assert "list them with `aws configure list-profiles`" in output


def test_default_profile_in_aws_files_is_used(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\naws_access_key_id = A\naws_secret_access_key = B\n")
    done = run_check("Distributed-CellProfiler", CONFIGS / "dcp_current.py", tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert PROFILE_NOTE not in output


def test_broken_config_is_one_message_for_every_command(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text("import sys\nAPP_NAME = 'x'\nsys.exit('bye')\n")
    for command in (["check"], ["setup"], ["submitJob", "files/exampleJob.json"]):
        done = subprocess.run(
            [sys.executable, "run.py", "--config", str(config), *command],
            cwd=EXAMPLES / "Distributed-ObjectCounter",
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode in (1, 2) and "Traceback" not in output, output
        assert f"{config}:3: config.py calls exit()" in output
