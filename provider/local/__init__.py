"""The local provider: functions run as watchdog subprocesses on loopback ports (faasq's embedded default)."""

from provider.local.provider import LocalProvider
from provider.local.replica import Instance

__all__ = ["Instance", "LocalProvider"]
