"""Which functions exist and which queue each uses: provider lookups behind a short-lived cache.

``/async-function/`` must not queue a call for an unknown function, but must not ask the
provider on every call either: a function found is remembered for ``function_cache_ttl``;
a miss, or an expired entry, asks again (one request per function however many callers wait).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import aiohttp
from pydantic import TypeAdapter, ValidationError

from calls.flow import Limits, Priority
from calls.retry_settings import RetryOverrides
from calls.wire import QUEUE_ANNOTATION, queue_of, queue_subject
from gateway.errors import FunctionNotFound, InvalidRequest, ProviderUnavailable, QueueMisconfigured
from plumbing.sessions import SessionOwner
from provider.types import FunctionStatus, flow_annotations

__all__ = [
    "Destination",
    "FunctionDirectory",
    "FunctionLookup",
    "ProviderLookup",
    "limits_of",
    "queue_of",
    "retry_of",
]

logger = logging.getLogger(__name__)

_NAMESPACES = TypeAdapter(list[str])
_LISTING = TypeAdapter(list[FunctionStatus])


class FunctionLookup(Protocol):
    """Asks the provider about one function."""

    async def startup(self) -> None:
        """Open connections; called once before ``get``."""

    async def shutdown(self) -> None:
        """Close connections."""

    async def get(self, name: str, namespace: str) -> FunctionStatus | None:
        """The function's status, or None if the provider does not know it.

        Raises:
            InvalidRequest: the provider refused the name or namespace.
            ProviderUnavailable: the provider could not be asked, or answered with an error.
        """

    async def listing(self) -> list[FunctionStatus]:
        """Every function the provider runs, in every namespace it serves.

        Raises:
            ProviderUnavailable: the provider could not be asked, or answered with an error.
        """

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        """Ask the provider for ``replicas`` replicas of the function.

        Raises:
            ProviderUnavailable: the provider could not be asked, or answered with an error.
        """


def retry_of(status: FunctionStatus) -> tuple[RetryOverrides | None, str]:
    """The function's retry annotations, parsed; else None and why they are refused, naming the annotation."""
    try:
        return RetryOverrides.from_values(status.annotations or {}, lambda setting: setting.annotation), ""
    except ValueError as exc:
        return None, f"function {status.name!r} has an invalid annotation {exc}"


def limits_of(status: FunctionStatus) -> tuple[Limits | None, Priority, str]:
    """The function's flow-control annotations: its limits (None: none), its calls' default priority, and "".

    Annotations that do not read give no limits, ``normal``, and why they are refused.
    """
    try:
        flow = flow_annotations(status.annotations)
    except ValueError as exc:
        return None, Priority.NORMAL, f"function {status.name!r} has an invalid {exc}"
    limits = Limits(flow.concurrency, flow.concurrency_per_key, "", flow.rate, flow.rate_burst)
    priority = Priority(flow.priority or Priority.NORMAL)
    return (limits if limits.concurrency or limits.per_key or limits.rate else None), priority, ""


