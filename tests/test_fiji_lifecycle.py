"""Distributed-Fiji, rendered from examples/fiji.yml, runs its whole lifecycle in local mode.

Fiji itself is not installed here: a STAND-IN executable named Fiji.app/ImageJ-linux64,
under the folder config.py's FIJI_DIR names, records the argv it was given and the
script it was asked to run (failing if no script is at its --run path, or if no input
file is under DF's bucket path /home/ubuntu/bucket/<input_file_location>), and writes what
a DF script writes (files under output/ in its working folder). The script itself is
real data: uploaded to the emulated bucket by `--inputs`, named by SCRIPT_DOWNLOAD_URL
(s3://...), and fetched into Fiji.app/plugins by the workers' startup step, as DF does.
The run is the generated repository's own `python run.py localRun files/exampleJob.json`:
emulated AWS, setup, submitJob, local workers, monitor, outputs fetched into local-outputs/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dsgen.render import TEMPLATE_ROOT, render
from dsgen.source import WORKING_TREE

pytestmark = pytest.mark.slow  # a render and its whole local lifecycle

BUCKET = "df-lifecycle-bucket"
SCRIPT_KEY = "df-scripts/stitch_plate.py"
SCRIPT = "# a DF script: stitches one well\n"
EXPECTED_FILES = 2
IMAGES = ["Plate_1/A1_s1.tif", "Plate_1/A2_s1.tif"]
VIEW = Path("/home/ubuntu/bucket")

STAND_IN = """#!PYTHON
# STAND-IN for Fiji's launcher: records its argv, writes COUNT files as a DF script would.
import json, os, pathlib, sys
calls = pathlib.Path(CALLS)
script = pathlib.Path(sys.argv[sys.argv.index("--run") + 1])
if not script.is_file():
    sys.exit(f"stand-in Fiji: no script at {script}")
params = dict(p.split("=", 1) for p in sys.argv[-1].split(", "))
# A DF script reads its images through DF's bucket mount: the job's inputs must be there.
view = pathlib.Path("/home/ubuntu/bucket") / params["input_file_location"].strip("'")
images = sorted(p.relative_to(view).as_posix() for p in view.rglob("*") if p.is_file())
if not images:
    sys.exit(f"stand-in Fiji: no input files under {view}")
writable = [name for name in images if os.access(view / name, os.W_OK) and os.getuid() != 0]
record = {"argv": sys.argv, "cwd": os.getcwd(), "script": script.read_text(), "images": images}
record["read_only"] = not writable and not (view / images[0]).stat().st_mode & 0o222
(calls / f"{os.getpid()}.json").write_text(json.dumps(record))
name = params["Plate"].strip("'") + "_" + params["Well"].strip("'")
out = pathlib.Path("output")  # DF scripts write under output/ in the working folder
for index in range(COUNT):
    (out / f"{name}_{index}.txt").write_text(sys.argv[-1])
print("stand-in Fiji done", name)
"""


def _set_config(config: Path, **values: object) -> None:
    lines = config.read_text().splitlines()
    for key, value in values.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
        lines[index] = f"{key} = {value!r}"
    config.write_text("\n".join(lines) + "\n")


def test_fiji_local_lifecycle_with_a_stand_in_imagej_launcher(tmp_path: Path) -> None:
    answers = yaml.safe_load((TEMPLATE_ROOT / "examples" / "fiji.yml").read_text())
    repo = render(tmp_path / "Distributed-Fiji", answers, source=WORKING_TREE)
    fiji_dir, calls = tmp_path / "fiji", tmp_path / "calls"
    launcher = fiji_dir / "Fiji.app" / "ImageJ-linux64"
    launcher.parent.mkdir(parents=True)
    calls.mkdir()
    stand_in = STAND_IN.replace("PYTHON", sys.executable).replace("CALLS", repr(str(calls)))
    launcher.write_text(stand_in.replace("COUNT", str(EXPECTED_FILES)))
    launcher.chmod(0o755)
    scripts = tmp_path / "scripts"
    (scripts / SCRIPT_KEY).parent.mkdir(parents=True)
    (scripts / SCRIPT_KEY).write_text(SCRIPT)
    for name in IMAGES:  # the job's input folder (the example's input_file_location)
        (scripts / "projects" / "input" / name).parent.mkdir(parents=True, exist_ok=True)
        (scripts / "projects" / "input" / name).write_text(name)
    (scripts / "projects" / "elsewhere.tif").write_text("not this job's")
    _set_config(
        repo / "config.py",
        AWS_BUCKET=BUCKET,
        FIJI_DIR=str(fiji_dir),
        SCRIPT_DOWNLOAD_URL=f"s3://{BUCKET}/{SCRIPT_KEY}",
        EXPECTED_NUMBER_FILES=EXPECTED_FILES,
    )

    done = subprocess.run(
        [sys.executable, "run.py", "localRun", "files/exampleJob.json", "--inputs", str(scripts)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    job_file = json.loads((repo / "files" / "exampleJob.json").read_text())
    shared = ", ".join(f"{k}='{v}'" for k, v in job_file["shared_metadata"].items())
    expected = {}
    for group in job_file["groups"]:
        pairs = shared + ", " + ", ".join(f"{k}='{v}'" for k, v in group.items())
        expected[pairs] = [
            str(launcher),
            "--ij2",
            "--headless",
            "--console",
            "--run",
            f"{fiji_dir}/Fiji.app/plugins/stitch_plate.py",
            pairs,
        ]
    recorded = [json.loads(p.read_text()) for p in sorted(calls.glob("*.json"))]
    assert sorted(r["argv"][-1] for r in recorded) == sorted(expected), "one run per job"
    for run in recorded:
        assert run["argv"] == expected[run["argv"][-1]]
        assert Path(run["cwd"]).name.startswith("ds-"), "the tool runs in the job's own folder"
        assert run["script"] == SCRIPT, "the script came from the bucket through the startup fetch"
        assert run["images"] == IMAGES, "exactly the job's input folder, under the bucket view"
        assert run["read_only"], "the view's files are read-only"
    assert not VIEW.exists() or (VIEW.is_dir() and not VIEW.is_symlink()), "the view is removed after each job"
    assert [p.name for p in (fiji_dir / "Fiji.app" / "plugins").iterdir()] == ["stitch_plate.py"]
    task_logs = sorted((repo / ".local" / "workers").glob("task-*.log"))
    assert task_logs, "local worker tasks write their logs there"
    for log in task_logs:
        assert log.read_text().count("startup[0]: wrote") == 1, "one fetch per worker task, however many workers"

    outputs = repo / "local-outputs" / job_file["output_file_location"].rstrip("/")
    fetched = sorted(p.name for p in outputs.iterdir())
    names = [f"{g['Plate']}_{g['Well']}_{i}.txt" for g in job_file["groups"] for i in range(EXPECTED_FILES)]
    assert fetched == sorted(names)
    for group in job_file["groups"]:
        assert f"Well='{group['Well']}'" in (outputs / f"{group['Plate']}_{group['Well']}_0.txt").read_text()
