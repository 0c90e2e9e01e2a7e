"""``POST /system/async-functions/<name>/pause`` and ``.../resume``: hold a function's async calls, and let them go.

While a function is paused its async calls are still accepted (202) and kept; none starts,
and their status says ``paused``. Resuming lets them start at once, in order, under the
function's limits. The pause lives in the flow-control bucket (:mod:`calls.flow_store`),
which every worker watches, so it holds across every worker and survives restarts.
``GET /system/async-functions/<name>`` says whether a function is paused.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query

from calls.flow_store import FlowStore
from gateway.functions import FunctionDirectory
from gateway.routes import ASYNC_FUNCTIONS
from gateway.stores import Stores
from provider.types import DEFAULT_NAMESPACE

__all__ = ["PauseRoutes"]

logger = logging.getLogger(__name__)

_NAMESPACE = Query("", description="The function's namespace; empty: the default one.")


class PauseRoutes:
    """The pause and resume routes.

    Args:
        directory: which functions exist (an unknown one is a 404).
        stores: the flow-control bucket.
        namespace: the default function namespace.
    """

    def __init__(self, directory: FunctionDirectory, stores: Stores, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._directory = directory
        self._stores = stores
        self._namespace = namespace

    def router(self) -> APIRouter:
        """An ``APIRouter`` with the routes."""
        router = APIRouter(tags=["async"])
        router.add_api_route(
            ASYNC_FUNCTIONS + "/{name}/pause",
            self.pause,
            methods=["POST"],
            summary="Pause a function's async calls: they are kept and none starts until it is resumed",
        )
        router.add_api_route(
            ASYNC_FUNCTIONS + "/{name}/resume",
            self.resume,
            methods=["POST"],
            summary="Resume a paused function's async calls",
        )
        router.add_api_route(
            ASYNC_FUNCTIONS + "/{name}",
            self.show,
            methods=["GET"],
            summary="Whether a function's async calls are paused",
        )
        return router

    async def _store(self, name: str, namespace: str) -> tuple[FlowStore, str]:
        namespace = namespace or self._namespace
        await self._directory.destination_of(name, namespace)  # FunctionNotFound: 404
        return await self._stores.flow(), namespace

    async def pause(self, name: str, namespace: str = _NAMESPACE) -> dict[str, Any]:
        """Pause ``name``'s async calls."""
        store, namespace = await self._store(name, namespace)
        await store.pause(name, namespace)
        logger.info("async calls of %s.%s paused", name, namespace)
        return {"function": name, "namespace": namespace, "paused": True}

    async def resume(self, name: str, namespace: str = _NAMESPACE) -> dict[str, Any]:
        """Resume ``name``'s async calls."""
        store, namespace = await self._store(name, namespace)
        if await store.resume(name, namespace):
            logger.info("async calls of %s.%s resumed", name, namespace)
        return {"function": name, "namespace": namespace, "paused": False}

    async def show(self, name: str, namespace: str = _NAMESPACE) -> dict[str, Any]:
        """Whether ``name``'s async calls are paused."""
        store, namespace = await self._store(name, namespace)
        return {"function": name, "namespace": namespace, "paused": await store.paused(name, namespace)}
