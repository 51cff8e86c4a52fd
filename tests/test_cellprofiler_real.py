"""The REAL CellProfiler 4.2.8 runs a small pipeline through Distributed-CellProfiler's local mode.

Distributed-CellProfiler is rendered from examples/cellprofiler.yml; the test writes real
images (scikit-image's coins, flipped and rotated: 2 plates x 2 wells), a LoadData CSV
keyed by Metadata_Plate/Metadata_Well and its own CellProfiler 4 pipeline (LoadData,
IdentifyPrimaryObjects, MeasureObjectSizeShape, ExportToSpreadsheet), then runs the
generated repository's own `python run.py localRun files/coinsJob.json --inputs ...`:
emulated AWS, local workers running `cellprofiler -c -r -p ... -g Metadata_...` per group,
outputs fetched into local-outputs/. The measurements are checked: about 24 coins per
image, each with a positive area.

CellProfiler comes from .ci/cellprofiler/install.sh (a cached Python 3.9 venv without
wxPython). Environment:
  DSGEN_CELLPROFILER_BIN  the venv's bin folder (default ~/.cache/dsgen/cellprofiler-venv/bin, see DSGEN_CACHE)
  DSGEN_REQUIRE_CELLPROFILER=1  no working CellProfiler is a failure, not a skip (CI sets it)
  JAVA_HOME               a Java 17 JDK (default /usr/lib/jvm/java-17-openjdk-amd64)
The test skips, naming the install script, when CellProfiler 4.2.8 is not there.

The Job file and LoadData CSV are written as for DCP: the CSV names each image under
DCP's bucket mount (/home/ubuntu/bucket/images/<plate>/<well>). Nothing is mounted here:
each worker downloads only its group's rows' images (DOWNLOAD_FILES, the example's
default) and CellProfiler reads a copy of the CSV that names the local files.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsgen.render import TEMPLATE_ROOT, load_answers, render
from dsgen.source import WORKING_TREE

from .conftest import CACHE, require_tool, tool_unavailable

VERSION = "4.2.8"
CP_BIN = Path(os.environ.get("DSGEN_CELLPROFILER_BIN") or CACHE / "cellprofiler-venv" / "bin")
JAVA_HOME = os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
INSTALL = TEMPLATE_ROOT / ".ci" / "cellprofiler" / "install.sh"
REQUIRE = "DSGEN_REQUIRE_CELLPROFILER"
ANSWERS = TEMPLATE_ROOT / "examples" / "cellprofiler.yml"
BUCKET_MOUNT = "/home/ubuntu/bucket"  # where DCP's CSVs say the images are
GROUPS = [("Plate1", "A01"), ("Plate1", "A02"), ("Plate2", "A01"), ("Plate2", "A02")]
COINS = range(20, 29)  # skimage.data.coins() holds 24 coins

# Run with CellProfiler's own Python: it has scikit-image (data.coins) and writes the PNGs.
MAKE_IMAGES = """
import sys
from pathlib import Path
import numpy as np
from skimage import data, io
root, coins = Path(sys.argv[1]), data.coins()
variants = [coins, np.fliplr(coins), np.flipud(coins), np.rot90(coins, 2)]
for group, image in zip(sys.argv[2:], variants):
    folder = root / group
    folder.mkdir(parents=True)
    io.imsave(str(folder / "coins.png"), np.ascontiguousarray(image), check_contrast=False)
"""


# A CellProfiler 4.2.8 pipeline (its own dump format, settings chosen for the coins image).
# LoadData reads the CSV given by --data-file and groups by Plate and Well, so `-g` picks
# one image set; the worker rewrites the CSV's absolute image paths to the local copies.
PIPELINE = """CellProfiler Pipeline: http://www.cellprofiler.org
Version:5
DateRevision:428
GitHash:
ModuleCount:4
HasImagePlaneDetails:False

