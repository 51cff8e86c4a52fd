"""Distributed-Cellpose (examples/cellpose.yml) runs the REAL Cellpose 4 with the command its spec builds.

The render's own tool spec turns each job of a Job file into argv (`python -m cellpose --dir ...
--pretrained_model cpsam_v2 --save_png --no_npy --savedir ... --use_gpu`); that argv runs here
with a Python that has cellpose 4.2.1.1, on the CPU (--use_gpu falls back to it without CUDA),
on synthetic images of bright discs, and each image must come back as a mask PNG with one
label per disc. Cellpose needs its model's weights (cpsam_v2, ~1.2 GB), which it downloads from
huggingface.co on first use: that host is not reachable on this machine, so without the
weights already in place the test skips, saying so. The image bakes them in (docker_steps).

Environment:
  DSGEN_CELLPOSE_BIN  a bin folder whose python has cellpose 4.2.1.1 (default ~/.cache/dsgen/cellpose-venv/bin)
  CELLPOSE_LOCAL_MODELS_PATH  where the weights are (Cellpose's own variable; default ~/.cellpose/models)
  DSGEN_REQUIRE_CELLPOSE=1  a missing Cellpose or missing weights fail instead of skipping
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsgen.render import TEMPLATE_ROOT, load_answers, render
from dsgen.source import WORKING_TREE

from .conftest import CACHE, tool_unavailable

sys.path.insert(0, str(TEMPLATE_ROOT / "template"))  # the runtime every render carries

from ds_runtime.jobs import jobs_from_data
from ds_runtime.spec import load_spec

VERSION = "4.2.1.1"
MODEL = "cpsam_v2"  # the example's CELLPOSE_MODEL
CELLPOSE_BIN = Path(os.environ.get("DSGEN_CELLPOSE_BIN") or CACHE / "cellpose-venv" / "bin")
WEIGHTS = Path(os.environ.get("CELLPOSE_LOCAL_MODELS_PATH") or Path.home() / ".cellpose" / "models") / MODEL
REQUIRE = "DSGEN_REQUIRE_CELLPOSE"
ANSWERS = TEMPLATE_ROOT / "examples" / "cellpose.yml"
DISCS = 12

# Run with Cellpose's Python (numpy and tifffile are its dependencies): DISCS bright discs per image.
MAKE_IMAGES = f"""
import sys
from pathlib import Path
import numpy as np, tifffile
rng = np.random.default_rng(int(sys.argv[2]))
yy, xx = np.mgrid[:256, :256]
image = rng.normal(10, 2, (256, 256))
for i in range({DISCS}):
    cy, cx = 32 + 64 * (i // 4), 32 + 64 * (i % 4)
    image[(yy - cy) ** 2 + (xx - cx) ** 2 < 15 ** 2] += 200
Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
tifffile.imwrite(sys.argv[1], image.astype(np.uint16))
"""
COUNT_LABELS = "import sys, cv2, numpy as np; print(len(np.unique(cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED))) - 1)"


def _require_cellpose_and_weights() -> None:
    python = CELLPOSE_BIN / "python"
    done = (
        subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('cellpose'))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if python.exists()
        else None
    )
    if done is None or done.returncode != 0 or done.stdout.strip() != VERSION:
        tool_unavailable(
            f"no Python with cellpose {VERSION} at {python} (pip install cellpose=={VERSION} into a venv there, "
            "or set DSGEN_CELLPOSE_BIN)",
            REQUIRE,
        )
    if not WEIGHTS.is_file():
        tool_unavailable(
            f"Cellpose's {MODEL} weights are not at {WEIGHTS}: Cellpose downloads them from huggingface.co on first "
            "use, which this machine cannot reach; put them there (or set CELLPOSE_LOCAL_MODELS_PATH)",
            REQUIRE,
        )


@pytest.mark.slow
@pytest.mark.real_tool
def test_cellpose_real_run_needs_model_weights_not_downloadable_here(tmp_path: Path) -> None:
    _require_cellpose_and_weights()
    repo = render(tmp_path / "Distributed-Cellpose", load_answers(ANSWERS), source=WORKING_TREE)
    spec = load_spec(repo / "tool" / "spec.json")
    jobs = jobs_from_data(json.loads((repo / "files" / "exampleJob.json").read_text()), spec)
    env = {**os.environ, "PATH": f"{CELLPOSE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for index, job in enumerate(jobs):
        view = spec.for_job(job.values, job.job_id, {"CELLPOSE_MODEL": MODEL})
        work = tmp_path / "jobs" / job.job_id
        [folder] = view.inputs()  # the job's folder of images, downloaded to input_dir/<its key>
        image = work / "input" / folder.key / "discs.tif"
        subprocess.run([str(CELLPOSE_BIN / "python"), "-c", MAKE_IMAGES, str(image), str(index)], check=True)
        (work / "output").mkdir(parents=True)
        argv = view.argv(str(work), str(work / "input"), str(work / "output"))
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        masks = work / "output" / "discs_cp_masks.png"
        assert masks.is_file(), sorted(p.name for p in (work / "output").iterdir())
        count = subprocess.run(
            [str(CELLPOSE_BIN / "python"), "-c", COUNT_LABELS, str(masks)], capture_output=True, text=True, check=True
        )
        assert int(count.stdout) == DISCS, f"{job.values['folder']}: {count.stdout.strip()} masks for {DISCS} discs"
