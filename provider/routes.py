"""The faas-provider system API: functions, scaling, info, namespaces, secrets, health.

Status codes follow faas-netes (REFERENCE.md §1); provider errors become codes in
``provider.statuses`` through the app's exception handlers. Bodies are OpenFaaS JSON
with unset optional fields left out (:func:`provider.types.wire`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from provider.deps import (
    DeleteBody,
    DeploymentBody,
    NamespaceDep,
    ProviderDep,
    ScaleBody,
    SecretBody,
    request_body_doc,
)
from provider.errors import FunctionNotFound
from provider.types import (
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionStatus,
    ProviderInfo,
    ScaleServiceRequest,
    Secret,
    wire,
)

__all__ = ["router"]

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad JSON or failed validation (plain text)."},
    404: {"description": "No such function (plain text)."},
}
_NAME = Path(description="The function's name.")


def _accepted() -> Response:
    # OpenFaaS: faas-netes answers mutations with 202 and an empty body.
    return Response(status_code=202)


@router.get("/healthz", summary="Health check", response_class=PlainTextResponse, tags=["health"])
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("OK")


@router.get("/system/functions", summary="List functions", response_model=list[FunctionStatus], tags=["functions"])
async def list_functions(provider: ProviderDep, namespace: NamespaceDep) -> Response:
    functions = await provider.list_functions(namespace)
    return JSONResponse([wire(function) for function in functions])


@router.post(
    "/system/functions",
    summary="Deploy a function",
    status_code=202,
    openapi_extra=request_body_doc(FunctionDeployment),
    responses={**_ERRORS, 409: {"description": "The function already exists; use PUT."}},
    tags=["functions"],
)
async def deploy(provider: ProviderDep, deployment: DeploymentBody) -> Response:
    await provider.deploy(deployment)
    return _accepted()


@router.put(
    "/system/functions",
    summary="Update a function",
    status_code=202,
    openapi_extra=request_body_doc(FunctionDeployment),
    responses=_ERRORS,
    tags=["functions"],
)
async def update(provider: ProviderDep, deployment: DeploymentBody) -> Response:
    await provider.update(deployment)
    return _accepted()


@router.delete(
    "/system/functions",
    summary="Remove a function",
    status_code=202,
    openapi_extra=request_body_doc(DeleteFunctionRequest),
    responses=_ERRORS,
    tags=["functions"],
)
async def delete(provider: ProviderDep, request: DeleteBody) -> Response:
    await provider.delete(request.function_name, request.namespace or "")
    return _accepted()


@router.get(
    "/system/function/{name}",
    summary="Describe a function",
    response_model=FunctionStatus,
    responses={404: {"description": "No such function (the body says so, in plain text)."}},
    tags=["functions"],
)
async def get_function(provider: ProviderDep, namespace: NamespaceDep, name: str = _NAME) -> Response:
    try:
        function = await provider.get(name, namespace)
    except FunctionNotFound as exc:
        # faas-netes answers with 404 and an empty body; clients look at the status alone, and a refusal says why.
        return PlainTextResponse(str(exc), status_code=404)
    return JSONResponse(wire(function))


@router.post(
    "/system/scale-function/{name}",
    summary="Scale a function",
    status_code=202,
    openapi_extra=request_body_doc(ScaleServiceRequest),
    responses=_ERRORS,
    tags=["functions"],
)
async def scale(provider: ProviderDep, request: ScaleBody, name: str = _NAME) -> Response:
    # OpenFaaS: the path names the function; the body's serviceName is informational.
    await provider.scale(name, request.namespace or "", request.replicas)
    return _accepted()


@router.get("/system/info", summary="Provider information", response_model=ProviderInfo, tags=["system"])
async def info(provider: ProviderDep) -> Response:
    return JSONResponse(wire(await provider.info()))


@router.get("/system/namespaces", summary="List namespaces", response_model=list[str], tags=["system"])
async def namespaces(provider: ProviderDep) -> Response:
    return JSONResponse(await provider.namespaces())


@router.get("/system/secrets", summary="List secrets (names only)", response_model=list[Secret], tags=["secrets"])
async def list_secrets(provider: ProviderDep, namespace: NamespaceDep) -> Response:
    secrets = await provider.list_secrets(namespace)
    # Never a value, whatever the backend returned.
    return JSONResponse([wire(Secret(name=s.name, namespace=s.namespace)) for s in secrets])


_SECRET_DOC = request_body_doc(Secret)


@router.post(
    "/system/secrets",
    summary="Create a secret",
    status_code=202,
    openapi_extra=_SECRET_DOC,
    responses={400: _ERRORS[400], 409: {"description": "The secret already exists."}},
    tags=["secrets"],
)
async def create_secret(provider: ProviderDep, secret: SecretBody) -> Response:
    await provider.create_secret(secret)
    return _accepted()


@router.put(
    "/system/secrets",
    summary="Update a secret",
    status_code=202,
    openapi_extra=_SECRET_DOC,
    responses={400: _ERRORS[400], 404: {"description": "No such secret."}},
    tags=["secrets"],
)
async def update_secret(provider: ProviderDep, secret: SecretBody) -> Response:
    await provider.update_secret(secret)
    return _accepted()


@router.delete(
    "/system/secrets",
    summary="Remove a secret",
    status_code=202,
    openapi_extra=_SECRET_DOC,
    responses={400: _ERRORS[400], 404: {"description": "No such secret."}},
    tags=["secrets"],
)
async def delete_secret(provider: ProviderDep, secret: SecretBody) -> Response:
    await provider.delete_secret(secret.name, secret.namespace or "")
    return _accepted()
