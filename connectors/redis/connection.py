"""Keeping a loop that needs Redis going: reconnect with exponential backoff, and say so once per outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["Reconnector", "is_lost", "reconnect_delay"]

logger = logging.getLogger(__name__)


def reconnect_delay(attempt: int, initial: float, maximum: float) -> float:
    """Seconds before attempt ``attempt`` + 1: ``initial``, doubling, at most ``maximum``."""
    return float(min(maximum, initial * 2 ** max(0, attempt - 1)))


def is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the loop must start over: Redis unreachable, or a stream's group gone.

    A Redis restarted without persistence comes back without the streams' groups (NOGROUP);
    starting over creates them again.
    """
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Reconnector:
    """Runs ``work`` until it returns (``stop`` was set), starting it over after each lost connection.

    Args:
        what: names the loop in the logs (``streams``, ``pub/sub``).
        target: where Redis is, for the logs (the URL without its password).
        stop: ends the waits between attempts.
        maximum: the longest wait between attempts, in seconds.
    """

    initial = 0.1

    def __init__(self, what: str, target: str, stop: asyncio.Event, maximum: float) -> None:
        self._what = what
        self._target = target
        self._stop = stop
        self._maximum = maximum
        self._attempt = 0

    def connected(self) -> None:
        """Called by ``work`` once Redis answered: the next outage starts from the shortest wait."""
        if self._attempt:
            logger.info("%s: connected to %s again after %d attempts", self._what, self._target, self._attempt)
        self._attempt = 0

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` until it returns, or until ``stop`` is set while waiting to try again."""
        while not self._stop.is_set():
            try:
                await work()
                return
            except Exception as exc:
                if not is_lost(exc):
                    raise
                self._attempt += 1
                delay = reconnect_delay(self._attempt, self.initial, self._maximum)
                logger.warning(
                    "%s: lost %s (%s); trying again in %.1fs (attempt %d)",
                    self._what,
                    self._target,
                    str(exc) or type(exc).__name__,
                    delay,
                    self._attempt,
                )
                await pause(self._stop, delay)
