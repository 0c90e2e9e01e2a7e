"""Runners: how a call reaches the function, one per ``mode``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import cast

from watchdog.config import Mode, WatchdogSettings
from watchdog.runners.base import Runner

__all__ = ["Runner", "build_runner"]

_Factory = Callable[[WatchdogSettings, Mapping[str, str]], Runner]

# Imported on demand: only http mode needs aiohttp, and start-up time is scale-out time.
_RUNNERS = {
    Mode.SERIALIZING: ("watchdog.runners.fork", "ForkRunner"),
    Mode.STREAMING: ("watchdog.runners.streaming", "StreamingRunner"),
    Mode.HTTP: ("watchdog.runners.http", "HttpRunner"),
}


def build_runner(settings: WatchdogSettings, base_env: Mapping[str, str]) -> Runner:
    """The runner for ``settings.mode``; ``base_env`` is the environment functions inherit."""
    module, name = _RUNNERS[settings.mode]
    factory = cast(_Factory, getattr(importlib.import_module(module), name))
    return factory(settings, base_env)
