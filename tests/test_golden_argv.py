"""The regenerated DS tools run their originals' command lines, argument for argument.

For each committed example (generated-examples/, kept fresh by `dsgen examples --check`),
every job of its files/exampleJob.json, and variants of it, is turned into argv by the
repository's own tool spec and compared with the command line the original worker
builds (DCP's cp-worker.py, DF's fiji-worker.py, DOZC's B2R-worker.py), transcribed
here as the originals write them. The originals' local folders map onto a job's:
DCP's bucket mount (/home/ubuntu/bucket) and DOZC's download folder are IN (inputs
land at IN/<S3 key>), their output folders OUT; DF's working folder /opt/fiji is
config.py's FIJI_DIR. S3 prefixes are written without their trailing '/', as
os.path.join writes them in DOZC.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "template"))

from ds_runtime.jobs import JobFileError, jobs_from_data  # noqa: E402
from ds_runtime.spec import Input, ToolSpec, load_spec  # noqa: E402
from ds_runtime.worker.fetch import file_name  # noqa: E402
from ds_runtime.worker.startup import Fetch, plan_startup  # noqa: E402

EXAMPLES = ROOT / "generated-examples"
WORK, IN, OUT = "/work/ds-job", "/work/ds-job/input", "/work/ds-job/output"


def _example(tool: str) -> tuple[ToolSpec, dict[str, Any], dict[str, str]]:
    repo = EXAMPLES / f"Distributed-{tool}"
    spec = load_spec(repo / "tool" / "spec.json")
    job_file = json.loads((repo / "files" / "exampleJob.json").read_text())
    # What `run.py setup` gives the worker: config.py's values, as environment text.
    config: dict[str, str] = {"EXPECTED_NUMBER_FILES": "1"}
    namespace: dict[str, Any] = {}
    exec((repo / "config.py").read_text(), namespace)  # config.py is plain Python
    for key in spec.config_keys:
        value = namespace[key]
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return spec, job_file, config


def _argvs(spec: ToolSpec, job_file: dict[str, Any], config: dict[str, str]) -> list[tuple[dict, list[str]]]:
    jobs = jobs_from_data(job_file, spec)
    assert jobs, "the job file has jobs"
    return [(job.values, spec.for_job(job.values, job.job_id, config).steps(WORK, IN, OUT)[0].argv) for job in jobs]


# ---------------------------------------------------------------- CellProfiler (DCP)


def _dcp_command(message: dict[str, Any], env: dict[str, str]) -> list[str]:
    """DCP's cp-worker.py: its command string for this message, split as DCP splits it."""
    metadata = message["Metadata"]
    if isinstance(metadata, dict):  # DCP writes a mapping's Metadata back as k=v,k=v
        metadata = ",".join(f"{k}={v}" for k, v in metadata.items())
    data_root, local_out = IN, OUT
    pipepath = os.path.join(data_root, message["pipeline"])
    data_file_path = os.path.join(data_root, message["data_file"])
    cp_done = f"{local_out}/cp.is.done"
    stem = f"cellprofiler -c -r -p {pipepath} -i {data_root}/{message['input'].rstrip('/')} -o {local_out} -d {cp_done}"
    if message["data_file"][-4:] == ".csv":
        cmd = f"{stem} --data-file={data_file_path} -g {metadata}"
    elif message["data_file"][-3:] == ".h5":
        cmd = f"{stem} -g {metadata}"
    elif message["data_file"][-4:] == ".txt":
        cmd = f"{stem} --file-list={data_file_path} -g {metadata}"
    else:
        raise AssertionError("DCP does not recognise this data file")
    if env["USE_PLUGINS"].lower() == "true":
        cmd += " --plugins-directory=/home/ubuntu/CellProfiler-plugins/active_plugins"
    if env["ALWAYS_CONTINUE"].lower() == "true":
        cmd += " --always-continue"
    return cmd.split()


@pytest.mark.parametrize("data_file", ["load_data.csv", "file_list.txt", "Batch_data.h5"])
@pytest.mark.parametrize(
    ("use_plugins", "always_continue"), [("False", "False"), ("True", "False"), ("False", "True"), ("true", "TRUE")]
)
def test_cellprofiler_argv_is_dcps_command_line(data_file: str, use_plugins: str, always_continue: str) -> None:
    spec, job_file, config = _example("CellProfiler")
    assert config["USE_PLUGINS"] == config["ALWAYS_CONTINUE"] == "False"  # config.py's defaults
    job_file = {**job_file, "data_file": f"projects/demo/workspace/load_data_csv/{data_file}"}
    config = {**config, "USE_PLUGINS": use_plugins, "ALWAYS_CONTINUE": always_continue}
    groups = job_file["groups"]
    assert any(isinstance(g["Metadata"], str) for g in groups) and any(isinstance(g["Metadata"], dict) for g in groups)
    for (values, argv), group in zip(_argvs(spec, job_file, config), groups, strict=True):
        message = {**{k: v for k, v in job_file.items() if k != "groups"}, **group}
        assert argv == _dcp_command(message, config), values


