"""A small Kubernetes API server for the provider's tests: real HTTP, the REST paths the provider uses.

It stores Deployments, Services and Secrets (create, get, list with ``labelSelector``,
replace with ``resourceVersion`` checks, delete, the Deployment ``scale`` subresource by
merge patch) and answers 404/409 with ``Status`` objects. What a cluster would run,
Deployment status, pods, pod logs and EndpointSlices, comes from a :class:`Cluster`.
Every request is recorded as (verb, API group, resource) for the RBAC test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.kube_discovery import ROUTES as DISCOVERY
from tests.support.polling import eventually
from tests.support.sockets import bound_socket

Object = dict[str, Any]
STORED = {"deployments": ("apps", "Deployment"), "services": ("", "Service"), "secrets": ("", "Secret")}
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class Cluster(Protocol):
    """What the nodes of a cluster do with the stored objects."""

    async def applied(self, kind: str, obj: Object, created: bool) -> None: ...
    async def deleted(self, kind: str, namespace: str, name: str) -> None: ...
    async def deployment_status(self, namespace: str, name: str) -> Object: ...
    async def pods(self, namespace: str, function: str) -> list[Object]: ...
    async def pod_log(self, namespace: str, pod: str, tail: int) -> list[tuple[datetime, str]]: ...
    async def endpoints(self, namespace: str, service: str) -> list[tuple[str, int]]: ...


def _status(code: int, reason: str, message: str) -> JSONResponse:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return JSONResponse(body | {"message": message, "reason": reason, "code": code}, status_code=code)


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, sep, value = term.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApiServer:
    """The store and routes; :func:`running_api` serves it on a kernel-chosen loopback port."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.calls: set[tuple[str, str, str]] = set()
        self.received: list[Object] = []
        """Every object created or replaced, as the client sent it: what schema validation checks."""
        self._objects: dict[tuple[str, str], dict[str, Object]] = {}
        self._version = 0
        collection, item = "/namespaces/{ns}/{resource}", "/namespaces/{ns}/{resource}/{name}"
        self.app = Starlette(
            routes=[
                Route("/api/v1/namespaces/{ns}/pods/{name}/log", self.pod_log),
                Route("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", self.scale, methods=["GET", "PATCH"]),
                *(Route(prefix + collection, self.collection, methods=["GET", "POST"]) for prefix in self._prefixes),
                *(Route(prefix + item, self.item, methods=["GET", "PUT", "DELETE"]) for prefix in self._prefixes),
                *DISCOVERY,
            ]
        )

    _prefixes = ("/api/v1", "/apis/apps/v1", "/apis/discovery.k8s.io/v1")

    def _record(self, request: Request, resource: str, listing: bool = False) -> None:
        group = request.url.path.split("/")[2] if request.url.path.startswith("/apis/") else ""
        verb = VERBS.get(request.method) or ("list" if listing else "get")
        self.calls.add((verb, group, resource))

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    async def _with_status(self, kind: str, obj: Object) -> Object:
        if kind != "deployments":
            return obj
        return obj | {
            "status": await self.cluster.deployment_status(obj["metadata"]["namespace"], obj["metadata"]["name"])
        }

    async def collection(self, request: Request) -> Response:
        ns, resource = request.path_params["ns"], request.path_params["resource"]
        self._record(request, resource, listing=True)
        if request.method == "POST":
            return await self._create(ns, resource, await request.json())
        selector = request.query_params.get("labelSelector", "")
        if resource == "pods":
            items = await self.cluster.pods(ns, selector.partition("=")[2])
        elif resource == "endpointslices":
            items = await self._endpoint_slices(ns, selector)
        else:
            stored = sorted(self._objects.get((resource, ns), {}).items())
            items = [
                await self._with_status(resource, obj)
                for _, obj in stored
                if _matches(obj["metadata"].get("labels") or {}, selector)
            ]
        return JSONResponse(
            {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": str(self._version)}, "items": items}
        )

    async def _create(self, ns: str, resource: str, obj: Object) -> Response:
        self.received.append(obj)
        name = obj["metadata"]["name"]
        store = self._objects.setdefault((resource, ns), {})
        if name in store:
            return _status(409, "AlreadyExists", f'{resource} "{name}" already exists')
        meta = obj["metadata"] | {
            "namespace": ns,
            "uid": str(uuid.uuid4()),
            "resourceVersion": self._next_version(),
            "creationTimestamp": _stamp(datetime.now(UTC)),
            "generation": 1,
        }
        store[name] = obj | {"metadata": meta}
        await self.cluster.applied(resource, store[name], created=True)
        return JSONResponse(await self._with_status(resource, store[name]), status_code=201)

    async def item(self, request: Request) -> Response:
        ns, resource, name = (request.path_params[k] for k in ("ns", "resource", "name"))
        self._record(request, resource)
        store = self._objects.setdefault((resource, ns), {})
        current = store.get(name)
        if current is None:
            return _status(404, "NotFound", f'{resource} "{name}" not found')
        if request.method == "DELETE":
            del store[name]
            await self.cluster.deleted(resource, ns, name)
            if resource == "services":  # as the real server does: Services come back, the rest get a Status
                return JSONResponse(current)
            details = {"name": name, "kind": resource, "uid": current["metadata"]["uid"]}
            return JSONResponse(
                {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}, "details": details}
            )
        if request.method == "PUT":
            self.received.append(await request.json())
            return await self._replace(resource, current, await request.json())
        return JSONResponse(await self._with_status(resource, current))

    async def _replace(self, resource: str, current: Object, obj: Object) -> Response:
        sent = obj["metadata"].get("resourceVersion")
        if sent is not None and sent != current["metadata"]["resourceVersion"]:
            return _status(
                409, "Conflict", "the object has been modified; please apply your changes to the latest version"
            )
        keep = {k: current["metadata"][k] for k in ("namespace", "uid", "creationTimestamp")}
        generation = current["metadata"]["generation"] + (obj.get("spec") != current.get("spec"))
        meta = obj["metadata"] | keep | {"resourceVersion": self._next_version(), "generation": generation}
        updated = obj | {"metadata": meta}
        self._objects[(resource, meta["namespace"])][meta["name"]] = updated
        await self.cluster.applied(resource, updated, created=False)
        return JSONResponse(await self._with_status(resource, updated))

    async def scale(self, request: Request) -> Response:
        ns, name = request.path_params["ns"], request.path_params["name"]
        self._record(request, "deployments/scale")
        current = self._objects.get(("deployments", ns), {}).get(name)
        if current is None:
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        if request.method == "PATCH":
            if request.headers.get("content-type") != "application/merge-patch+json":
                return _status(415, "UnsupportedMediaType", "this server accepts merge patches of scale only")
            replicas = (await request.json())["spec"]["replicas"]
            spec = current["spec"] | {"replicas": replicas}
            await self._replace("deployments", current, current | {"spec": spec})
            current = self._objects[("deployments", ns)][name]
        scale = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {k: current["metadata"][k] for k in ("name", "namespace", "resourceVersion")},
            "spec": {"replicas": current["spec"]["replicas"]},
            "status": {"replicas": current["spec"]["replicas"]},
        }
        return JSONResponse(scale)

    async def pod_log(self, request: Request) -> Response:
        ns, pod = request.path_params["ns"], request.path_params["name"]
        self._record(request, "pods/log")
        lines = await self.cluster.pod_log(ns, pod, int(request.query_params.get("tailLines", "0")))
        since = request.query_params.get("sinceSeconds")
        if since is not None:
            cutoff = datetime.now(UTC).timestamp() - int(since)
            lines = [(moment, text) for moment, text in lines if moment.timestamp() >= cutoff]
        stamped = request.query_params.get("timestamps") == "true"
        return PlainTextResponse("".join(f"{m.isoformat() + ' ' if stamped else ''}{t}\n" for m, t in lines))

    async def _endpoint_slices(self, ns: str, selector: str) -> list[Object]:
        services = list(self._objects.get(("services", ns), {}).values())
        slices = []
        for service in services:
            name = service["metadata"]["name"]
            if not _matches({"kubernetes.io/service-name": name}, selector):
                continue
            # Each replica listens on its own loopback port, so each gets a slice (slices group by port).
            for index, (address, port) in enumerate(await self.cluster.endpoints(ns, name)):
                slices.append(
                    {
                        "apiVersion": "discovery.k8s.io/v1",
                        "kind": "EndpointSlice",
                        "metadata": {
                            "name": f"{name}-{index}",
                            "namespace": ns,
                            "labels": {"kubernetes.io/service-name": name},
                        },
                        "addressType": "IPv4",
                        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
                        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
                    }
                )
        return slices


@asynccontextmanager
async def running_api(api: FakeApiServer) -> AsyncIterator[str]:
    """Serve ``api`` under uvicorn on a kernel-chosen loopback port; yields its URL."""
    sock = bound_socket()
    config = uvicorn.Config(api.app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool | None:
        if task.done():
            pytest.fail(f"the fake API server did not start: {task.exception()!r}")
        return True if server.started else None

    try:
        await eventually(started, within=10)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
