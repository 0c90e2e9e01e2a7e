"""Pure translations between OpenFaaS's wire types and Kubernetes objects, as faas-netes makes them.

A function is a Deployment and a ClusterIP Service named after it, both selecting pods by
``faas_function=<name>``. Objects are plain JSON-shaped dicts (camelCase), so the same
values go to the API server and to schema validation.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from provider.errors import InvalidRequest
from provider.types import FUNCTION_LABEL, FunctionDeployment, FunctionResources, FunctionStatus, Secret

__all__ = [
    "FUNCTION_LABEL",
    "FUNCTION_PORT",
    "MANAGED_SECRETS",
    "SECRETS_MOUNT",
    "deployment_object",
    "node_selector",
    "secret_object",
    "service_object",
    "status_of",
    "user_labels",
]

Object = dict[str, Any]

FUNCTION_PORT = 8080
SECRETS_MOUNT = "/var/openfaas/secrets"
MANAGED_SECRETS = {"app.kubernetes.io/managed-by": "openfaas"}
# faas-netes: functions are not scraped; the gateway counts invocations.
_SCRAPE = {"prometheus.io.scrape": "false"}
_HEALTH = {"httpGet": {"path": "/_/health", "port": FUNCTION_PORT}, "initialDelaySeconds": 2, "periodSeconds": 2}
_PROBE_TIMING = {"timeoutSeconds": 1, "failureThreshold": 3}


def node_selector(constraints: list[str] | None) -> dict[str, str]:
    """Node selector of OpenFaaS constraints (``key=value`` or ``key==value``).

    Raises:
        InvalidRequest: a constraint is not a ``key=value`` pair.
    """
    selector: dict[str, str] = {}
    for constraint in constraints or []:
        key, sep, value = constraint.replace("==", "=", 1).partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"constraint {constraint!r} is not key=value")
        selector[key.strip()] = value.strip()
    return selector


def _resources(request: FunctionDeployment) -> Object:
    resources: Object = {}
    for field, spec in (("limits", request.limits), ("requests", request.requests)):
        if spec is not None and (values := spec.model_dump(by_alias=True, exclude_none=True)):
            resources[field] = values
    return resources


def _env(request: FunctionDeployment) -> list[Object]:
    env = [{"name": "fprocess", "value": request.env_process}] if request.env_process else []
    return env + [{"name": key, "value": value} for key, value in (request.env_vars or {}).items()]


def _container(request: FunctionDeployment, pull_policy: str) -> Object:
    container: Object = {
        "name": request.service,
        "image": request.image,
        "imagePullPolicy": pull_policy,
        "ports": [{"name": "http", "containerPort": FUNCTION_PORT, "protocol": "TCP"}],
        "env": _env(request),
        "resources": _resources(request),
        "readinessProbe": _HEALTH | _PROBE_TIMING,
        "livenessProbe": _HEALTH | _PROBE_TIMING,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": bool(request.read_only_root_filesystem),
        },
        "volumeMounts": [],
    }
    if request.secrets:
        mount = {"name": f"{request.service}-projected-secrets", "mountPath": SECRETS_MOUNT, "readOnly": True}
        container["volumeMounts"].append(mount)
    if request.read_only_root_filesystem:  # faas-netes: the watchdog's lock file and temp files need /tmp
        container["volumeMounts"].append({"name": "temp", "mountPath": "/tmp"})  # noqa: S108
    return container


def _volumes(request: FunctionDeployment) -> list[Object]:
    volumes: list[Object] = []
    if request.secrets:
        sources = [{"secret": {"name": name}} for name in request.secrets]
        volumes.append({"name": f"{request.service}-projected-secrets", "projected": {"sources": sources}})
    if request.read_only_root_filesystem:
        volumes.append({"name": "temp", "emptyDir": {}})
    return volumes


def deployment_object(request: FunctionDeployment, namespace: str, replicas: int, pull_policy: str) -> Object:
    """The Deployment of a function: ``replicas`` pods rolled one at a time, none taken down early."""
    selector = {FUNCTION_LABEL: request.service}
    annotations = {**(request.annotations or {}), **_SCRAPE}
    pod = {
        "metadata": {"labels": {**(request.labels or {}), **selector}, "annotations": annotations},
        "spec": {
            "containers": [_container(request, pull_policy)],
            "volumes": _volumes(request),
            "nodeSelector": node_selector(request.constraints),
            "enableServiceLinks": False,  # thousands of functions would each get every Service's env vars
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": request.service, "namespace": namespace, "labels": selector, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "revisionHistoryLimit": 5,
            "template": pod,
        },
    }


def service_object(name: str, namespace: str) -> Object:
    """The ClusterIP Service in front of a function's pods, port 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {FUNCTION_LABEL: name}, "annotations": _SCRAPE},
        "spec": {
            "type": "ClusterIP",
            "selector": {FUNCTION_LABEL: name},
            "ports": [{"name": "http", "port": FUNCTION_PORT, "targetPort": FUNCTION_PORT, "protocol": "TCP"}],
        },
    }


def secret_object(secret: Secret, namespace: str) -> Object:
    """An Opaque Secret whose one key is its name: mounted, it is the file ``/var/openfaas/secrets/<name>``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": secret.name, "namespace": namespace, "labels": MANAGED_SECRETS},
        "data": {secret.name: base64.b64encode(secret.payload()).decode()},
    }


def user_labels(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The function's own labels: the pod template's, without the selector."""
    labels = dict(deployment["spec"]["template"]["metadata"].get("labels") or {})
    labels.pop(FUNCTION_LABEL, None)
    return labels


def _resources_of(container: Mapping[str, Any], field: str) -> FunctionResources | None:
    values = (container.get("resources") or {}).get(field)
    return FunctionResources.model_validate(values) if values else None


def _created(metadata: Mapping[str, Any]) -> datetime | None:
    stamp = metadata.get("creationTimestamp")
    if stamp is None:
        return None
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_of(deployment: Mapping[str, Any], invocations: float) -> FunctionStatus:
    """A function's status as the OpenFaaS API reports it, read back from its Deployment."""
    metadata, spec = deployment["metadata"], deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in _SCRAPE}
    secrets = [
        s["secret"]["name"] for v in pod.get("volumes") or [] for s in (v.get("projected") or {}).get("sources", [])
    ]
    read_only = (container.get("securityContext") or {}).get("readOnlyRootFilesystem")
    return FunctionStatus(
        name=metadata["name"],
        image=container.get("image", ""),
        namespace=metadata.get("namespace"),
        env_process=env.pop("fprocess", None),
        env_vars=env or None,
        constraints=[f"{k}={v}" for k, v in (pod.get("nodeSelector") or {}).items()] or None,
        secrets=secrets or None,
        # faas-netes lists the pod's labels, faas_function among them.
        labels=user_labels(deployment) | {FUNCTION_LABEL: metadata["name"]},
        annotations=annotations or None,
        limits=_resources_of(container, "limits"),
        requests=_resources_of(container, "requests"),
        read_only_root_filesystem=True if read_only else None,
        invocation_count=invocations,
        replicas=spec.get("replicas", 0),
        available_replicas=(deployment.get("status") or {}).get("availableReplicas") or 0,
        created_at=_created(metadata),
    )
