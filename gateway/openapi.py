"""OpenAPI entries of the routes served ahead of FastAPI (``gateway.routes.ROUTES``), so ``/docs`` shows them."""

from __future__ import annotations

from typing import Any

from gateway.routes import ROUTES, Handler, Route

__all__ = ["hot_paths"]

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
    """The path items of every route with an OpenAPI path (``doc``)."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        if route.doc is not None:
            paths.setdefault(route.doc, {}).update(_operations(route))
    return paths