def test_cellprofiler_outputs_go_under_output_by_metadata_values() -> None:
    spec, job_file, _ = _example("CellProfiler")
    keys = [spec.for_job(job.values, job.job_id).output_key() for job in jobs_from_data(job_file, spec)]
    # DCP: remoteOut = os.path.join(output, '-'.join(Metadata values))
    assert keys == [
        "projects/demo/analysis/Plate1-A01-1",
        "projects/demo/analysis/Plate1-A01-2",
        "projects/demo/analysis/Plate1-A02-1",
    ]
    assert spec.done.required_file == "cp.is.done" and spec.done.required_content == "Complete"
    assert spec.done.content_match == "first_line"  # DCP: next(open(cpDone)) == 'Complete\n'
    assert spec.output_exclude == ["cp.is.done"]  # DCP: aws s3 mv ... --exclude=cp.is.done


def _dcp_metadata_id(structure: str, metadata: dict[str, str]) -> str:
    """DCP's metadataID with an output_structure: each Metadata key replaced by its value."""
    for key, value in metadata.items():
        structure = structure.replace(key, value)
    return structure


def test_cellprofiler_output_structure_names_the_output_folder() -> None:
    spec, job_file, _ = _example("CellProfiler")
    structure = "Metadata_Plate/Metadata_Well/site_Metadata_Site"
    jobs = jobs_from_data({**job_file, "output_structure": structure}, spec)
    keys = [spec.for_job(job.values, job.job_id).output_key() for job in jobs]
    expected = ["projects/demo/analysis/" + _dcp_metadata_id(structure, job.values["Metadata"]) for job in jobs]
    assert (
        keys
        == expected
        == [
            "projects/demo/analysis/Plate1/A01/site_1",
            "projects/demo/analysis/Plate1/A01/site_2",
            "projects/demo/analysis/Plate1/A02/site_1",
        ]
    )


def _cellprofiler_groups(text: str) -> dict[str, str]:
    """CellProfiler's reading of -g (cellprofiler/__main__.py): split on ',', each on '=', dict()."""
    return dict(pair.split("=") for pair in text.split(","))


def test_cellprofiler_metadata_values_are_one_grouping_key_each_or_refused() -> None:
    spec, job_file, config = _example("CellProfiler")
    fine = {"Metadata_Plate": "P 1;$(id)", "Metadata_Well": "A'01\"", "Metadata_Site": "1"}
    (_, argv), *_ = _argvs(spec, {**job_file, "groups": [{"Metadata": fine}]}, config)
    assert _cellprofiler_groups(argv[argv.index("-g") + 1]) == fine
    # -g has no quoting: a ',' or '=' would add a grouping key or break CellProfiler's parse.
    for hostile in ({"Metadata_Plate": "P1,Metadata_Well=A01"}, {"Metadata_Plate": "a=b"}, {"Metadata_P,x": "1"}):
        with pytest.raises(JobFileError) as refused:
            jobs_from_data({**job_file, "groups": [{"Metadata": fine}, {"Metadata": hostile}]}, spec, "job.json")
        message = str(refused.value)
        assert "job.json: 1 problem(s), nothing was sent" in message
        assert "groups[1]: command: Metadata: " in message and "cannot quote" in message


# DCP's image clones CellProfiler-plugins in /home/ubuntu; run-worker.sh works in that clone.
DCP_PLUGINS = "/home/ubuntu/CellProfiler-plugins"


