"""Basic auth on the system API, as the OpenFaaS gateway does it, as pure ASGI middleware.

With ``basic_auth=true`` the credentials are the files ``basic-auth-user`` and
``basic-auth-password`` in ``secret_mount_path``. ``/system/*`` and faasq's admin routes
(``/async-calls/*`` and its alias, the cancel form ``DELETE /async-function/<call-id>``)
require them; ``/function/``, ``/async-function/`` and ``/healthz`` stay open.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.calls import cancel_form_call_id
from plumbing.asgi import send_text

__all__ = ["PROTECTED_PREFIXES", "BasicAuth", "Credentials", "is_protected", "parse_basic_auth", "read_credentials"]

PROTECTED_PREFIXES = ("/system", "/async-calls", "/async-batches")
"""Path prefixes that need credentials (each also protects ``<prefix>/…``)."""

USER_FILE = "basic-auth-user"
PASSWORD_FILE = "basic-auth-password"  # noqa: S105 - a file name, not a password


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
    """Read the gateway's credentials from ``folder``, trimming surrounding whitespace as OpenFaaS does.

    Raises:
        OSError: a file is missing or unreadable.
        ValueError: the user is empty.
    """
    user = (folder / USER_FILE).read_text().strip()
    password = (folder / PASSWORD_FILE).read_text().strip()
    if not user:
        raise ValueError(f"{folder / USER_FILE} is empty")
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


def is_protected(path: str, method: str = "GET") -> bool:
    """Whether a request for ``path`` with ``method`` needs credentials."""
    if any(path == prefix or path.startswith(prefix + "/") for prefix in PROTECTED_PREFIXES):
        return True
    return cancel_form_call_id(method, path) is not None


class BasicAuth:
    """Answer 401 to a request for a protected path without the right credentials.

    Args:
        app: the rest of the application.
        credentials: the accepted user and password.
    """

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the credentials of a protected request; pass everything else on."""
        if scope["type"] != "http" or not is_protected(scope["path"], scope["method"]) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        # OpenFaaS: exactly this challenge and body.
        await send_text(send, 401, "invalid credentials", [(b"www-authenticate", b'Basic realm="Restricted"')])

    def _authorized(self, scope: Scope) -> bool:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        given = parse_basic_auth(header.decode("latin-1") if header is not None else None)
        return given is not None and self.credentials.matches(given)
