"""OpenAPI entries of the routes served ahead of FastAPI (``gateway.routes.ROUTES``), so ``/docs`` shows them.

Besides the hot routes: the batches, ``/system/info``, and the provider's API that the gateway
proxies under ``/system/`` (OpenFaaS's), with the provider's models as components.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from gateway.routes import ROUTES, Handler, Route
from provider.types import (
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionStatus,
    ProviderInfo,
    ScaleServiceRequest,
    Secret,
)

__all__ = ["components", "hot_paths"]

_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The function, or `name.namespace`; `/<path>` may follow and is passed on.",
    "schema": {"type": "string", "pattern": "^[-a-zA-Z_0-9]+(\\.[-a-zA-Z_0-9]+)?$"},
}
_CALL_ID = {
    "name": "X-Call-Id",
    "in": "header",
    "required": False,
    "description": "The call id to use (up to 128 letters, digits, `.`, `_`, `:`, `-`); a new uuid4 if absent.",
    "schema": {"type": "string"},
}
_CALLBACK = {
    "name": "X-Callback-Url",
    "in": "header",
    "required": False,
    "description": "Absolute http(s) URL that receives the function's response.",
    "schema": {"type": "string", "format": "uri"},
}
_BODY = {"required": False, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _TEXT}


def _async_call() -> dict[str, Any]:
    headers = {"X-Call-Id": {"schema": {"type": "string"}}, "X-Start-Time": {"schema": {"type": "integer"}}}
    return {
        "tags": ["functions"],
        "summary": "Queue an asynchronous call (any method)",
        "description": "The call is stored on NATS JetStream; 202 only once the stream has acknowledged it. "
        "A call resent with the same `X-Call-Id` within the duplicate window is stored once.",
        "parameters": [_NAME, _CALLBACK, _CALL_ID],
        "requestBody": _BODY,
        "responses": {
            "202": {"description": "Stored; it will run and its result go to `X-Callback-Url`.", "headers": headers},
            "400": _error("Bad function name, `X-Callback-Url` or `X-Call-Id`."),
            "404": _error("No such function; nothing was queued."),
            "408": _error("The body did not arrive within `read_timeout`."),
            "413": _error("The body is over `max_body_bytes` or the NATS server's message limit."),
            "431": _error("The headers take more than JetStream's 64 KiB header limit; nothing was queued."),
            "502": _error("The provider could not be asked about the function."),
            "503": _error("NATS did not store the call in time; resend it with the same `X-Call-Id`."),
        },
    }


def _sync_call() -> dict[str, Any]:
    headers = {"X-Call-Id": {"schema": {"type": "string"}}, "X-Duration-Seconds": {"schema": {"type": "number"}}}
    return {
        "tags": ["functions"],
        "summary": "Invoke a function and wait for its response (GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD)",
        "parameters": [_NAME, _CALL_ID],
        "requestBody": _BODY,
        "responses": {
            "200": {"description": "The function's response, streamed.", "headers": headers},
            "404": _error("No such function."),
            "502": _error("The provider or the replica could not be reached."),
            "503": _error("No replica became ready in time."),
            "504": _error("The call took longer than `upstream_timeout`."),
        },
    }


_CALL = {
    "name": "call_id",
    "in": "path",
    "required": True,
    "description": "The `X-Call-Id` the gateway answered when it queued the call.",
    "schema": {"type": "string"},
}
_RECORD = {"application/json": {"schema": {"type": "object"}}}
_AUTH = " Needs the gateway's credentials when `basic_auth` is on."


def _status(auth: str) -> dict[str, Any]:
    return {
        "tags": ["calls"],
        "summary": "An async call's status",
        "description": "State (scheduled, queued, running, retrying, succeeded, failed, dead, cancelled), attempt, "
        "timestamps (RFC 3339), status code, duration, reason." + auth,
        "parameters": [_CALL],
        "responses": {
            "200": {"description": "The call's status record.", "content": _RECORD},
            "404": _error("No such call, or its status has expired."),
        },
    }


def _cancel(form: str, auth: str) -> dict[str, Any]:
    return {
        "tags": ["calls"],
        "summary": f"Cancel an async call that has not started{form}",
        "description": "A queued call, or one waiting between attempts, never runs." + auth,
        "parameters": [{**_CALL, "name": "name"} if form else _CALL],
        "responses": {
            "202": {"description": "Cancelled; its status record.", "content": _RECORD},
            "404": _error("No such call, or its status has expired."),
            "409": _error("The call is running or has finished."),
        },
    }


def _operations(route: Route) -> dict[str, Any]:
    auth = _AUTH if route.credentials else ""
    if route.handler is Handler.ENQUEUE:
        return {"post": _async_call()}
    if route.handler is Handler.INVOKE:
        return {"post": _sync_call()}
    if route.methods == frozenset({"DELETE"}):
        return {"delete": _cancel(" (OpenFaaS Pro's form: `{name}` is the call id, nothing after it)", auth)}
    return {"get": _status(auth), "delete": _cancel("", auth)}


def hot_paths() -> dict[str, Any]:
    """The path items of every route with an OpenAPI path (``doc``), the batches' and the provider's API."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        if route.doc is not None:
            paths.setdefault(route.doc, {}).update(_operations(route))
    return paths | _batches() | _system()


_MODELS = (FunctionDeployment, FunctionStatus, ScaleServiceRequest, DeleteFunctionRequest, ProviderInfo, Secret)


