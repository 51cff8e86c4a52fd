"""`dsgen demo [DEST]`: a real tool's whole lifecycle on this computer, for free, in about a minute.

Renders Distributed-ObjectCounter from examples/objectcounter.yml (its tool,
dsgen-count-objects, comes with dsgen), writes sample images from scikit-image's
bundled data, and runs the new repository's own `python run.py localRun` with two
local workers: setup, submitJob, startCluster and monitor against the embedded AWS
emulator, exactly as a user of the repository would, and ends with the run report's path.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .hooks.post_generate import init_git
from .render import load_answers, render
from .source import TEMPLATE_ROOT, TemplateSource

ANSWERS = TEMPLATE_ROOT / "examples" / "objectcounter.yml"
SAMPLE_IMAGES = ("coins", "hubble_deep_field", "microaneurysms")  # bundled with scikit-image
INPUTS, OUTPUTS, INPUT_PREFIX = "demo-inputs", "demo-outputs", "inputs"


def write_sample_images(folder: Path) -> list[Path]:
    import skimage.data
    import skimage.io

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SAMPLE_IMAGES:
        path = folder / f"{name}.png"
        skimage.io.imsave(path, getattr(skimage.data, name)(), check_contrast=False)
        written.append(path)
    return written


def run_demo(dest: Path, console: Console) -> int:
    console.print(f"[bold]1/3[/] generating {dest.name} from {ANSWERS.name}")
    repo = render(dest, load_answers(ANSWERS), source=TemplateSource.git("HEAD"))
    init_git(repo)
    images = write_sample_images(repo / INPUTS)
    console.print(f"[bold]2/3[/] {len(images)} sample images in {repo / INPUTS}")
    # Commands are shown with this Python (a venv's, which has the runtime's packages), so each works as printed.
    python = shlex.quote(sys.executable)
    console.print(f"[bold]3/3[/] {python} run.py localRun files/exampleJob.json  (emulated AWS, 2 local workers)")
    command = [sys.executable, "run.py", "localRun", "files/exampleJob.json"]
    command += ["--inputs", INPUTS, "--input-prefix", INPUT_PREFIX, "--outputs", OUTPUTS]
    code = subprocess.run(command, cwd=repo).returncode
    if code == 0:
        console.print(results_table(repo / OUTPUTS))
        hint = f"cd {shlex.quote(str(repo))} && {python} run.py --help"
        console.print(f"outputs: {repo / OUTPUTS}\nrepository: {repo}\ntry: {hint}", soft_wrap=True)
    return code


def run_report(repo: Path) -> Path | None:
    """The report localRun wrote for the demo's run (the newest, should the folder be reused)."""
    reports = sorted((repo / "files" / "reports").glob("*.html"), key=lambda p: p.stat().st_mtime)
    return reports[-1].resolve() if reports else None


def results_table(outputs: Path) -> Table:
    table = Table(title="objects counted")
    for column in ("image", "threshold method", "objects", "mean area (px)"):
        table.add_column(column)
    for path in sorted(outputs.rglob("summary.json")):
        summary = json.loads(path.read_text())
        table.add_row(summary["image"], summary["method"], str(summary["count"]), str(summary["mean_area"]))
    return table
