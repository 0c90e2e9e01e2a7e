"""The Kubernetes provider: a Deployment and a Service per function, as faas-netes makes them.

The cluster keeps all state but one: invocation counts, which OpenFaaS reads from the
gateway's Prometheus metrics, are counted here in memory since the provider started.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from plumbing.release import release, revision
from provider.config import ProviderSettings
from provider.errors import (
    DeployFailed,
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    NoReplicaAvailable,
    SecretExists,
    SecretNotFound,
)
from provider.kubernetes.api import ApiException, KubernetesApi, status_code
from provider.kubernetes.logs import merge, parse_pod_log
from provider.kubernetes.objects import (
    FUNCTION_LABEL,
    FUNCTION_PORT,
    MANAGED_SECRETS,
    deployment_object,
    node_selector,
    secret_object,
    service_object,
    status_of,
    user_labels,
)
from provider.namespaces import served_namespace
from provider.scaling import ScalePolicy, clamp_replicas, scale_policy
from provider.types import FunctionDeployment, FunctionStatus, LogMessage, LogRequest, ProviderInfo, Secret, VersionInfo

__all__ = ["KubernetesProvider"]

logger = logging.getLogger(__name__)

Object = dict[str, Any]
POLL_INTERVAL = 0.1
"""Seconds between reads while waiting for a ready replica, or for new log lines."""
_MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_SECRETS.items())


def _ready_endpoints(slices: Object) -> list[str]:
    urls = []
    for endpoint_slice in slices.get("items", []):
        ports = [p["port"] for p in endpoint_slice.get("ports") or [] if p.get("name") == "http"]
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is not False:
                urls += [f"http://{address}:{port}" for address in endpoint["addresses"] for port in ports]
    return sorted(urls)


class KubernetesProvider:
    """Runs functions on a Kubernetes cluster; implements ``provider.protocol.Provider``.

    Args:
        settings: the provider's settings; ``kubeconfig``, ``in_cluster``, ``function_namespace``,
            ``endpoint_load_balancing``, ``image_pull_policy``, ``ready_timeout`` and
            ``kubernetes_api_workers`` apply here.
    """

    def __init__(self, settings: ProviderSettings) -> None:
        self._settings = settings
        self._namespace = settings.function_namespace
        self._api = KubernetesApi(settings)
        self._invocations: dict[str, int] = {}

    async def startup(self) -> None:
        """Load the credentials (kubeconfig or service account)."""
        await self._api.connect()
        logger.info("kubernetes provider: functions go to namespace %s", self._namespace)

    async def shutdown(self) -> None:
        """Close the client; the functions keep running in the cluster."""
        await self._api.close()

    async def deploy(self, request: FunctionDeployment) -> None:
        """Create the function's Deployment (``com.openfaas.scale.min`` replicas) and Service."""
        namespace = self._check_namespace(request.namespace)
        policy = await self._validate(request, namespace)
        body = deployment_object(request, namespace, policy.min_replicas, self._settings.image_pull_policy)
        try:
            await self._api.call(self._api.apps.create_namespaced_deployment, namespace, body)
        except ApiException:  # 409: the only status the client lets through on create
            raise FunctionExists(request.service, namespace) from None
        try:
            await self._api.call(
                self._api.core.create_namespaced_service, namespace, service_object(request.service, namespace)
            )
        except ApiException:
            logger.info("function %s.%s: keeping its existing Service", request.service, namespace)
        self._invocations[request.service] = 0

    async def update(self, request: FunctionDeployment) -> None:
        """Replace the Deployment (a rolling update); the replica count is kept, clamped to the new labels."""
        namespace = self._check_namespace(request.namespace)
        current = await self._read(request.service, namespace)
        policy = await self._validate(request, namespace)
        replicas = clamp_replicas(current["spec"].get("replicas", 0), policy)
        body = deployment_object(request, namespace, replicas, self._settings.image_pull_policy)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            await self._api.call(self._api.apps.replace_namespaced_deployment, request.service, namespace, body)
        except ApiException as exc:
            if status_code(exc) == 404:
                raise FunctionNotFound(request.service, namespace) from None
            raise DeployFailed(f"{request.service} changed during the update; retry", name=request.service) from None

    async def delete(self, name: str, namespace: str) -> None:
        """Delete the Deployment (its pods go with it) and the Service."""
        namespace = self._check_namespace(namespace)
        try:
            await self._api.call(self._api.apps.delete_namespaced_deployment, name, namespace)
        except ApiException:
            raise FunctionNotFound(name, namespace) from None
        try:
            await self._api.call(self._api.core.delete_namespaced_service, name, namespace)
        except ApiException:
            logger.info("function %s.%s had no Service", name, namespace)
        self._invocations.pop(name, None)

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        """The namespace's function Deployments, sorted by name."""
        namespace = self._check_namespace(namespace)
        found = await self._api.call(
            self._api.apps.list_namespaced_deployment, namespace, label_selector=FUNCTION_LABEL
        )
        items = sorted(found.get("items", []), key=lambda d: d["metadata"]["name"])
        return [status_of(d, self._invocations.get(d["metadata"]["name"], 0)) for d in items]

    async def get(self, name: str, namespace: str) -> FunctionStatus:
        """The function's Deployment: desired replicas from its spec, available ones from its status."""
        namespace = self._check_namespace(namespace)
        return status_of(await self._read(name, namespace), self._invocations.get(name, 0))

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        """Patch the Deployment's scale subresource, clamped by :func:`provider.scaling.clamp_replicas`."""
        namespace = self._check_namespace(namespace)
        if replicas < 0:
            raise InvalidRequest(f"replicas must be at least 0, got {replicas}", name=name, namespace=namespace)
        current = await self._read(name, namespace)
        await self._set_replicas(name, namespace, clamp_replicas(replicas, scale_policy(user_labels(current))))

    async def resolve(self, name: str, namespace: str) -> str:
        """A ready pod's address (endpoint load balancing) or the Service's DNS name; scales from zero first."""
        namespace = self._check_namespace(namespace)
        current = await self._read(name, namespace)
        self._invocations[name] = self._invocations.get(name, 0) + 1
        if current["spec"].get("replicas", 0) == 0:
            logger.info("function %s.%s: scaling from zero", name, namespace)
            await self._set_replicas(name, namespace, scale_policy(user_labels(current)).min_replicas)
        timeout = self._settings.ready_timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if (url := await self._ready_url(name, namespace)) is not None:
                        return url
                    await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            message = f"no replica of {name} became ready within {timeout:g}s"
            raise NoReplicaAvailable(message, name=name, namespace=namespace) from None

    async def logs(self, request: LogRequest) -> AsyncGenerator[LogMessage, None]:
        """Lines of the function's pods, merged oldest first; with ``follow``, new ones until the function goes."""
        namespace = self._check_namespace(request.namespace)
        since = request.since
        for message in await self._read_logs(request, namespace, since, request.tail):
            since = max(since or message.timestamp, message.timestamp)
            yield message
        while request.follow:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                fresh = await self._read_logs(request, namespace, since, 0)
            except FunctionNotFound:
                return
            for message in fresh:
                if since is None or message.timestamp > since:
                    since = message.timestamp
                    yield message

    async def namespaces(self) -> list[str]:
        """The one namespace this provider deploys to (its Role grants no other)."""
        return [self._namespace]

    async def info(self) -> ProviderInfo:
        """``faasq-kubernetes`` / ``kubernetes`` and the faasq version."""
        return ProviderInfo(
            provider="faasq-kubernetes",
            orchestration="kubernetes",
            version=VersionInfo(sha=revision(), release=release()),
        )

    async def list_secrets(self, namespace: str) -> list[Secret]:
        """Names of the namespace's OpenFaaS-managed Secrets, sorted."""
        namespace = self._check_namespace(namespace)
        found = await self._api.call(self._api.core.list_namespaced_secret, namespace, label_selector=_MANAGED_SELECTOR)
        return [Secret(name=n, namespace=namespace) for n in sorted(s["metadata"]["name"] for s in found["items"])]

    async def create_secret(self, secret: Secret) -> None:
        """Create a Secret labelled as managed by OpenFaaS."""
        namespace = self._check_namespace(secret.namespace)
        try:
            await self._api.call(self._api.core.create_namespaced_secret, namespace, secret_object(secret, namespace))
        except ApiException:
            raise SecretExists(secret.name, namespace) from None

    async def update_secret(self, secret: Secret) -> None:
        """Replace a Secret's value; the kubelet refreshes mounted copies in running pods."""
        namespace = self._check_namespace(secret.namespace)
        body = secret_object(secret, namespace)
        try:
            await self._api.call(self._api.core.replace_namespaced_secret, secret.name, namespace, body)
        except ApiException:
            raise SecretNotFound(secret.name, namespace) from None

    async def delete_secret(self, name: str, namespace: str) -> None:
        """Delete a Secret; pods already running keep it until they restart."""
        namespace = self._check_namespace(namespace)
        try:
            await self._api.call(self._api.core.delete_namespaced_secret, name, namespace)
        except ApiException:
            raise SecretNotFound(name, namespace) from None

    async def _read(self, name: str, namespace: str) -> Object:
        try:
            deployment: Object = await self._api.call(self._api.apps.read_namespaced_deployment, name, namespace)
        except ApiException:
            raise FunctionNotFound(name, namespace) from None
        if FUNCTION_LABEL not in (deployment["metadata"].get("labels") or {}):
            raise FunctionNotFound(name, namespace)  # a Deployment that is not a function
        return deployment

    async def _set_replicas(self, name: str, namespace: str, replicas: int) -> None:
        patch = {"spec": {"replicas": replicas}}
        try:
            await self._api.call(
                self._api.apps.patch_namespaced_deployment_scale,
                name,
                namespace,
                patch,
                _content_type="application/merge-patch+json",
            )
        except ApiException:
            raise FunctionNotFound(name, namespace) from None

    async def _ready_url(self, name: str, namespace: str) -> str | None:
        if not self._settings.endpoint_load_balancing:
            available = (await self._read(name, namespace)).get("status", {}).get("availableReplicas") or 0
            return f"http://{name}.{namespace}.svc.cluster.local:{FUNCTION_PORT}" if available else None
        slices = await self._api.call(
            self._api.discovery.list_namespaced_endpoint_slice,
            namespace,
            label_selector=f"kubernetes.io/service-name={name}",
        )
        urls = _ready_endpoints(slices)
        # Round robin by invocation, as the local provider does; faas-netes picks at random.
        return urls[self._invocations.get(name, 0) % len(urls)] if urls else None

    async def _read_logs(
        self, request: LogRequest, namespace: str, since: datetime | None, tail: int
    ) -> list[LogMessage]:
        await self._read(request.name, namespace)
        pods = await self._api.call(
            self._api.core.list_namespaced_pod, namespace, label_selector=f"{FUNCTION_LABEL}={request.name}"
        )
        names = [p["metadata"]["name"] for p in pods["items"] if request.instance in (None, p["metadata"]["name"])]
        options: Object = {"timestamps": True}
        if tail > 0:
            options["tail_lines"] = tail
        if since is not None:
            options["since_seconds"] = max(1, math.ceil((datetime.now(UTC) - since).total_seconds()))
        per_pod = []
        for pod in names:
            try:
                text = await self._api.call(self._api.core.read_namespaced_pod_log, pod, namespace, **options)
            except ApiException:
                continue  # the pod went away between the list and the read
            lines = parse_pod_log(text, request.name, namespace, pod)
            per_pod.append([m for m in lines if since is None or m.timestamp >= since])
        return merge(per_pod, tail)

    async def _validate(self, request: FunctionDeployment, namespace: str) -> ScalePolicy:
        name = request.service
        try:
            policy = scale_policy(request.labels)
            node_selector(request.constraints)
        except InvalidRequest as exc:
            raise InvalidRequest(str(exc), name=name, namespace=namespace) from None
        if not request.image:
            raise InvalidRequest("image is required", name=name, namespace=namespace)
        missing = [s for s in request.secrets or [] if not await self._secret_exists(s, namespace)]
        if missing:
            raise InvalidRequest(f"secrets not found: {', '.join(missing)}", name=name, namespace=namespace)
        return policy

    async def _secret_exists(self, name: str, namespace: str) -> bool:
        try:
            await self._api.call(self._api.core.read_namespaced_secret, name, namespace)
        except ApiException:
            return False
        return True

    def _check_namespace(self, namespace: str | None) -> str:
        return served_namespace(namespace, self._namespace)