def components() -> dict[str, Any]:
    """The schemas the provider's API refers to (``#/components/schemas/<model>``)."""
    _, schemas = models_json_schema(
        [(model, "validation") for model in _MODELS], ref_template="#/components/schemas/{model}"
    )
    defs: dict[str, Any] = schemas.get("$defs", {})
    return defs


def _ref(model: type) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _body(model: type) -> dict[str, Any]:
    return {"required": True, "content": _json(_ref(model))}


_JSON_ERROR = {"description": "Refused; the body says why.", "content": _TEXT}
_NAMESPACE = {
    "name": "namespace",
    "in": "query",
    "required": False,
    "description": "The functions' namespace; empty: the default one.",
    "schema": {"type": "string"},
}
_FUNCTION = {**_NAME, "description": "The function's name."}
_BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "description": "The batch's id (`X-Batch-Id`).",
    "schema": {"type": "string"},
}


def _batches() -> dict[str, Any]:
    submit = {
        "tags": ["batches"],
        "summary": "Queue a batch of async calls to one function",
        "description": "The body is JSON lines (`application/x-ndjson`, one item per line) or a JSON array; each "
        "item is one call's body. 202 once every item is stored; a resend with the same `X-Batch-Id` queues only "
        "the items not stored yet." + _AUTH,
        "parameters": [
            {**_NAME, "name": "name"},
            _CALLBACK,
            {
                "name": "X-Batch-Id",
                "in": "header",
                "required": False,
                "description": "The batch's id (up to 100 letters, digits, `.`, `_`, `-`); a new uuid4 if absent.",
                "schema": {"type": "string"},
            },
            {
                "name": "X-Batch-Callback-Url",
                "in": "header",
                "required": False,
                "description": "Receives the batch's summary once every item has finished.",
                "schema": {"type": "string", "format": "uri"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {}}},
            },
        },
        "responses": {
            "202": {"description": "Every item is stored.", "content": _RECORD},
            "400": _error("A bad item, header or body."),
            "404": _error("No such function; nothing was queued."),
            "413": _error("Too many items, or an item over the message limit."),
            "503": _error("Some items were not stored; the body lists those that were. Resend the same body."),
        },
    }
    status = {
        "tags": ["batches"],
        "summary": "A batch's progress: its items by state, and those in one state",
        "parameters": [
            _BATCH_ID,
            {"name": "items", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer"}},
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
        ],
        "responses": {
            "200": {"description": "The batch's record.", "content": _RECORD},
            "400": _error("A bad query."),
            "404": _error("No such batch, or its record has expired."),
        },
    }
    cancel = {
        "tags": ["batches"],
        "summary": "Cancel the items of a batch that have not started",
        "parameters": [_BATCH_ID],
        "responses": {
            "202": {"description": "How many items were cancelled.", "content": _RECORD},
            "404": _error("No such batch, or its record has expired."),
        },
    }
    return {"/async-batches/{name}": {"post": submit}, "/async-batches/{batch_id}": {"get": status, "delete": cancel}}


def _system() -> dict[str, Any]:
    def accepted(summary: str, model: type, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "tags": ["system"],
            "summary": summary + " (the provider's)",
            "requestBody": _body(model),
            "responses": {"202": {"description": "Accepted."}, "400": _JSON_ERROR, "404": _JSON_ERROR, **(extra or {})},
        }

    def listed(summary: str, items: dict[str, Any], parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "tags": ["system"],
            "summary": summary + " (the provider's)",
            "parameters": parameters,
            "responses": {"200": {"description": summary, "content": _json({"type": "array", "items": items})}},
        }

    return {
        "/system/functions": {
            "get": listed("List functions", _ref(FunctionStatus), [_NAMESPACE]),
            "post": accepted("Deploy a function", FunctionDeployment, {"409": _JSON_ERROR}),
            "put": accepted("Update a function", FunctionDeployment),
            "delete": accepted("Remove a function", DeleteFunctionRequest),
        },
        "/system/function/{name}": {
            "get": {
                "tags": ["system"],
                "summary": "Describe a function (the provider's)",
                "parameters": [_FUNCTION, _NAMESPACE],
                "responses": {
                    "200": {"description": "The function.", "content": _json(_ref(FunctionStatus))},
                    "404": _JSON_ERROR,
                },
            }
        },
        "/system/scale-function/{name}": {
            "post": {**accepted("Scale a function", ScaleServiceRequest), "parameters": [_FUNCTION]}
        },
        "/system/namespaces": {"get": listed("List namespaces", {"type": "string"}, [])},
        "/system/secrets": {"get": listed("List secrets, names only", _ref(Secret), [_NAMESPACE])},
        "/system/info": {
            "get": {
                "tags": ["system"],
                "summary": "The gateway's and the provider's version",
                "responses": {"200": {"description": "Versions.", "content": _json(_ref(ProviderInfo))}},
            }
        },
        "/system/logs": {
            "get": {
                "tags": ["system"],
                "summary": "Stream a function's logs (the provider's), one JSON message per line",
                "parameters": [
                    {"name": "name", "in": "query", "required": True, "schema": {"type": "string"}},
                    _NAMESPACE,
                    {"name": "tail", "in": "query", "required": False, "schema": {"type": "integer"}},
                    {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"}},
                    {"name": "since", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "The logs.", "content": {"application/x-ndjson": {}}}},
            }
        },
    }
