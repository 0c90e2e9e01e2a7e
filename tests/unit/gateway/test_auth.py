"""Basic auth: header parsing, credentials files, which paths are protected."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from plumbing.credentials import Credentials, CredentialsError, parse_basic_auth, read_credentials


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("admin:secret"), Credentials("admin", "secret")),
        (basic("admin:"), Credentials("admin", "")),
        (basic("admin:with:colons"), Credentials("admin", "with:colons")),
        ("basic " + base64.b64encode(b"a:b").decode(), Credentials("a", "b")),
        (None, None),
        ("", None),
        ("Bearer abc", None),
        ("Basic !!!notbase64", None),
        (basic("no-colon"), None),
        ("Basic " + base64.b64encode(b"\xff:\xfe").decode(), None),
    ],
)
def test_parse_basic_auth(header: str | None, expected: Credentials | None) -> None:
    assert parse_basic_auth(header) == expected


def test_credentials_compare_both_parts() -> None:
    right = Credentials("admin", "secret")
    assert right.matches(Credentials("admin", "secret"))
    assert not right.matches(Credentials("admin", "wrong"))
    assert not right.matches(Credentials("root", "secret"))
    assert "secret" not in repr(right)
    assert parse_basic_auth(right.header()) == right


def test_read_credentials_trims_whitespace(tmp_path: Path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text("  s3cret \n")
    assert read_credentials(tmp_path) == Credentials("admin", "s3cret")


def test_read_credentials_needs_both_files_and_a_user(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"cannot read .*basic-auth-user: No such file"):
        read_credentials(tmp_path)
    (tmp_path / "basic-auth-user").write_text("\n")
    (tmp_path / "basic-auth-password").write_text("x")
    with pytest.raises(CredentialsError, match="basic-auth-user is empty"):
        read_credentials(tmp_path)
