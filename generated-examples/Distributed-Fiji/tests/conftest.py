"""Shared fixtures: an AWS emulator (moto's server) that real processes can reach."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_loader() -> Iterator[None]:
    """One botocore data loader for every session the tests make in this process.

    botocore parses a service's JSON model anew for each session (tens of ms for EC2's), and the
    tests make thousands of sessions: each command's, moto's own. The models are read-only data,
    so sharing them changes nothing a test sees; worker and run.py processes are not affected.
    """
    import botocore.loaders
    import botocore.session

    shared: dict[str | None, tuple[botocore.loaders.Loader, int]] = {}

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in shared:
            loader = botocore.loaders.create_loader(search_path_string)
            shared[search_path_string] = loader, len(loader.search_paths)
        loader, own_paths = shared[search_path_string]
        del loader.search_paths[own_paths:]  # boto3 appends its data path to each new session's loader
        return loader

    with pytest.MonkeyPatch.context() as patch:
        # Should a botocore no longer make its loaders there, the tests only lose this speed-up.
        patch.setattr(botocore.session, "create_loader", create_loader, raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def _no_default_amis() -> Iterator[None]:
    """moto fills every fresh EC2 state with its catalogue of public AMIs (a tenth of this suite's
    time); no test reads it: fleets name their AMI, or resolve one through SSM's parameters."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        yield


@pytest.fixture(scope="session", autouse=True)
def _emulator_ec2_fleet() -> None:
    """moto with the emulator's ModifyFleet (local/ec2_fleet.py), as the local mode runs it: the tests'
    in-process moto plays the run's EC2 Fleet the way the emulator does."""
    from ds_runtime.local import ec2_fleet

    ec2_fleet.install()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never reach real AWS: dummy credentials, no profile, no config files."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def moto_server(_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The endpoint of a fresh emulator state, exported as AWS_ENDPOINT_URL for boto3 and children."""
    import requests

    requests.post(f"{_moto_server}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    yield _moto_server


@pytest.fixture
def ready(tmp_path: Path) -> Iterator[Path]:
    """An emulated account after setupAccount and setup, for the test tool and config.py in tmp_path."""
    from moto import mock_aws

    from ds_runtime.control.commands.setup import setup
    from ds_runtime.control.resources.account import setup_account

    from ._control_support import make_ctx

    with mock_aws():
        ctx = make_ctx(tmp_path)
        setup_account(ctx)
        setup(ctx)
        yield tmp_path
