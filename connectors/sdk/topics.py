"""The topic map: which functions subscribe to which topic, rebuilt from the gateway's function list.

A function subscribes with the annotation ``topic`` (several topics separated by
``topic_delimiter``, whitespace trimmed). :class:`FunctionCatalog` lists the functions of every
namespace with ``GET /system/namespaces`` and ``GET /system/functions?namespace=``, and keeps the
last good list when the gateway cannot be reached or answers badly: a connector never dies
because the gateway is down (OpenFaaS's connector-sdk exits instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from pydantic import TypeAdapter, ValidationError

from provider.types import FunctionStatus

__all__ = ["TOPIC_ANNOTATION", "CatalogUnavailable", "FunctionCatalog", "Subscriber", "topic_map", "topics_of"]

logger = logging.getLogger(__name__)

TOPIC_ANNOTATION = "topic"

T = TypeVar("T")

_STATUSES = TypeAdapter(list[FunctionStatus])
_NAMESPACES = TypeAdapter(list[str])


class CatalogUnavailable(Exception):
    """The gateway could not list its functions (unreachable, an error status, or a body that is not a list)."""


@dataclass(frozen=True)
class Subscriber:
    """A deployed function as a connector sees it.

    Attributes:
        name: the name to invoke it by: ``fn``, or ``fn.ns`` when the gateway has several namespaces.
        annotations: its annotations (``topic``, ``schedule``, ...).
    """

    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)


def topics_of(annotations: Mapping[str, str], delimiter: str) -> list[str]:
    """The topics in a function's ``topic`` annotation, trimmed, empty ones dropped, in order, once each."""
    raw = annotations.get(TOPIC_ANNOTATION, "")
    return list(dict.fromkeys(topic.strip() for topic in raw.split(delimiter) if topic.strip()))


def topic_map(functions: Iterable[Subscriber], delimiter: str) -> dict[str, tuple[str, ...]]:
    """Topic → the names of the functions subscribed to it, sorted."""
    subscribed: dict[str, set[str]] = {}
    for function in functions:
        for topic in topics_of(function.annotations, delimiter):
            subscribed.setdefault(topic, set()).add(function.name)
    return {topic: tuple(sorted(names)) for topic, names in sorted(subscribed.items())}


def _subscribers(statuses: list[FunctionStatus], namespace: str, qualify: bool) -> list[Subscriber]:
    def name(status: FunctionStatus) -> str:
        return f"{status.name}.{namespace}" if qualify and namespace else status.name

    return [Subscriber(name(status), dict(status.annotations or {})) for status in statuses]


class FunctionCatalog:
    """The gateway's functions and the topic map built from them, refreshed by :meth:`run`.

    Args:
        session: an open aiohttp session.
        gateway_url: the gateway's base URL.
        delimiter: separates topics in the ``topic`` annotation.
        timeout: longest wait for one refresh, in seconds.
        headers: added to each request (the gateway's credentials).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateway_url: str,
        *,
        delimiter: str = ",",
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self._base = gateway_url.rstrip("/")
        self._delimiter = delimiter
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = dict(headers or {})
        self._functions: tuple[Subscriber, ...] = ()
        self._topics: dict[str, tuple[str, ...]] = {}
        self._failing: str | None = None
        self.version = 0
        """Goes up by one each time the list of functions changes."""
        self.built = asyncio.Event()
        """Set after the first successful refresh."""

    @property
    def functions(self) -> tuple[Subscriber, ...]:
        """The functions of the last successful refresh."""
        return self._functions

    @property
    def topics(self) -> dict[str, tuple[str, ...]]:
        """Topic → subscribed function names, as of the last successful refresh."""
        return dict(self._topics)

    def subscribers(self, topic: str) -> tuple[str, ...]:
        """The functions subscribed to ``topic`` (exact match), sorted."""
        return self._topics.get(topic, ())

    async def refresh(self) -> bool:
        """Rebuild the map from the gateway; on failure log it (once until it changes) and keep the last map."""
        try:
            functions = await self._fetch()
        except CatalogUnavailable as exc:
            if str(exc) != self._failing:
                logger.warning("keeping the last topic map (%d topics): %s", len(self._topics), exc)
            self._failing = str(exc)
            return False
        if self._failing is not None:
            logger.info("the gateway lists functions again")
            self._failing = None
        self._update(functions)
        return True

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Refresh every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    def _update(self, functions: tuple[Subscriber, ...]) -> None:
        self.built.set()
        if functions == self._functions:
            return
        self._functions = functions
        topics = topic_map(functions, self._delimiter)
        if topics != self._topics:
            logger.info("topic map: %s", {topic: list(names) for topic, names in topics.items()} or "(empty)")
        self._topics = topics
        self.version += 1

    async def _fetch(self) -> tuple[Subscriber, ...]:
        namespaces = await self._get("/system/namespaces", _NAMESPACES, missing_ok=True) or [""]
        qualify = len(namespaces) > 1
        found: list[Subscriber] = []
        for namespace in namespaces:
            query = f"?namespace={namespace}" if namespace else ""
            statuses = await self._get(f"/system/functions{query}", _STATUSES) or []
            found += _subscribers(statuses, namespace, qualify)
        return tuple(sorted(found, key=lambda function: function.name))

    async def _get(self, path: str, adapter: TypeAdapter[T], *, missing_ok: bool = False) -> T | None:
        url = f"{self._base}{path}"
        try:
            async with self._session.get(url, headers=self._headers, timeout=self._timeout) as response:
                if missing_ok and response.status == 404:
                    return None
                body = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise CatalogUnavailable(f"GET {url}: {str(exc) or type(exc).__name__}") from None
        if response.status != 200:
            raise CatalogUnavailable(f"GET {url}: {response.status} {body[:200].decode(errors='replace')}")
        try:
            return adapter.validate_json(body)
        except ValidationError as exc:
            raise CatalogUnavailable(f"GET {url}: unexpected body ({exc.error_count()} errors)") from None
