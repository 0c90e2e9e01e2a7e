"""The official Kubernetes client, run on a bounded thread pool so no call blocks the event loop.

Calls return plain JSON-shaped dicts; an answer other than 404 or 409 is a ``DeployFailed``,
and so is an API server that cannot be reached. 404 and 409 stay ``ApiException``s for the
caller to name (function or secret, missing or existing).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from provider.config import ProviderSettings
from provider.errors import DeployFailed

__all__ = ["ApiException", "KubernetesApi", "status_code"]

_NAMED_BY_CALLER = {404, 409}


def status_code(exc: ApiException) -> int:
    """The HTTP status of a failed call."""
    return int(exc.status or 0)


def _configuration(settings: ProviderSettings) -> client.Configuration:
    configuration = client.Configuration()
    if settings.in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        kubeconfig = str(settings.kubeconfig) if settings.kubeconfig else None
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = settings.kubernetes_api_workers
    return configuration


class KubernetesApi:
    """The typed APIs the provider uses, sharing one connection pool and one thread pool."""

    def __init__(self, settings: ProviderSettings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(settings.kubernetes_api_workers, thread_name_prefix="kubernetes-api")
        self._client: client.ApiClient | None = None

    async def connect(self) -> None:
        """Load the kubeconfig or the service account's credentials (file I/O, so on the pool)."""
        try:
            configuration = await self._on_pool(_configuration, self._settings)
        except (config.ConfigException, OSError) as exc:
            raise DeployFailed(f"cannot configure the Kubernetes client: {exc}") from exc
        self._client = client.ApiClient(configuration)
        self.apps = client.AppsV1Api(self._client)
        self.core = client.CoreV1Api(self._client)
        self.discovery = client.DiscoveryV1Api(self._client)

    async def close(self) -> None:
        """Close the connection pool, then the thread pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one client method on the pool; models come back as dicts, strings (logs) as they are."""
        try:
            result = await self._on_pool(method, *args, **kwargs)
        except ApiException as exc:
            if status_code(exc) in _NAMED_BY_CALLER:
                raise
            raise DeployFailed(f"Kubernetes API answered {exc.status} {exc.reason}: {exc.body}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise DeployFailed(f"Kubernetes API unreachable: {exc}") from exc
        if self._client is None or isinstance(result, str):
            return result
        return self._client.sanitize_for_serialization(result)

    async def _on_pool(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(method, *args, **kwargs))
