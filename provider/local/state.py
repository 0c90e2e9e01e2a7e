"""Deployments on disk, one JSON file per function, written atomically (temp file, fsync, rename)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provider.types import FunctionDeployment

__all__ = ["StateStore", "StoredFunction", "atomic_write", "private_dir"]

logger = logging.getLogger(__name__)


class StoredFunction(BaseModel):
    """A deployed function as kept on disk."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    deployment: FunctionDeployment
    replicas: int = Field(ge=0, description="Desired replicas.")
    created_at: datetime = Field(alias="createdAt")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new content, never a mix."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class StateStore:
    """Deployments under ``<root>/<namespace>/<name>.json``; names are validated before they get here."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, namespace: str, name: str) -> Path:
        return self._root / namespace / f"{name}.json"

    def save(self, namespace: str, record: StoredFunction) -> None:
        """Write one function's record."""
        path = self._path(namespace, record.deployment.service)
        private_dir(path.parent)
        atomic_write(path, record.model_dump_json(exclude_none=True, indent=2).encode())

    def remove(self, namespace: str, name: str) -> None:
        """Forget a function; a missing file is fine."""
        with contextlib.suppress(FileNotFoundError):
            self._path(namespace, name).unlink()

    def load(self, namespace: str) -> list[StoredFunction]:
        """Every readable record of a namespace, by name; unreadable files are logged and skipped."""
        records = []
        for path in sorted((self._root / namespace).glob("*.json")):
            try:
                records.append(StoredFunction.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError) as exc:
                logger.error("skipping unreadable deployment %s: %s", path, exc)
        return records
