"""Startup steps: planned from config, files fetched over real HTTP and emulated S3, programs run for real."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from ds_runtime.worker.context import WorkerContext
from ds_runtime.worker.fetch import FetchError, fetch, file_name
from ds_runtime.worker.startup import Fetch, Run, plan_startup, run_startup
from ds_runtime.worker_settings import WorkerSettings

from .test_spec import make_spec

# Real git runs in some steps, as DCP's plugin steps run it.
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed on this computer")
CONFIG_KEYS = ["SCRIPT_URL", "TOOL_DIR", "UPDATE", "COMMIT", "FLAGS"]
TRUE = "(?i)^true$"
FETCH_URL = {"fetch": "{config.SCRIPT_URL}", "into": "/x"}


def fix_hint(keys: list[str]) -> str:
    """What a failure message says to fix: the step's config keys, or the spec when it reads none."""
    return f"check config.py's {', '.join(keys)}" if keys else "fix it in tool/spec.json"


def spec_with(*steps: dict[str, Any]) -> Any:
    return make_spec(config_keys=CONFIG_KEYS, startup=list(steps))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving the folder it returns."""
    root = tmp_path / "web"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    # A short poll: shutdown() returns within it, not within serve_forever's default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def context(spec: Any, config: dict[str, str], s3: Any = None) -> WorkerContext:
    settings = WorkerSettings(app_name="Toy", queue_url="q", bucket="b", region="us-east-1", log_group="g")
    return WorkerContext(settings=settings, spec=spec, s3=s3, sqs=None, logs=None, tool_config=config)


# ---------------------------------------------------------------- planning


def test_plan_renders_config_and_skips_steps_whose_condition_fails() -> None:
    spec = spec_with(
        {"fetch": "{config.SCRIPT_URL}", "into": "{config.TOOL_DIR}/plugins", "when": "config.SCRIPT_URL"},
        {"run": ["git", "fetch", "--all"], "cwd": "{config.TOOL_DIR}", "when": "config.UPDATE", "matches": TRUE},
        {"run": ["git", "checkout", "{config.COMMIT}"], "when": "config.COMMIT", "matches": "(?i)^(?!false$)"},
        {"run": ["pip", "install", "-e", ".", {"split": "{config.FLAGS}"}, "{config.SCRIPT_URL|basename}"]},
    )
    config = {"SCRIPT_URL": "https://h.test/s/a.py", "TOOL_DIR": "/opt/t", "UPDATE": "True", "COMMIT": "v1"}
    assert plan_startup(spec, {**config, "FLAGS": "x 'y z'"}) == [
        Fetch("startup[0]", ("SCRIPT_URL", "TOOL_DIR"), "https://h.test/s/a.py", "/opt/t/plugins"),
        Run("startup[1]", ("UPDATE", "TOOL_DIR"), ("git", "fetch", "--all"), "/opt/t"),
        Run("startup[2]", ("COMMIT",), ("git", "checkout", "v1"), None),
        Run("startup[3]", ("FLAGS", "SCRIPT_URL"), ("pip", "install", "-e", ".", "x", "y z", "a.py"), None),
    ]
    unset = {"SCRIPT_URL": "", "TOOL_DIR": "/opt/t", "UPDATE": "False", "COMMIT": "false", "FLAGS": ""}
    only_pip = Run("startup[3]", ("FLAGS", "SCRIPT_URL"), ("pip", "install", "-e", ".", ""), None)
    assert plan_startup(spec, unset) == [only_pip]


@pytest.mark.parametrize(
    ("step", "config", "message"),
    [
        (FETCH_URL, {"SCRIPT_URL": "https://h.test/dir/"}, "does not end in a file"),
        (FETCH_URL, {"SCRIPT_URL": "ftp://h.test/a.py"}, "not an http://"),
        (FETCH_URL, {"SCRIPT_URL": "https://h.test/a/.."}, "does not end in a file"),
        ({"fetch": "https://h.test/a.py", "into": "{config.TOOL_DIR}"}, {"TOOL_DIR": "rel/dir"}, "not an absolute"),
        ({"run": ["x"], "cwd": "{config.TOOL_DIR}"}, {"TOOL_DIR": ""}, "not an absolute folder"),
        ({"run": ["{config.TOOL_DIR}"]}, {"TOOL_DIR": ""}, "renders to no program"),
        ({"run": ["x", {"split": "{config.FLAGS}"}]}, {"FLAGS": "'open"}, "cannot split"),
        ({"run": ["x", "{config.FLAGS}"]}, {}, "FLAGS is not in the worker's environment"),
    ],
)
def test_plan_refuses_bad_config_naming_the_step_and_the_key(step: dict, config: dict, message: str) -> None:
    spec = spec_with({"run": ["true"]}, step)
    with pytest.raises(ValueError, match=message) as refused:
        plan_startup(spec, config)
    assert str(refused.value).startswith("startup[1]: ")
    assert fix_hint(spec.startup[1].config_keys()) in str(refused.value)


def test_file_name_is_the_urls_last_path_segment() -> None:
    assert file_name("https://h.test/a/b/Macro%201.ijm") == "Macro%201.ijm", "as |basename writes it"
    assert file_name("https://h.test/a/b/Macro 1.ijm") == "Macro 1.ijm"
    assert file_name("https://h.test/a/script.py?version=2#top") == "script.py"
    assert file_name("s3://bucket/scripts/a b.py") == "a b.py"
    for bad in ["https://h.test", "https://h.test/", "s3://bucket", "https://h.test/a/..", "file:///etc/passwd"]:
        with pytest.raises(FetchError):
            file_name(bad)


# ---------------------------------------------------------------- fetching


def test_http_fetch_writes_the_file_atomically_into_a_new_folder(web: tuple[str, Path], tmp_path: Path) -> None:
    base, root = web
    (root / "scripts").mkdir()
    (root / "scripts" / "Macro 1.ijm").write_text("run('x');\n")
    into = tmp_path / "Fiji.app" / "plugins"  # missing: created
    path = fetch(f"{base}/scripts/Macro 1.ijm", into, s3=None)
    assert path == into / "Macro 1.ijm" and path.read_text() == "run('x');\n"
    assert [p.name for p in into.iterdir()] == ["Macro 1.ijm"], "no temporary file is left"
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_fetch_keeps_the_previous_copy(web: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = web
    into = tmp_path / "plugins"
    into.mkdir()
    (into / "a.py").write_text("old")
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{base}/a.py", into, s3=None)
    with pytest.raises(FetchError, match="cannot reach"):
        fetch("http://127.0.0.1:9/a.py", into, s3=None)  # the discard port: nothing listens
    assert (into / "a.py").read_text() == "old"
    assert [p.name for p in into.iterdir()] == ["a.py"], "no temporary file is left"


def test_fetch_into_a_folder_it_cannot_write_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "plugins"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(FetchError, match=f"cannot write into {blocker}"):
        fetch("https://h.test/a.py", blocker, s3=None)


def test_s3_fetch_uses_the_workers_client(moto_server: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="scripts-bucket")
    s3.put_object(Bucket="scripts-bucket", Key="df/stitch plate.py", Body=b"print('stitch')\n")
    path = fetch("s3://scripts-bucket/df/stitch plate.py", tmp_path, s3)
    assert path.read_bytes() == b"print('stitch')\n" and path.name == "stitch plate.py"
    with pytest.raises(FetchError, match=r"S3 refused s3://scripts-bucket/df/missing\.py: 404"):
        fetch("s3://scripts-bucket/df/missing.py", tmp_path, s3)
    assert [p.name for p in tmp_path.iterdir()] == ["stitch plate.py"]


# ---------------------------------------------------------------- running the steps


def git_repo(path: Path) -> Path:
    """A real repository with a tag v1 and one more commit after it."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for text, tag in (("one", "v1"), ("two", "")):
        (path / "plugin.py").write_text(text)
        subprocess.run([*git, "-C", str(path), "add", "."], check=True)
        subprocess.run([*git, "-C", str(path), "commit", "-qm", text], check=True)
        if tag:
            subprocess.run(["git", "-C", str(path), "tag", tag], check=True)
    return path


