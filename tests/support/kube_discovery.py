"""Legacy API discovery for the fake API server, so kubectl can map kinds to REST paths."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("services", "Service", True),
        ("secrets", "Secret", True),
        ("pods", "Pod", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("configmaps", "ConfigMap", True),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "discovery.k8s.io/v1": [("endpointslices", "EndpointSlice", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "rbac.authorization.k8s.io/v1": [("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resource_list(group_version: str) -> dict[str, Any]:
    resources = [
        {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind, "verbs": VERBS}
        for name, kind, namespaced in RESOURCES[group_version]
    ]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


async def _core(request: Request) -> JSONResponse:
    return JSONResponse({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})


async def _groups(request: Request) -> JSONResponse:
    groups = []
    for group_version in RESOURCES:
        if "/" in group_version:
            name, version = group_version.split("/")
            entry = {"groupVersion": group_version, "version": version}
            groups.append({"name": name, "versions": [entry], "preferredVersion": entry})
    return JSONResponse({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})


async def _resources(request: Request) -> JSONResponse:
    group = request.path_params.get("group")
    return JSONResponse(_resource_list(f"{group}/{request.path_params['version']}" if group else "v1"))


ROUTES = [
    Route("/api", _core),
    Route("/apis", _groups),
    Route("/api/{version}", _resources),
    Route("/apis/{group}/{version}", _resources),
]
