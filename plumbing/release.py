"""faasq's release, as ``GET /system/info`` and every ``User-Agent`` faasq sends report it."""

from __future__ import annotations

import importlib.metadata

__all__ = ["release", "user_agent"]


def release() -> str:
    """The installed faasq version, or ``unknown`` in a source tree that was never installed."""
    try:
        return importlib.metadata.version("faasq")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - every test run installs faasq
        return "unknown"


def user_agent(component: str) -> str:
    """``<component>/<release>``, e.g. ``faasq-queue-worker/0.1.0``."""
    return f"{component}/{release()}"
