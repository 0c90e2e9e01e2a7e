"""The gateway's basic-auth credentials: the files OpenFaaS mounts, and the ``Authorization`` header.

With ``basic_auth=true`` the credentials are the files ``basic-auth-user`` and
``basic-auth-password`` in ``secret_mount_path``; the gateway checks them, and the queue
worker and the connectors send them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PASSWORD_FILE", "USER_FILE", "Credentials", "CredentialsError", "parse_basic_auth", "read_credentials"]

USER_FILE = "basic-auth-user"
PASSWORD_FILE = "basic-auth-password"  # noqa: S105 - a file name, not a password


class CredentialsError(ValueError):
    """A credentials file is missing or unreadable, or holds no user."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user and password."""

    user: str
    password: str = ""

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password='***')"

    def header(self) -> str:
        """These credentials as an ``Authorization`` header value."""
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")

    def matches(self, other: Credentials) -> bool:
        """Constant-time comparison of both parts."""
        user = hmac.compare_digest(self.user.encode(), other.user.encode())
        password = hmac.compare_digest(self.password.encode(), other.password.encode())
        return user & password


def read_credentials(folder: Path) -> Credentials:
    """Read the credentials from ``folder``, trimming surrounding whitespace as OpenFaaS does.

    Raises:
        CredentialsError: a file is missing or unreadable, or the user is empty; the message names the file.
    """
    try:
        user = (folder / USER_FILE).read_text().strip()
        password = (folder / PASSWORD_FILE).read_text().strip()
    except OSError as exc:
        raise CredentialsError(f"cannot read {exc.filename}: {exc.strerror}") from None
    if not user:
        raise CredentialsError(f"{folder / USER_FILE} is empty")
    return Credentials(user, password)


def parse_basic_auth(header: str | None) -> Credentials | None:
    """The credentials of an ``Authorization: Basic …`` header, or None if it is absent or malformed."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return Credentials(user, password) if colon else None
