"""OMEZarrCreator with the REAL ngff-zarr CLI (tests/answers/omezarr_ngff.yml), end to end.

No stand-in: `.ci/ngff/install.sh` (run by .ci/run, never by this test) installs the pinned
`ngff-zarr` (with tifffile and zarr) from PyPI into a venv of its own, in the cache
(~/.cache/dsgen/ngff-venv, see DSGEN_CACHE); the rendered
repository's own `python run.py localRun` converts real TIFFs on emulated AWS with local
workers (which inherit PATH, so the venv's bin goes first); and every fetched store is
opened with zarr-python (in that venv) and compared pixel for pixel with its TIFF.

  DSGEN_NGFF_BIN=<venv>/bin  use that ngff-zarr (and its python, with zarr)
  DSGEN_REQUIRE_NGFF=1       no ngff-zarr is a failure, not a skip (CI sets it)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from skimage import data

from dsgen.render import load_answers, render
from dsgen.source import WORKING_TREE

from .conftest import CACHE, require_tool, tool_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.real_tool]  # a real tool (ngff-zarr) over a render's local run

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "tests" / "answers" / "omezarr_ngff.yml"
INSTALL = ROOT / ".ci" / "ngff" / "install.sh"
INPUT_PREFIX = "projects/ngff/tiffs"
OUTPUT_PREFIX = "projects/ngff/zarr"

# Run in the ngff-zarr venv: open the store with zarr-python, find the full-resolution
# level through the OME metadata, save its pixels for the test to compare.
READ_STORE = """
import json, sys
import numpy as np, zarr
store, saved = sys.argv[1], sys.argv[2]
group = zarr.open_group(store, mode="r")
ome = group.attrs["ome"]
multiscales = ome["multiscales"][0]
full = group[multiscales["datasets"][0]["path"]]
np.save(saved, full[...])
print(json.dumps({
    "version": ome["version"],
    "name": multiscales.get("name"),
    "axes": [axis["name"] for axis in multiscales["axes"]],
    "levels": len(multiscales["datasets"]),
    "chunks": list(full.chunks),
}))
"""


def _images() -> dict[str, np.ndarray]:
    """Real and deterministic 2-D images: a photograph, odd-shaped noise, a full-range ramp."""
    ramp = np.arange(257 * 190, dtype=np.uint32).reshape(257, 190) * 1327 % 65536
    return {
        "Plate1": data.camera().astype(np.uint16) * 257,
        "Plate2": np.random.default_rng(7).integers(0, 65536, size=(300, 211), dtype=np.uint16),
        "Plate3": ramp.astype(np.uint16),
    }


def _ngff_bin() -> Path:
    """The folder holding the real ngff-zarr and the python of its venv."""
    require_tool("ngff", "DSGEN_REQUIRE_NGFF")
    folder = Path(os.environ.get("DSGEN_NGFF_BIN") or CACHE / "ngff-venv" / "bin")
    if not (folder / "ngff-zarr").is_file():
        tool_unavailable(f"no ngff-zarr in {folder}: install it with {INSTALL.relative_to(ROOT)}", "DSGEN_REQUIRE_NGFF")
    return folder


def test_omezarr_creator_converts_real_tiffs_with_the_real_ngff_zarr_cli(tmp_path: Path) -> None:
    ngff_bin = _ngff_bin()
    repo = render(tmp_path / "Distributed-OMEZarrNgff", load_answers(ANSWERS), source=WORKING_TREE)

    images = _images()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for plate, pixels in images.items():
        tifffile.imwrite(inputs / f"{plate}.tif", pixels)
    job_file = {
        "input_location": f"{INPUT_PREFIX}/",
        "output_location": f"{OUTPUT_PREFIX}/",
        "chunks": 128,  # a when-group: the stores are chunked, so reading reassembles chunks
        "plates": sorted(images),
    }
    (repo / "files" / "ngff.json").write_text(json.dumps(job_file, indent=2))

    env = {**os.environ, "PATH": f"{ngff_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = [sys.executable, "run.py", "localRun", "files/ngff.json", "--inputs", str(inputs)]
    done = subprocess.run(
        [*argv, "--input-prefix", INPUT_PREFIX, "--outputs", "out"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    fetched = repo / "out" / OUTPUT_PREFIX
    assert sorted(p.name for p in fetched.iterdir()) == [f"{plate}.ome.zarr" for plate in sorted(images)]
    for plate, pixels in images.items():
        store = fetched / f"{plate}.ome.zarr"
        assert "multiscales" in (store / "zarr.json").read_text(), "the done rule's file, as fetched"
        saved = tmp_path / f"{plate}.npy"
        read = subprocess.run(
            [str(ngff_bin / "python"), "-c", READ_STORE, str(store), str(saved)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert read.returncode == 0, f"{store} does not open with zarr-python:\n{read.stderr[-3000:]}"
        meta = json.loads(read.stdout.strip().splitlines()[-1])
        assert meta["version"] == "0.5" and meta["name"] == plate and meta["axes"] == ["y", "x"], meta
        assert meta["levels"] >= 2, f"{plate}: ngff-zarr wrote no pyramid: {meta}"
        assert meta["chunks"] == [128, 128], meta
        full = np.load(saved)
        assert full.dtype == pixels.dtype and full.shape == pixels.shape, (full.dtype, full.shape)
        assert np.array_equal(full, pixels), f"{plate}: full-resolution pixels differ from the TIFF"