@needs_git
def test_steps_run_in_order_with_real_programs(web: tuple[str, Path], tmp_path: Path, caplog: Any) -> None:
    base, root = web
    (root / "a.py").write_text("fetched")
    repo = git_repo(tmp_path / "plugins")
    spec = spec_with(
        {"fetch": "{config.SCRIPT_URL}", "into": "{config.TOOL_DIR}", "when": "config.SCRIPT_URL"},
        {"run": ["git", "checkout", "-q", "{config.COMMIT}"], "cwd": "{config.TOOL_DIR}", "when": "config.COMMIT"},
        {"run": [sys.executable, "-c", "import pathlib; print('saw', open('a.py').read())"], "cwd": str(repo)},
    )
    config = {"SCRIPT_URL": f"{base}/a.py", "TOOL_DIR": str(repo), "COMMIT": "v1"}
    with caplog.at_level(logging.INFO):
        assert run_startup(context(spec, config)) is True
    assert (repo / "plugin.py").read_text() == "one", "the tag was checked out"
    assert "startup[2] | saw fetched" in caplog.messages, "each step sees the one before, output is logged"


@needs_git
@pytest.mark.parametrize(
    ("step", "config", "why"),
    [
        ({"run": ["git", "checkout", "{config.COMMIT}"], "cwd": "{config.TOOL_DIR}"}, {"COMMIT": "v9"}, "git exited"),
        ({"run": ["no-such-program-here"]}, {}, "'no-such-program-here' could not be started"),
        ({"run": ["git", "status"], "cwd": "{config.TOOL_DIR}/gone"}, {}, "does not exist"),
        ({"fetch": "{config.SCRIPT_URL}", "into": "{config.TOOL_DIR}"}, {"SCRIPT_URL": "/nothing.py"}, "HTTP 404"),
    ],
)
def test_a_failing_step_stops_startup_and_says_which_key_to_check(
    web: tuple[str, Path], tmp_path: Path, caplog: Any, step: dict, config: dict, why: str
) -> None:
    base, _ = web
    repo = git_repo(tmp_path / "plugins")
    marker = tmp_path / "never"
    spec = spec_with(step, {"run": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]})
    config = {"TOOL_DIR": str(repo), **config}
    if config.get("SCRIPT_URL", "").startswith("/"):
        config["SCRIPT_URL"] = base + config["SCRIPT_URL"]
    with caplog.at_level(logging.INFO):
        assert run_startup(context(spec, config)) is False
    (failure,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.startswith("startup[0] failed: ") and why in failure
    assert fix_hint(spec.startup[0].config_keys()) in failure
    assert not marker.exists(), "no later step ran"


def test_a_bad_config_value_fails_before_any_step_runs(tmp_path: Path, caplog: Any) -> None:
    marker = tmp_path / "ran"
    spec = spec_with(
        {"run": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]},
        {"fetch": "{config.SCRIPT_URL}", "into": "/opt/x", "when": "config.SCRIPT_URL"},
    )
    assert run_startup(context(spec, {"SCRIPT_URL": "https://h.test/folder/"})) is False
    assert not marker.exists()
    assert "startup[1]: " in caplog.text and "SCRIPT_URL" in caplog.text


def test_a_stop_request_ends_a_running_step(tmp_path: Path) -> None:
    spec = spec_with({"run": [sys.executable, "-c", "import time; time.sleep(60)"]})
    ctx = context(spec, {})
    threading.Timer(0.5, ctx.stop.set).start()
    assert run_startup(ctx) is False
