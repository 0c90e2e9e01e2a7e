"""The autoscaler's loop: observe every function, decide, scale through the gateway's system API, say why.

It talks to the gateway only (``GET /system/functions``, ``GET /metrics``,
``POST /system/scale-function/<name>``), so the same loop scales the local provider's
replicas and the Kubernetes provider's Deployments. A tick that cannot read the gateway
changes nothing and is logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from pydantic import TypeAdapter, ValidationError

from autoscaler.decision import Decision, Memory, Tuning, decide
from autoscaler.metrics import AutoscalerMetrics
from autoscaler.observe import SERIES, History, parse_scrape
from calls.wire import queue_of
from plumbing.sessions import SessionOwner
from provider.types import FunctionStatus, ScaleLabels, scale_labels

__all__ = ["Autoscaler", "GatewayUnavailable", "SystemApi"]

logger = logging.getLogger(__name__)

_NAMESPACES = TypeAdapter(list[str])
_FUNCTIONS = TypeAdapter(list[FunctionStatus])
FEDERATED = "{" + f'__name__=~"{"|".join(SERIES)}"' + "}"
"""Prometheus's selector of the series the autoscaler reads (one sample per pod; they add up)."""


class GatewayUnavailable(Exception):
    """The gateway could not be read or could not scale."""


class SystemApi(SessionOwner):
    """The gateway as the autoscaler uses it."""

    def __init__(
        self, base_url: str, *, timeout: float, headers: Mapping[str, str], prometheus_url: str | None = None
    ) -> None:
        super().__init__(skip_auto_headers=(), auto_decompress=True)
        self._base = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = dict(headers)
        self._prometheus = prometheus_url

    async def functions(self) -> list[FunctionStatus]:
        """Every function, in every namespace."""
        found: list[FunctionStatus] = []
        for namespace in _NAMESPACES.validate_json(await self._get("/system/namespaces", {})):
            found += _FUNCTIONS.validate_json(await self._get("/system/functions", {"namespace": namespace}))
        return found

    async def metrics(self) -> str:
        """The series of every process: the gateway's ``/metrics``, or Prometheus's ``/federate`` of them."""
        if self._prometheus is None:
            return (await self._get("/metrics", {})).decode()
        return (await self._get("/federate", {"match[]": FEDERATED}, base=self._prometheus)).decode()

    async def scale(self, status: FunctionStatus, replicas: int) -> None:
        """Ask for ``replicas`` replicas of the function."""
        body = {"serviceName": status.name, "namespace": status.namespace, "replicas": replicas}
        url = f"{self._base}/system/scale-function/{status.name}"
        try:
            async with self.session.post(url, json=body, headers=self._headers, timeout=self._timeout) as response:
                if response.status not in (200, 202):
                    text = (await response.text()).strip()
                    raise GatewayUnavailable(f"scaling {status.name} answered {response.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayUnavailable(f"scaling {status.name}: {str(exc) or type(exc).__name__}") from None

    async def _get(self, path: str, params: dict[str, str], base: str | None = None) -> bytes:
        url = f"{base or self._base}{path}"
        headers = self._headers if base is None else {}  # the gateway's credentials go to the gateway only
        try:
            async with self.session.get(url, params=params, headers=headers, timeout=self._timeout) as response:
                if response.status != 200:
                    raise GatewayUnavailable(f"GET {path} answered {response.status}")
                return await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayUnavailable(f"GET {path}: {str(exc) or type(exc).__name__}") from None


@dataclass
class _Known:
    """What the loop keeps about one function between ticks."""

    memory: Memory
    labels_error: str | None = None


class Autoscaler:
    """Observes, decides and scales, a tick at a time (:meth:`run`, or :meth:`tick` in tests)."""

    def __init__(self, api: SystemApi, tuning: Tuning, *, window: float, metrics: AutoscalerMetrics) -> None:
        self._api = api
        self._tuning = tuning
        self._history = History(window)
        self._metrics = metrics
        self._known: dict[str, _Known] = {}
        self._down: str | None = None

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.tick(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def tick(self, now: float) -> list[tuple[FunctionStatus, Decision]]:
        """One round: read, decide for every function, scale those whose count changes; what was decided."""
        try:
            statuses = await self._api.functions()
            self._history.add(parse_scrape(await self._api.metrics(), now))
        except (GatewayUnavailable, ValidationError, ValueError) as exc:
            if self._down is None:
                logger.warning("cannot read the gateway, scaling nothing until it answers: %s", exc)
            self._down = str(exc)
            return []
        if self._down is not None:
            logger.info("the gateway answers again")
            self._down = None
        queues = [queue_of(status.annotations) for status in statuses]
        decided = []
        for status, queue in zip(statuses, queues, strict=True):
            label = f"{status.name}.{status.namespace}"
            labels = self._labels(label, status)
            if labels is None:
                continue
            known = self._known[label]
            signals = self._history.signals(label, queue, alone=queues.count(queue) == 1)
            current = status.replicas or 0
            decision = decide(labels, signals, current, now, known.memory, self._tuning)
            known.memory = decision.memory
            self._metrics.desired(label, decision.desired)
            if decision.changes(current):
                await self._apply(status, current, decision, signals.__dict__)
            decided.append((status, decision))
        for gone in set(self._known) - {f"{s.name}.{s.namespace}" for s in statuses}:
            del self._known[gone]
        return decided

    def _labels(self, label: str, status: FunctionStatus) -> ScaleLabels | None:
        known = self._known.setdefault(label, _Known(Memory()))
        try:
            labels = scale_labels(status.labels)
        except ValueError as exc:  # deployed before its labels were checked: leave it alone, say so once
            if known.labels_error != str(exc):
                logger.warning("%s is not scaled: %s", label, exc)
            known.labels_error = str(exc)
            return None
        known.labels_error = None
        return labels

    async def _apply(self, status: FunctionStatus, current: int, decision: Decision, inputs: dict[str, float]) -> None:
        label = f"{status.name}.{status.namespace}"
        load = ", ".join(f"{name} {value:g}" for name, value in inputs.items() if value)
        try:
            await self._api.scale(status, decision.desired)
        except GatewayUnavailable as exc:
            logger.warning("%s: %d -> %d not applied: %s", label, current, decision.desired, exc)
            return
        logger.info(
            "%s: %d -> %d replicas: %s (%s)", label, current, decision.desired, decision.reason, load or "no load"
        )
        self._metrics.decided(label, decision.cause, "up" if decision.desired > current else "down")
