"""faasq's release, as ``GET /system/info`` reports it."""

from __future__ import annotations

import importlib.metadata

__all__ = ["release"]


def release() -> str:
    """The installed faasq version, or ``unknown`` in a source tree that was never installed."""
    try:
        return importlib.metadata.version("faasq")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
