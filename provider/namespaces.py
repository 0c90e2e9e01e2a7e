"""The one namespace a provider deploys to, and the check every request's namespace passes."""

from __future__ import annotations

from provider.errors import InvalidRequest

__all__ = ["served_namespace"]


def served_namespace(namespace: str | None, own: str) -> str:
    """``namespace`` if it is the provider's ``own`` (empty or None: ``own``).

    Raises:
        InvalidRequest: any other namespace.
    """
    if not namespace:
        return own
    if namespace != own:
        raise InvalidRequest(
            f"namespace {namespace!r} is not allowed: this provider deploys to {own!r}", namespace=namespace
        )
    return namespace