LoadData:[module_num:1|svn_version:'Unknown'|variable_revision_number:6FLAGS
    Input data file location:Default Input Folder|
    Name of the file:load_data.csv
    Load images based on this data?:Yes
    Base image location:Default Input Folder|
    Process just a range of rows?:No
    Rows to process:1,100000
    Group images by metadata?:Yes
    Select metadata tags for grouping:Plate,Well
    Rescale intensities?:Yes

IdentifyPrimaryObjects:[module_num:2|svn_version:'Unknown'|variable_revision_number:15FLAGS
    Select the input image:Coins
    Name the primary objects to be identified:Coins
    Typical diameter of objects, in pixel units (Min,Max):15,80
    Discard objects outside the diameter range?:Yes
    Discard objects touching the border of the image?:No
    Method to distinguish clumped objects:Shape
    Method to draw dividing lines between clumped objects:Intensity
    Size of smoothing filter:10
    Suppress local maxima that are closer than this minimum allowed distance:7.0
    Speed up by using lower-resolution image to find local maxima?:Yes
    Fill holes in identified objects?:After both thresholding and declumping
    Automatically calculate size of smoothing filter for declumping?:Yes
    Automatically calculate minimum allowed distance between local maxima?:Yes
    Handling of objects if excessive number of objects identified:Continue
    Maximum number of objects:500
    Use advanced settings?:Yes
    Threshold setting version:12
    Threshold strategy:Adaptive
    Thresholding method:Otsu
    Threshold smoothing scale:1.3488
    Threshold correction factor:1.0
    Lower and upper bounds on threshold:0.0,1.0
    Manual threshold:0.0
    Select the measurement to threshold with:None
    Two-class or three-class thresholding?:Two classes
    Log transform before thresholding?:No
    Assign pixels in the middle intensity class to the foreground or the background?:Foreground
    Size of adaptive window:101
    Lower outlier fraction:0.05
    Upper outlier fraction:0.05
    Averaging method:Mean
    Variance method:Standard deviation
    # of deviations:2.0
    Thresholding method:Otsu

MeasureObjectSizeShape:[module_num:3|svn_version:'Unknown'|variable_revision_number:3FLAGS
    Select object sets to measure:Coins
    Calculate the Zernike features?:No
    Calculate the advanced features?:No

ExportToSpreadsheet:[module_num:4|svn_version:'Unknown'|variable_revision_number:13FLAGS
    Select the column delimiter:Comma (",")
    Add image metadata columns to your object data file?:Yes
    Add image file and folder names to your object data file?:No
    Select the measurements to export:No
    Calculate the per-image mean values for object measurements?:No
    Calculate the per-image median values for object measurements?:No
    Calculate the per-image standard deviation values for object measurements?:No
    Output file location:Default Output Folder|
    Create a GenePattern GCT file?:No
    Select source of sample row name:Metadata
    Select the image to use as the identifier:None
    Select the metadata to use as the identifier:None
    Export all measurement types?:Yes
    Press button to select measurements:
    Representation of Nan/Inf:NaN
    Add a prefix to file names?:Yes
    Filename prefix:MyExpt_
    Overwrite existing files without warning?:Yes
    Data to export:Do not use
    Combine these object measurements with those of the previous object?:No
    File name:DATA.csv
    Use the object name for the file name?:Yes
"""
PIPELINE = PIPELINE.replace(
    "FLAGS", "|show_window:False|notes:[]|batch_state:array([], dtype=uint8)|enabled:True|wants_pause:False]"
)


def _local_run(repo: Path, name: str, job: dict, inputs: Path) -> None:
    """Write the Job file into files/ and run it with localRun on the real CellProfiler."""
    (repo / "files" / name).write_text(json.dumps(job, indent=2))
    done = subprocess.run(
        [sys.executable, "run.py", "localRun", f"files/{name}", "--inputs", str(inputs)],
        cwd=repo,
        env=_cellprofiler_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    # localRun exits 0 only when every job finished (none dead-lettered) and the run was torn down.
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]


def _cellprofiler_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{CP_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["JAVA_HOME"] = JAVA_HOME
    return env


def _require_cellprofiler() -> None:
    require_tool("cellprofiler", REQUIRE)
    cellprofiler = CP_BIN / "cellprofiler"
    why = f"the real CellProfiler {VERSION} is not at {cellprofiler}; install it with {INSTALL}"
    why += " (or set DSGEN_CELLPROFILER_BIN to a bin folder holding it)"
    if not cellprofiler.exists():
        tool_unavailable(why, REQUIRE)
    try:
        done = subprocess.run(
            [str(cellprofiler), "--version"], env=_cellprofiler_env(), capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        tool_unavailable(f"{why}: {exc}", REQUIRE)
    if done.returncode != 0 or not done.stdout.strip().startswith(VERSION):
        tool_unavailable(
            f"{why}: `cellprofiler --version` said {(done.stdout + done.stderr).strip()[-300:]!r}", REQUIRE
        )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.real_tool
def test_real_cellprofiler_measures_coins_in_distributed_cellprofiler_local_run(tmp_path: Path) -> None:
    _require_cellprofiler()
    repo = render(tmp_path / "Distributed-CellProfiler", load_answers(ANSWERS), source=WORKING_TREE)

    inputs = tmp_path / "inputs"
    groups = [f"{plate}/{well}" for plate, well in GROUPS]
    subprocess.run(
        [str(CP_BIN / "python"), "-c", MAKE_IMAGES, str(inputs / "images"), *groups],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (inputs / "cp").mkdir()
    (inputs / "cp" / "coins.cppipe").write_text(PIPELINE)
    lines = ["Metadata_Plate,Metadata_Well,FileName_Coins,PathName_Coins"]
    lines += [f"{plate},{well},coins.png,{BUCKET_MOUNT}/images/{plate}/{well}" for plate, well in GROUPS]
    (inputs / "cp" / "load_data.csv").write_text("\n".join(lines) + "\n")
    job = {
        "pipeline": "cp/coins.cppipe",
        "data_file": "cp/load_data.csv",
        "input": "images/",
        "output": "results/",
        "output_structure": "Metadata_Plate/Metadata_Well",
        "groups": [{"Metadata": f"Metadata_Plate={plate},Metadata_Well={well}"} for plate, well in GROUPS],
    }
    _local_run(repo, "coinsJob.json", job, inputs)

    results = repo / "local-outputs" / "results"
    folders = sorted(p.relative_to(results).as_posix() for p in results.glob("*/*"))
    assert folders == sorted(f"{p}/{w}" for p, w in GROUPS), "one folder per job, laid out by output_structure"
    for plate, well in GROUPS:
        out = results / plate / well
        # Done meant cp.is.done's first line was Complete; like DCP, the marker is not uploaded.
        assert not (out / "cp.is.done").exists()
        images = _rows(out / "MyExpt_Image.csv")
        assert len(images) == 1, f"{plate}-{well}: -g picks exactly one image set"
        image = images[0]
        assert (image["Metadata_Plate"], image["Metadata_Well"]) == (plate, well)
        assert image["FileName_Coins"] == "coins.png"
        count = int(float(image["Count_Coins"]))
        assert count in COINS, f"{plate}-{well}: {count} coins found"
        coins = _rows(out / "MyExpt_Coins.csv")
        assert len(coins) == count
        assert all((c["Metadata_Plate"], c["Metadata_Well"]) == (plate, well) for c in coins)
        areas = [float(c["AreaShape_Area"]) for c in coins]
        assert all(area > 0 for area in areas)
        assert 500 < sum(areas) / count < 5000, f"{plate}-{well}: mean coin area {sum(areas) / count}"


# Sites written zero-padded in the CSV, as microscopes name them; the Job file says 1, 2.
PADDED = [("Plate1", "A01", "001"), ("Plate1", "A01", "002"), ("Plate1", "A02", "001")]


def _run_cellprofiler(pipeline: Path, data_file: Path, out: Path, group: str) -> subprocess.CompletedProcess[str]:
    """CellProfiler itself on one group, as DCP's worker calls it, without anything of ours in between."""
    out.mkdir(parents=True)
    argv = [str(CP_BIN / "cellprofiler"), "-c", "-r", "-p", str(pipeline), "-o", str(out)]
    argv += [f"--data-file={data_file}", "-g", group]
    return subprocess.run(argv, env=_cellprofiler_env(), capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.real_tool
def test_zero_padded_metadata_groups_run_the_rows_cellprofiler_itself_runs(tmp_path: Path) -> None:
    """A LoadData CSV says Metadata_Site 001, the Job file's groups say 1: CellProfiler's own `-g`
    runs those rows (it reads the column as integers), so localRun must too, and each group's
    measurements must equal a direct CellProfiler run of the same group on the same CSV."""
    _require_cellprofiler()
    repo = render(tmp_path / "Distributed-CellProfiler", load_answers(ANSWERS), source=WORKING_TREE)
    inputs = tmp_path / "inputs"
    folders = [f"{plate}/{well}/s{site}" for plate, well, site in PADDED]
    subprocess.run(
        [str(CP_BIN / "python"), "-c", MAKE_IMAGES, str(inputs / "images"), *folders],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (inputs / "cp").mkdir()
    pipeline = inputs / "cp" / "sites.cppipe"
    pipeline.write_text(PIPELINE.replace("grouping:Plate,Well", "grouping:Plate,Well,Site"))
    header = "Metadata_Plate,Metadata_Well,Metadata_Site,FileName_Coins,PathName_Coins"

    def load_data(root: str) -> str:
        rows = [f"{p},{w},{s},coins.png,{root}/images/{p}/{w}/s{s}" for p, w, s in PADDED]
        return "\n".join([header, *rows]) + "\n"

    (inputs / "cp" / "load_data.csv").write_text(load_data(BUCKET_MOUNT))
    groups = [f"Metadata_Plate={p},Metadata_Well={w},Metadata_Site={int(s)}" for p, w, s in PADDED]
    job = {
        "pipeline": "cp/sites.cppipe",
        "data_file": "cp/load_data.csv",
        "input": "images/",
        "output": "results/",
        "output_structure": "Metadata_Plate/Metadata_Well/Metadata_Site",
        "groups": [{"Metadata": group} for group in groups],
    }
    _local_run(repo, "sitesJob.json", job, inputs)

    # The same CSV, naming the images where they are on this machine, straight into CellProfiler.
    direct_csv = tmp_path / "direct_load_data.csv"
    direct_csv.write_text(load_data(str(inputs)))
    figures = []
    for (plate, well, site), group in zip(PADDED, groups, strict=True):
        ours = repo / "local-outputs" / "results" / plate / well / str(int(site))
        theirs = tmp_path / "direct" / f"{plate}-{well}-{site}"
        run = _run_cellprofiler(pipeline, direct_csv, theirs, group)
        assert run.returncode == 0, run.stderr[-3000:]
        (image,) = _rows(ours / "MyExpt_Image.csv")
        (direct,) = _rows(theirs / "MyExpt_Image.csv")
        assert (image["Metadata_Site"], direct["Metadata_Site"]) == (str(int(site)), str(int(site)))
        assert image["Count_Coins"] == direct["Count_Coins"] and int(float(image["Count_Coins"])) in COINS
        area = [c["AreaShape_Area"] for c in _rows(ours / "MyExpt_Coins.csv")]
        assert area == [c["AreaShape_Area"] for c in _rows(theirs / "MyExpt_Coins.csv")], f"{group}: areas differ"
        figures.append(f"{group}: {image['Count_Coins']} coins, total area {sum(float(a) for a in area):.0f} (both)")
    print("\n".join(figures))
