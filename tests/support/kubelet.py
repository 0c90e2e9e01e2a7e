"""The fake API server's nodes: each function Deployment runs as real watchdog replicas on loopback.

A local provider plays kubelet: pods are its replicas, a Deployment's status counts the
ones passing their health check, pod logs are the replicas' output and EndpointSlices
list their loopback addresses. So what the Kubernetes provider resolves answers calls.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime
from typing import Any

from provider.errors import ProviderError
from provider.local import LocalProvider
from provider.types import FunctionDeployment, LogRequest, Secret

Object = dict[str, Any]
logger = logging.getLogger(__name__)


def _function(deployment: Object) -> FunctionDeployment:
    """What the pod template asks to run, in the local provider's terms."""
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    labels = {k: v for k, v in pod["metadata"].get("labels", {}).items() if k != "faas_function"}
    sources = [s for v in pod["spec"].get("volumes", []) for s in v.get("projected", {}).get("sources", [])]
    return FunctionDeployment(
        service=deployment["metadata"]["name"],
        image=container["image"],
        namespace=deployment["metadata"]["namespace"],
        env_process=env.pop("fprocess", None),
        env_vars=env or None,
        labels=labels or None,
        secrets=[s["secret"]["name"] for s in sources] or None,
    )


class LocalCluster:
    """Implements ``tests.support.kube_api.Cluster`` over a started local provider."""

    def __init__(self, local: LocalProvider) -> None:
        self.local = local

    async def applied(self, kind: str, obj: Object, created: bool) -> None:
        try:
            if kind == "deployments":
                await self._run(obj, created)
            elif kind == "secrets":
                await self._store_secret(obj, created)
        except ProviderError as exc:  # as a kubelet would, report and carry on: the pods just do not come up
            logger.warning("cannot run %s %s: %s", kind, obj["metadata"]["name"], exc)

    async def _run(self, deployment: Object, created: bool) -> None:
        function = _function(deployment)
        await (self.local.deploy if created else self.local.update)(function)
        await self.local.scale(function.service, deployment["metadata"]["namespace"], deployment["spec"]["replicas"])

    async def _store_secret(self, secret: Object, created: bool) -> None:
        name = secret["metadata"]["name"]
        value = base64.b64decode(secret["data"][name])
        stored = Secret(name=name, namespace=secret["metadata"]["namespace"], raw_value=value)
        await (self.local.create_secret if created else self.local.update_secret)(stored)

    async def deleted(self, kind: str, namespace: str, name: str) -> None:
        if kind == "deployments":
            await self.local.delete(name, namespace)
        elif kind == "secrets":
            await self.local.delete_secret(name, namespace)

    async def deployment_status(self, namespace: str, name: str) -> Object:
        status = await self.local.get(name, namespace)
        ready = status.available_replicas or 0
        return {
            "replicas": status.replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": status.replicas,
        }

    async def pods(self, namespace: str, function: str) -> list[Object]:
        try:
            instances = self.local.instances(function, namespace)
        except ProviderError:
            return []
        return [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": i.id, "namespace": namespace, "labels": {"faas_function": function}},
                "spec": {"containers": [{"name": function, "image": "fake"}]},
                "status": {"phase": "Running", "podIP": "127.0.0.1"},
            }
            for i in instances
        ]

    async def pod_log(self, namespace: str, pod: str, tail: int) -> list[tuple[datetime, str]]:
        function = pod.rsplit("-", 1)[0]
        request = LogRequest(name=function, namespace=namespace, instance=pod, tail=tail)
        return [(m.timestamp, m.text) async for m in self.local.logs(request)]

    async def endpoints(self, namespace: str, service: str) -> list[tuple[str, int]]:
        try:
            instances = self.local.instances(service, namespace)
        except ProviderError:
            return []
        available = [i for i in instances if i.available]
        # Pods of the old ReplicaSet leave the endpoints (terminating) once new ones are ready, as in a rollout.
        newest = max((i.generation for i in available), default=0)
        addresses = [i.url.removeprefix("http://").rsplit(":", 1) for i in available if i.generation == newest]
        return [(host, int(port)) for host, port in addresses]