def _dcp_startup(env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """DCP's run-worker.sh, step 5: each command it runs in the clone, split as bash splits it
    (the current plugins layout: active_plugins exists, so `pip install -e . ${REQUIREMENTS}`)."""
    commands = []
    if env["USE_PLUGINS"] == "True":
        if env["UPDATE_PLUGINS"] == "True":
            commands.append("git fetch --all")
        if env["PLUGINS_COMMIT"] != "False":
            commands.append(f"git checkout {env['PLUGINS_COMMIT']}")
        if env["INSTALL_REQUIREMENTS"] == "True":
            commands.append(f"pip install -e . {env['REQUIREMENTS']}")
    return [(DCP_PLUGINS, command.split()) for command in commands]


def _startup(spec: ToolSpec, config: dict[str, str]) -> list[tuple[str | None, list[str]]]:
    return [(a.cwd, list(a.argv)) for a in plan_startup(spec, config) if not isinstance(a, Fetch)]


@pytest.mark.parametrize("update", ["True", "False"])
@pytest.mark.parametrize("commit", ["False", "v4.2.8", "0a1b2c3"])
@pytest.mark.parametrize(("install", "requirements"), [("False", ""), ("True", ""), ("True", "cellpose stardist")])
def test_cellprofiler_startup_runs_dcps_commands(update: str, commit: str, install: str, requirements: str) -> None:
    spec, _, config = _example("CellProfiler")
    keys = ("USE_PLUGINS", "UPDATE_PLUGINS", "PLUGINS_COMMIT", "INSTALL_REQUIREMENTS")
    assert {k: config[k] for k in keys} == dict.fromkeys(keys, "False")
    assert _startup(spec, config) == _dcp_startup(config) == [], "config.py's defaults run nothing"
    config = {**config, "USE_PLUGINS": "True", "UPDATE_PLUGINS": update, "PLUGINS_COMMIT": commit}
    config |= {"INSTALL_REQUIREMENTS": install, "REQUIREMENTS": requirements}
    assert _startup(spec, config) == _dcp_startup(config)


def test_cellprofiler_startup_differs_from_dcp_where_the_answers_file_says() -> None:
    """examples/cellprofiler.yml: one condition per step, its own key, not also USE_PLUGINS."""
    spec, _, config = _example("CellProfiler")
    config = {**config, "USE_PLUGINS": "False", "UPDATE_PLUGINS": "True"}
    assert _dcp_startup(config) == []
    assert _startup(spec, config) == [(DCP_PLUGINS, ["git", "fetch", "--all"])]


def test_cellprofiler_image_clones_dcps_plugins_where_the_steps_and_the_command_look() -> None:
    dockerfile = (EXAMPLES / "Distributed-CellProfiler" / "Dockerfile").read_text()
    clone = f"git clone https://github.com/CellProfiler/CellProfiler-plugins.git {DCP_PLUGINS}"
    assert clone in dockerfile and f'chown -R "${{WORKER_UID}}" {DCP_PLUGINS}' in dockerfile
    assert dockerfile.index(clone) < dockerfile.index("USER ${WORKER_UID}"), "built as root, before the switch"
    spec, job_file, config = _example("CellProfiler")
    (_, argv), *_ = _argvs(spec, job_file, {**config, "USE_PLUGINS": "True"})
    assert f"--plugins-directory={DCP_PLUGINS}/active_plugins" in argv


# ---------------------------------------------------------------- Fiji (DF)


def _df_pairs(mapping: dict[str, Any]) -> str:
    """DF's stringify_metadata_dict: key='value' joined by ', '."""
    return ", ".join(f"{key}='{value}'" for key, value in mapping.items())


def _df_command(message: dict[str, Any], group: dict[str, Any], env: dict[str, str]) -> list[str]:
    """DF's fiji-worker.py argv (a list already), run from /opt/fiji = FIJI_DIR."""
    fiji = env["FIJI_DIR"]
    script_name = os.path.split(env["SCRIPT_DOWNLOAD_URL"])[1]
    cmd = [f"{fiji}/Fiji.app/ImageJ-linux64", "--ij2", "--headless", "--console", "--run"]
    cmd.append(os.path.join(f"{fiji}/Fiji.app/plugins", script_name))
    cmd.append(_df_pairs(message["shared_metadata"]) + ", " + _df_pairs(group))
    return cmd


@pytest.mark.parametrize("url", ["https://example.org/scripts/stitch_plate.py", "https://x.test/a/b/Macro 1.ijm"])
def test_fiji_argv_is_dfs_command_line(url: str) -> None:
    spec, job_file, config = _example("Fiji")
    assert config["FIJI_DIR"] == "/opt/fiji", "where the fiji/fiji image keeps Fiji.app (DF's working folder)"
    config = {**config, "SCRIPT_DOWNLOAD_URL": url}
    results = _argvs(spec, job_file, config)
    for (_, argv), group in zip(results, job_file["groups"], strict=True):
        assert argv == _df_command(job_file, group, config)
    # One argument holds every pair, whatever the values hold.
    hostile = {**job_file, "shared_metadata": {"a": "x y; rm -rf ~", "b": "$(id)"}}
    (_, argv), *_ = _argvs(spec, hostile, config)
    assert len(argv) == 7 and argv[-1] == "a='x y; rm -rf ~', b='$(id)', Well='A1', Plate='Plate_1'"


_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _fiji_parameters(text: str) -> dict[str, str]:
    """Fiji's reading of --run's parameters (SciJava's parser, Parsington's Literals.parseString):
    name=literal pairs split by ','; a '...' literal is verbatim, a "..." literal reads backslash
    escapes. Only string literals, as the template writes them."""
    found, i = {}, 0
    while i < len(text):
        name = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*", text[i:])
        assert name, f"no parameter name at {text[i:]!r}"
        i += name.end()
        quote, i, value = text[i], i + 1, ""
        assert quote in "'\"", f"no string literal at {text[i - 1 :]!r}"
        while text[i] != quote:
            if quote == '"' and text[i] == "\\":
                value, i = value + _ESCAPES[text[i + 1]], i + 2
            else:
                value, i = value + text[i], i + 1
        assert name.group(1) not in found, f"{name.group(1)} given twice"
        found[name.group(1)] = value
        rest = re.match(r"\s*(,|$)", text[i + 1 :])
        assert rest, f"not a separator after {name.group(1)}: {text[i + 1 :]!r}"
        i += 1 + rest.end()
    return found


def test_fiji_values_with_quotes_and_separators_stay_one_script_parameter_each() -> None:
    spec, job_file, config = _example("Fiji")
    shared = {"a": "x', b='injected", "c": 'say "hi", \\o/ = done', "d": "it's"}
    group = {"Well": "A1,Plate='P9'", "Plate": "Plate_1"}
    jobs = {**job_file, "shared_metadata": shared, "groups": [group]}
    (_, argv), *_ = _argvs(spec, jobs, config)
    assert _fiji_parameters(argv[-1]) == {**shared, **group}
    assert argv[-1].startswith('a="x\', b=\'injected", c=\'say "hi", \\o/ = done\', d="it\'s"')
    # A key is a parameter name: one that is not cannot be written at all.
    with pytest.raises(JobFileError, match=r"shared_metadata: key \"x='1', y\" is not a script parameter name"):
        jobs_from_data({**job_file, "shared_metadata": {"x='1', y": "2"}}, spec)


@pytest.mark.parametrize("url", ["https://example.org/scripts/stitch_plate.py", "s3://bucket/x/Macro 1.ijm"])
def test_fiji_startup_fetches_dfs_script_where_the_command_runs_it(url: str) -> None:
    spec, job_file, config = _example("Fiji")
    assert config["SCRIPT_DOWNLOAD_URL"] == "" and plan_startup(spec, config) == [], "no URL, nothing to fetch"
    config = {**config, "SCRIPT_DOWNLOAD_URL": url}
    (fetch,) = plan_startup(spec, config)
    assert isinstance(fetch, Fetch) and fetch.url == url
    assert fetch.into == "/opt/fiji/Fiji.app/plugins", "DF downloads the script into Fiji.app/plugins"
    (_, argv), *_ = _argvs(spec, job_file, config)
    assert argv[argv.index("--run") + 1] == os.path.join(fetch.into, file_name(url))
    dockerfile = (EXAMPLES / "Distributed-Fiji" / "Dockerfile").read_text()
    assert 'RUN chown "${WORKER_UID}" /opt/fiji/Fiji.app/plugins\n' in dockerfile, "only that folder, not -R"


def test_fiji_is_done_by_expected_number_files_and_uploads_to_output_file_location() -> None:
    spec, job_file, config = _example("Fiji")
    assert spec.for_job({}, "id", {**config, "EXPECTED_NUMBER_FILES": "4"}).min_files() == 4
    job = jobs_from_data(job_file, spec)[0]
    assert spec.for_job(job.values, job.job_id).output_key() == "projects/demo/fiji_output"


# ---------------------------------------------------------------- OMEZarrCreator (DOZC)


def _dozc_command(message: dict[str, Any], plate: str) -> list[str]:
    """DOZC's B2R-worker.py: its command for this plate (after the image's entrypoint)."""
    flags = ""
    if message.get("resolutions"):
        flags = flags + f" --resolutions {message['resolutions']}"
    if message.get("tile_width"):
        flags = flags + f" --tile_width {message['tile_width']}"
    if message.get("tile_height"):
        flags = flags + f" --tile_height {message['tile_height']}"
    if message.get("target-min-size"):
        flags = flags + f" --target-min-size {message['target-min-size']}"
    if message.get("additional_flags"):
        flags = flags + f" {message['additional_flags']}"
    local_plate_path = os.path.join(IN, message["input_location"], plate)
    index_path = os.path.join(local_plate_path, message["path_to_metadata"])
    zarr_path = os.path.join(OUT, f"{plate}.ome.zarr")
    return f"bioformats2raw {index_path} {zarr_path} {flags}".split()


SETTINGS = {
    "none (the example job file)": {},
    "none, as DOZC writes it (false)": {
        "resolutions": False,
        "tile_width": False,
        "tile_height": False,
        "target-min-size": False,  # DOZC's key; the field is target_min_size
        "additional_flags": False,
        "upload_flags": False,
    },
    "all": {
        "resolutions": 6,
        "tile_width": 512,
        "tile_height": "256",
        "target-min-size": 64,
        "additional_flags": "--extra-readers com.glencoesoftware.bioformats2raw.MiraxReader --no-hcs",
    },
    "some": {"tile_width": 1024, "additional_flags": "--max_workers 4"},
}


@pytest.mark.parametrize("settings", list(SETTINGS.values()), ids=list(SETTINGS))
def test_omezarrcreator_argv_is_dozcs_command_line(settings: dict[str, Any]) -> None:
    spec, job_file, config = _example("OMEZarrCreator")
    job_file = {**job_file, **settings}
    results = _argvs(spec, job_file, config)
    assert len(results) == len(job_file["plates"]) == 2
    for (values, argv), plate in zip(results, job_file["plates"], strict=True):
        assert argv == _dozc_command(job_file, plate), values
        # The plate's folder is downloaded (from input_bucket) where the command reads it; the store goes
        # under output_location (in output_bucket).
        job = spec.for_job(values, "id")
        assert job.inputs() == [Input(f"projects/demo/images/{plate}/", True, "input_bucket")]
        assert spec.output_bucket == "output_bucket"
        assert job.output_key() == "projects/demo/zarr"
        assert job.required_file() == f"{plate}.ome.zarr/.zattrs"


def test_omezarrcreator_additional_flags_split_like_a_shell_without_one() -> None:
    spec, job_file, config = _example("OMEZarrCreator")
    flags = "--extra-readers 'com.example.A Reader' --series 0,1 $(touch /tmp/pwned);"
    job_file = {**copy.deepcopy(job_file), "additional_flags": flags}
    (_, argv), *_ = _argvs(spec, job_file, config)
    assert (
        argv[3:]
        == shlex.split(flags)
        == [
            "--extra-readers",
            "com.example.A Reader",
            "--series",
            "0,1",
            "$(touch",
            "/tmp/pwned);",
        ]
    )


# ---------------------------------------------------------------- Cellpose (Distributed-Cellpose)


def _cellpose_command(job_file: dict[str, Any], folder: str) -> list[str]:
    """Cellpose 4's own command line for one folder (cellpose/cli.py of 4.2.1.1): its masks as PNGs into OUT."""
    images = os.path.join(IN, job_file["input_location"], folder)
    command = f"python -m cellpose --dir {images} --pretrained_model cpsam_v2 --save_png --no_npy --savedir {OUT}"
    command += " --use_gpu --verbose"  # CUDA when the machine has it (a g4dn's T4), else the CPU
    if job_file.get("diameter"):
        command += f" --diameter {job_file['diameter']}"
    return command.split()


@pytest.mark.parametrize("diameter", [None, 17, 22.5], ids=["Cellpose's own diameter", "17 px", "22.5 px"])
def test_cellpose_argv_is_cellposes_command_line(diameter: float | None) -> None:
    spec, job_file, config = _example("Cellpose")
    job_file = {**job_file, **({"diameter": diameter} if diameter else {})}
    results = _argvs(spec, job_file, config)
    assert len(results) == len(job_file["groups"]) == 3
    for (values, argv), group in zip(results, job_file["groups"], strict=True):
        assert argv == _cellpose_command(job_file, group["folder"]), values
        job = spec.for_job(values, "id")
        assert job.inputs() == [Input(f"projects/demo/images/{group['folder']}/", True, "")]
        assert job.output_key() == f"projects/demo/cellpose/{group['folder']}"
    assert spec.gpus == 1  # each container has a GPU of its own (the task definition's resourceRequirements)
