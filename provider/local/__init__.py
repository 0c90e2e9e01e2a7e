"""The local provider: functions run as watchdog subprocesses on loopback ports (faasq's embedded default)."""

from provider.local.provider import LocalProvider

__all__ = ["LocalProvider"]
