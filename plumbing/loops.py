"""Which event loop each component runs on, and a name for the one running.

The gateway and the queue worker run on uvloop: they spawn no processes, and it costs them
less CPU a call. The watchdog and the provider keep asyncio's own loop: they start processes,
and uvloop forks where asyncio's loop uses ``vfork`` (about three times slower a spawn).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["running_loop", "uvloop_factory"]


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop factory of uvloop where it is installed; None (asyncio's loop) where it is not."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - installed with faasq
        return None
    return uvloop.new_event_loop


def running_loop() -> str:
    """``uvloop`` or ``asyncio``: the package of the event loop running now."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
