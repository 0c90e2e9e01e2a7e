"""Errors a provider raises; only the REST app chooses status codes for them.

ProviderError
 ├── InvalidRequest        bad input, nothing changed            (400)
 ├── FunctionNotFound      no such function                      (404)
 ├── FunctionExists        deploy of a name already deployed     (409)
 ├── SecretNotFound        no such secret                        (404)
 ├── SecretExists          create of a secret already stored     (409)
 ├── NoReplicaAvailable    no replica became ready in time       (503)
 ├── DeployFailed          the backend could not apply a change  (500)
 └── NotSupported          the backend lacks this capability     (501)
"""

from __future__ import annotations

__all__ = [
    "DeployFailed",
    "FunctionExists",
    "FunctionNotFound",
    "InvalidRequest",
    "NoReplicaAvailable",
    "NotSupported",
    "ProviderError",
    "SecretExists",
    "SecretNotFound",
]


class ProviderError(Exception):
    """Base of every provider error; carries the function (or secret) and namespace it concerns."""

    def __init__(self, message: str, *, name: str = "", namespace: str = "") -> None:
        super().__init__(message)
        self.name = name
        self.namespace = namespace


class InvalidRequest(ProviderError):
    """The request is malformed or not acceptable; nothing was changed."""


class FunctionNotFound(ProviderError):
    """No function of that name exists in that namespace."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(f"function {name!r} not found in namespace {namespace!r}", name=name, namespace=namespace)


class FunctionExists(ProviderError):
    """A function of that name already exists; use update."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(f"function {name!r} already exists in namespace {namespace!r}", name=name, namespace=namespace)


class SecretNotFound(ProviderError):
    """No secret of that name exists in that namespace."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(f"secret {name!r} not found in namespace {namespace!r}", name=name, namespace=namespace)


class SecretExists(ProviderError):
    """A secret of that name already exists; use update."""

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(f"secret {name!r} already exists in namespace {namespace!r}", name=name, namespace=namespace)


class NoReplicaAvailable(ProviderError):
    """The function has no ready replica and none became ready before the deadline."""


class DeployFailed(ProviderError):
    """The backend failed to apply a change."""


class NotSupported(ProviderError):
    """The backend does not implement this capability."""
