"""Gateway credentials in faas-cli's own config file, so a login with either tool serves both.

faas-cli keeps them in ``$OPENFAAS_CONFIG/config.yml`` (default ``~/.openfaas/config.yml``) as
``auths: [{gateway, auth: basic, token: base64("user:password")}]``, among keys faasq leaves alone.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from faasq.errors import CliError

__all__ = ["config_path", "forget", "lookup", "remember"]


def config_path(environ: Mapping[str, str]) -> Path:
    """faas-cli's config file: ``$OPENFAAS_CONFIG/config.yml``, else ``~/.openfaas/config.yml``."""
    directory = environ.get("OPENFAAS_CONFIG") or str(Path(environ.get("HOME") or Path.home()) / ".openfaas")
    return Path(directory) / "config.yml"


def lookup(path: Path, gateway: str) -> tuple[str, str] | None:
    """The (user, password) saved for a gateway URL, or None.

    Raises:
        CliError: the config file exists but cannot be read.
    """
    for entry in _auths(_read(path)):
        if _same(entry.get("gateway"), gateway) and entry.get("auth") == "basic":
            return _decode_token(path, entry.get("token"))
    return None


def remember(path: Path, gateway: str, username: str, password: str) -> None:
    """Save credentials for a gateway, replacing earlier ones; the file is readable by its owner only."""
    document = _read(path)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    others = [entry for entry in _auths(document) if not _same(entry.get("gateway"), gateway)]
    document["auths"] = [*others, {"gateway": gateway, "auth": "basic", "token": token}]
    _write(path, document)


def forget(path: Path, gateway: str) -> bool:
    """Remove a gateway's credentials; whether there were any."""
    document = _read(path)
    kept = [entry for entry in _auths(document) if not _same(entry.get("gateway"), gateway)]
    if len(kept) == len(_auths(document)):
        return False
    document["auths"] = kept
    _write(path, document)
    return True


def _same(saved: object, gateway: str) -> bool:
    return isinstance(saved, str) and saved.rstrip("/") == gateway.rstrip("/")


def _auths(document: dict[str, Any]) -> list[dict[str, Any]]:
    auths = document.get("auths")
    return [entry for entry in auths if isinstance(entry, dict)] if isinstance(auths, list) else []


def _decode_token(path: Path, token: object) -> tuple[str, str]:
    try:
        username, colon, password = base64.b64decode(str(token), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        colon = ""
    if not colon:
        raise CliError(f"{path}: a saved token is not base64 'user:password'; log in again")
    return username, password


def _read(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    return document if isinstance(document, dict) else {}


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    # Created 0600 from the start: the file holds passwords.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        yaml.safe_dump(document, file, sort_keys=False)
    temporary.replace(path)