class ProviderLookup(SessionOwner):
    """A :class:`FunctionLookup` over the provider's ``GET /system/function/<name>?namespace=``.

    Args:
        base_url: the provider's base URL.
        timeout: longest time, in seconds, one lookup may take.
        authorization: the ``Authorization`` header with the gateway's own credentials, when basic auth is on.
    """

    def __init__(self, base_url: str, *, timeout: float, authorization: str | None = None) -> None:
        super().__init__(skip_auto_headers=(), auto_decompress=True)
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"Authorization": authorization} if authorization else {}

    async def startup(self) -> None:
        """Open the HTTP session."""
        await self.__aenter__()

    async def shutdown(self) -> None:
        """Close the HTTP session."""
        await self.__aexit__(None, None, None)

    async def get(self, name: str, namespace: str) -> FunctionStatus | None:
        """Ask the provider; 404 means no such function."""
        url = f"{self._base}/system/function/{name}"
        params = {"namespace": namespace}
        try:
            async with self.session.get(url, params=params, headers=self._headers, timeout=self._timeout) as response:
                if response.status == 404:
                    return None
                if response.status == 400:  # e.g. a namespace this provider does not serve
                    raise InvalidRequest((await response.text()).strip(), function=name)
                if response.status != 200:
                    raise ProviderUnavailable(
                        f"the provider answered {response.status} to a lookup of function {name!r}", function=name
                    )
                return FunctionStatus.model_validate_json(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
            raise ProviderUnavailable(
                f"cannot look up function {name!r} at the provider: {str(exc) or type(exc).__name__}", function=name
            ) from None

    async def listing(self) -> list[FunctionStatus]:
        """``GET /system/namespaces``, then ``GET /system/functions?namespace=`` for each."""
        try:
            namespaces = _NAMESPACES.validate_json(await self._read("/system/namespaces", {}))
            found: list[FunctionStatus] = []
            for namespace in namespaces:
                found += _LISTING.validate_json(await self._read("/system/functions", {"namespace": namespace}))
            return found
        except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
            raise ProviderUnavailable(
                f"cannot list functions at the provider: {str(exc) or type(exc).__name__}"
            ) from None

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        """``POST /system/scale-function/<name>``."""
        url = f"{self._base}/system/scale-function/{name}"
        body = {"serviceName": name, "namespace": namespace, "replicas": replicas}
        try:
            async with self.session.post(url, json=body, headers=self._headers, timeout=self._timeout) as response:
                if response.status not in (200, 202):
                    text = (await response.text()).strip()
                    raise ProviderUnavailable(f"the provider answered {response.status} to scaling {name!r}: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(
                f"cannot scale function {name!r} at the provider: {str(exc) or type(exc).__name__}", function=name
            ) from None

    async def _read(self, path: str, params: dict[str, str]) -> bytes:
        url = f"{self._base}{path}"
        async with self.session.get(url, params=params, headers=self._headers, timeout=self._timeout) as response:
            if response.status != 200:
                raise ProviderUnavailable(f"the provider answered {response.status} to {path}")
            return await response.read()


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a function's calls go: its queue, and that queue's subject (a call's own is ``<subject>.<call-token>``)."""

    queue: str
    subject: str
    retry: RetryOverrides | None = None
    """The function's own retry settings, from its ``com.openfaas.retry.*`` annotations."""
    annotation_error: str = ""
    """Why the function's retry or flow annotations are refused; its calls get 400 until they are fixed."""
    limits: Limits | None = None
    """The function's limits, from its ``com.faasq.*`` flow-control annotations; None: none."""
    priority: Priority = Priority.NORMAL
    """Its calls' priority where they do not set ``X-Priority`` (``com.faasq.priority``)."""

    def limits_for(self, key: str) -> Limits | None:
        """The limits of a call with concurrency key ``key`` (a digest; empty: none)."""
        if self.limits is None or not (key and self.limits.per_key):
            return self.limits
        return replace(self.limits, key=key)


@dataclass(frozen=True, slots=True)
class _Entry:
    destination: Destination
    expires: float


class FunctionDirectory:
    """The queue each function's calls are published to, from cached provider lookups.

    Args:
        lookup: asks the provider.
        stream: the calls' stream; queues' subjects are ``<stream>.<queue>``.
        ttl: seconds a found function is remembered.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self, lookup: FunctionLookup, *, stream: str, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lookup = lookup
        self._stream = stream
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[Destination]] = {}

    def cached(self, name: str, namespace: str) -> Destination | None:
        """Where a call goes, if a lookup within the TTL said so; None means ask :meth:`destination_of`."""
        entry = self._entries.get((name, namespace))
        return entry.destination if entry is not None and entry.expires > self._clock() else None

    async def destination_of(self, name: str, namespace: str) -> Destination:
        """Where a call to ``name`` in ``namespace`` goes.

        Raises:
            FunctionNotFound: the provider does not know the function.
            ProviderUnavailable: the provider could not be asked and nothing is cached.
            QueueMisconfigured: the function's queue annotation is not a valid queue name.
        """
        entry = self._entries.get((name, namespace))
        if entry is not None and entry.expires > self._clock():
            return entry.destination
        key = (name, namespace)
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._refresh(name, namespace, entry))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        # One lookup serves every caller waiting on it; a caller that gives up must not cancel it.
        return await asyncio.shield(task)

    def _settle(self, key: tuple[str, str], task: asyncio.Task[Destination]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: waiters that gave up must not leave it unobserved

    async def _refresh(self, name: str, namespace: str, stale: _Entry | None) -> Destination:
        try:
            status = await self._lookup.get(name, namespace)
        except ProviderUnavailable as exc:
            if stale is None:
                raise
            # A provider restart should not stop async calls to functions known a moment ago.
            logger.warning("%s; using what was known of %s.%s", exc, name, namespace)
            return stale.destination
        if status is None:
            self._entries.pop((name, namespace), None)
            raise FunctionNotFound(f"function {name!r} not found in namespace {namespace!r}", function=name)
        queue = queue_of(status.annotations)
        try:
            subject = queue_subject(self._stream, queue)
        except ValueError as exc:
            raise QueueMisconfigured(f"function {name!r}: {QUEUE_ANNOTATION}: {exc}", function=name) from None
        retry, annotation_error = retry_of(status)
        limits, priority, flow_error = limits_of(status)
        annotation_error = annotation_error or flow_error
        if annotation_error:
            logger.warning("%s; its async calls are refused", annotation_error)
        destination = Destination(queue, subject, retry, annotation_error, limits, priority)
        self._entries[name, namespace] = _Entry(destination, self._clock() + self._ttl)
        return destination
