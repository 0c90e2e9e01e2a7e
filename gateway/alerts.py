"""``POST /system/alert``: AlertManager's webhook scales functions as OpenFaaS Community Edition's gateway does.

OpenFaaS's Prometheus rule ``APIHighInvocationRate`` fires for a function (its
``function_name`` label, ``<name>.<namespace>``) while it answers more than 5 invocations
a second. Each firing notification adds ``ceil(max * factor / 100)`` replicas, up to the
function's ``com.openfaas.scale.max``; the resolved notification takes it back to
``com.openfaas.scale.min``. A function whose min equals its max, or whose factor is 0, is
left alone, and so are alerts of other names. An existing OpenFaaS Prometheus and
AlertManager setup points its webhook here unchanged (with the gateway's credentials when
``basic_auth`` is on).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import ProviderUnavailable
from gateway.functions import FunctionLookup
from gateway.routes import ALERT
from provider.types import DEFAULT_NAMESPACE, scale_labels

__all__ = ["AlertRoutes"]

logger = logging.getLogger(__name__)

RULE = "APIHighInvocationRate"


class Alert(BaseModel):
    """One alert of AlertManager's webhook body (the fields faasq reads; the rest are ignored)."""

    model_config = ConfigDict(extra="ignore")

    status: str = Field(description="firing or resolved")
    labels: dict[str, str] = Field(default_factory=dict)


class AlertNotification(BaseModel):
    """AlertManager's webhook body (``version`` 4)."""

    model_config = ConfigDict(extra="ignore")

    status: str = ""
    alerts: list[Alert] = Field(default_factory=list)


class AlertRoutes:
    """The route of ``/system/alert`` over ``lookup``."""

    def __init__(self, lookup: FunctionLookup) -> None:
        self._lookup = lookup

    def router(self) -> APIRouter:
        """An ``APIRouter`` with the route."""
        router = APIRouter(tags=["system"])
        router.add_api_route(
            ALERT,
            self.alert,
            methods=["POST"],
            summary="Scale functions on AlertManager's APIHighInvocationRate alerts",
        )
        return router

    async def alert(self, notification: AlertNotification) -> dict[str, Any]:
        """Scale each function an alert names; answer what was done for each."""
        done = []
        for alert in notification.alerts:
            if alert.labels.get("alertname") != RULE or not alert.labels.get("function_name"):
                continue
            done.append(await self._scale(alert.labels["function_name"], alert.status == "firing"))
        return {"scaled": done}

    async def _scale(self, function_name: str, firing: bool) -> dict[str, Any]:
        name, _, namespace = function_name.partition(".")
        namespace = namespace or DEFAULT_NAMESPACE
        status = await self._lookup.get(name, namespace)
        if status is None:
            logger.warning("alert %s for %s: no such function", RULE, function_name)
            return {"function": function_name, "result": "no such function"}
        try:
            labels = scale_labels(status.labels)
        except ValueError as exc:  # deployed before the labels were checked
            logger.warning("alert %s for %s: %s", RULE, function_name, exc)
            return {"function": function_name, "result": str(exc)}
        current = status.replicas or 0
        if labels.fixed:
            return {"function": function_name, "result": "fixed", "replicas": current}
        desired = min(labels.max_replicas, current + labels.step) if firing else labels.min_replicas
        if desired != current:
            try:
                await self._lookup.scale(name, namespace, desired)
            except ProviderUnavailable:
                logger.error("alert %s for %s: scaling to %d failed", RULE, function_name, desired)
                raise
            logger.info(
                "alert %s %s for %s: %d -> %d replicas",
                RULE,
                "firing" if firing else "resolved",
                function_name,
                current,
                desired,
            )
        return {"function": function_name, "result": "firing" if firing else "resolved", "replicas": desired}
