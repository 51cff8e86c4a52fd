"""AWS_PROFILE as DS users have it: 'default' without ~/.aws means the default credential chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from ds_runtime.aws import ProfileError, make_session, resolve_profile


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ~/.aws of our own, keys in the environment (as on CI or an instance)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / ".aws" / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    return tmp_path / ".aws"


def test_default_profile_without_aws_files_falls_back_with_a_note(aws_files: Path) -> None:
    notes: list[str] = []
    assert resolve_profile("default", notes.append) is None
    assert notes == [
        "AWS_PROFILE = 'default' is not a profile in ~/.aws; using the default credentials "
        "(environment variables, instance role)"
    ]
    credentials = make_session(None, "us-east-1").get_credentials()
    assert credentials is not None and credentials.access_key == "AKIDENV"


def test_named_profile_is_used_when_it_exists(aws_files: Path) -> None:
    aws_files.mkdir()
    (aws_files / "credentials").write_text("[lab]\naws_access_key_id = AKIDLAB\naws_secret_access_key = s\n")
    notes: list[str] = []
    assert resolve_profile("lab", notes.append) == "lab"
    assert notes == []
    assert make_session("lab", "us-east-1").get_credentials().access_key == "AKIDLAB"


@pytest.mark.parametrize("profile", [None, ""])
def test_no_profile_is_the_default_chain(aws_files: Path, profile: str | None) -> None:
    assert resolve_profile(profile) is None


def test_other_missing_profile_is_an_error_saying_how_to_list_profiles(aws_files: Path) -> None:
    aws_files.mkdir()
    (aws_files / "config").write_text("[profile lab]\nregion = us-east-1\n")
    with pytest.raises(ProfileError) as caught:
        resolve_profile("labb")
    message = str(caught.value)
    assert "AWS_PROFILE = 'labb' is not a profile on this computer (found: lab)" in message
    assert "aws configure list-profiles" in message
