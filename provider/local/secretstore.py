"""Secrets as files: one per secret, mode 0600 in a 0700 directory per namespace.

Replicas get copies in their own ``secret_mount_path`` directory, as Kubernetes
projects them at ``/var/openfaas/secrets/<name>``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from provider.errors import InvalidRequest, SecretExists, SecretNotFound
from provider.local.state import atomic_write, private_dir
from provider.types import DNS_LABEL, Secret

__all__ = ["SecretStore"]

logger = logging.getLogger(__name__)


def _checked(name: str, namespace: str) -> str:
    # The name becomes a path: anything but a DNS label could escape the directory.
    if not DNS_LABEL.fullmatch(name):
        raise InvalidRequest(f"invalid secret name {name!r}: use a DNS label", name=name, namespace=namespace)
    return name


class SecretStore:
    """Secrets under ``<root>/<namespace>/<name>``."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, name: str, namespace: str) -> Path:
        return self._root / namespace / _checked(name, namespace)

    def names(self, namespace: str) -> list[str]:
        """Names of the namespace's secrets, sorted."""
        folder = self._root / namespace
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if DNS_LABEL.fullmatch(p.name) and p.is_file())

    def exists(self, name: str, namespace: str) -> bool:
        """Whether the secret is stored."""
        return self._path(name, namespace).is_file()

    def create(self, secret: Secret, namespace: str) -> None:
        """Store a new secret.

        Raises:
            SecretExists: one of that name is stored already.
        """
        if self.exists(secret.name, namespace):
            raise SecretExists(secret.name, namespace)
        self._write(secret, namespace)

    def update(self, secret: Secret, namespace: str) -> None:
        """Replace a stored secret's value.

        Raises:
            SecretNotFound: no such secret.
        """
        if not self.exists(secret.name, namespace):
            raise SecretNotFound(secret.name, namespace)
        self._write(secret, namespace)

    def delete(self, name: str, namespace: str) -> None:
        """Remove a secret.

        Raises:
            SecretNotFound: no such secret.
        """
        try:
            self._path(name, namespace).unlink()
        except FileNotFoundError:
            raise SecretNotFound(name, namespace) from None

    def _write(self, secret: Secret, namespace: str) -> None:
        path = self._path(secret.name, namespace)
        private_dir(path.parent)
        atomic_write(path, secret.payload(), mode=0o600)

    def copy_into(self, names: Iterable[str], namespace: str, target: Path) -> None:
        """Copy secrets into ``target`` (mode 0600), replacing older copies; missing ones are logged."""
        private_dir(target)
        for name in names:
            try:
                data = self._path(name, namespace).read_bytes()
            except FileNotFoundError:
                logger.warning("secret %s.%s is gone; replicas started now will not see it", name, namespace)
                with contextlib.suppress(FileNotFoundError):
                    (target / name).unlink()
                continue
            atomic_write(target / name, data, mode=0o600)
