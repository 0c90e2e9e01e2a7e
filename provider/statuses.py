"""The one place that turns provider errors into HTTP status codes (faas-provider's, see REFERENCE.md §1)."""

from __future__ import annotations

from provider.errors import (
    DeployFailed,
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    NoReplicaAvailable,
    NotSupported,
    ProviderError,
    SecretExists,
    SecretNotFound,
)

__all__ = ["status_for"]

_STATUS: dict[type[ProviderError], int] = {
    InvalidRequest: 400,
    FunctionNotFound: 404,
    SecretNotFound: 404,
    FunctionExists: 409,
    SecretExists: 409,
    DeployFailed: 500,
    NotSupported: 501,
    NoReplicaAvailable: 503,
}


def status_for(exc: ProviderError) -> int:
    """The HTTP status of a provider error; an error outside the known tree is a 500."""
    return next((status for cls, status in _STATUS.items() if isinstance(exc, cls)), 500)
