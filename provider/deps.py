"""FastAPI dependencies of the provider REST server, declared once as ``Annotated`` aliases.

Request bodies are decoded here rather than by FastAPI's body parameters, so that
bad input gets faas-provider's **400** and its plain-text messages (``failed to
unmarshal request: ...`` / ``validation failed: ...``) whatever the client's
``Content-Type``; faas-cli and Go clients do not always send ``application/json``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ValidationError

from plumbing.settings import describe_validation_error
from provider.config import ProviderSettings
from provider.errors import InvalidRequest
from provider.protocol import Provider
from provider.types import DeleteFunctionRequest, FunctionDeployment, LogRequest, ScaleServiceRequest, Secret

__all__ = [
    "DeleteBody",
    "DeploymentBody",
    "LogQuery",
    "NamespaceDep",
    "ProviderDep",
    "ScaleBody",
    "SecretBody",
    "SettingsDep",
    "decode_body",
    "request_body_doc",
]


M = TypeVar("M", bound=BaseModel)


def _provider(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


def _settings(request: Request) -> ProviderSettings:
    settings: ProviderSettings = request.app.state.settings
    return settings


ProviderDep = Annotated[Provider, Depends(_provider)]
"""The backend the app was built with."""

SettingsDep = Annotated[ProviderSettings, Depends(_settings)]
"""The app's settings."""


def _namespace(
    settings: SettingsDep,
    namespace: Annotated[str, Query(description="Namespace; empty means the default function namespace.")] = "",
) -> str:
    # OpenFaaS: GETs select a namespace with ?namespace=, an empty one means function_namespace.
    return namespace or settings.function_namespace


NamespaceDep = Annotated[str, Depends(_namespace)]
"""The ``?namespace=`` query parameter, or the default function namespace."""


def decode_body(model: type[M], raw: bytes) -> M:
    """Decode a JSON request body into ``model``.

    Raises:
        InvalidRequest: the body is not a JSON object (``failed to unmarshal request``) or
            does not validate (``validation failed``).
    """
    if not raw.strip():
        raise InvalidRequest("failed to unmarshal request: empty body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"failed to unmarshal request: {exc}") from exc
    except RecursionError:  # "[[[[..." a hundred thousand deep: hostile, never OpenFaaS's
        raise InvalidRequest("failed to unmarshal request: nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"failed to unmarshal request: expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"validation failed: {describe_validation_error(exc, root='body')}") from None


def _json_body(model: type[M]) -> Callable[[Request, str], Awaitable[M]]:
    async def parse(request: Request, namespace: NamespaceDep) -> M:
        body = decode_body(model, await request.body())
        # OpenFaaS: bodies carry "namespace"; faas-netes' DELETE also reads the query string.
        return body.model_copy(update={"namespace": getattr(body, "namespace", None) or namespace})

    return parse


DeploymentBody = Annotated[FunctionDeployment, Depends(_json_body(FunctionDeployment))]
"""A ``FunctionDeployment`` body, its namespace resolved."""

ScaleBody = Annotated[ScaleServiceRequest, Depends(_json_body(ScaleServiceRequest))]
"""A ``ScaleServiceRequest`` body, its namespace resolved."""

DeleteBody = Annotated[DeleteFunctionRequest, Depends(_json_body(DeleteFunctionRequest))]
"""A ``DeleteFunctionRequest`` body, its namespace resolved."""

SecretBody = Annotated[Secret, Depends(_json_body(Secret))]
"""A ``Secret`` body, its namespace resolved."""

LogQuery = Annotated[LogRequest, Query()]
"""The query of ``GET /system/logs``; FastAPI answers 422 when it does not validate."""


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if isinstance(ref := node.get("$ref"), str):
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a body decoded by a dependency, with OpenFaaS's JSON names."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    content = {"application/json": {"schema": _inline(schema, defs)}}
    return {"requestBody": {"required": True, "content": content}}
