"""The provider REST server's system API, in process over an in-memory provider."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from provider.types import FunctionStatus, Secret
from tests.support.provider_fake import FakeProvider

DEPLOY: dict[str, Any] = {
    "service": "echo",
    "image": "ghcr.io/example/echo:1",
    "envProcess": "cat",
    "labels": {},
    "annotations": {"topic": "t"},
}


async def deploy(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    return await client.post("/system/functions", json=DEPLOY | overrides)


async def test_lifespan_starts_and_stops_the_provider(settings: Any) -> None:
    from provider.app import create_app

    fake = FakeProvider()
    app = create_app(settings, fake)
    async with app.router.lifespan_context(app):
        assert fake.events == ["startup"]
    assert fake.events == ["startup", "shutdown"]


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["content-type"].startswith("text/plain")


async def test_deploy_answers_202_with_an_empty_body(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    response = await deploy(client)
    assert (response.status_code, response.content) == (202, b"")
    assert fake.functions["openfaas-fn", "echo"].env_process == "cat"


async def test_deploy_without_content_type_is_still_json(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    # Go clients may send no Content-Type; faas-netes decodes the body regardless.
    response = await client.post("/system/functions", content=b'{"service":"raw","image":"i"}')
    assert response.status_code == 202
    assert ("openfaas-fn", "raw") in fake.functions


async def test_list_uses_openfaas_names_and_omits_unset_fields(client: httpx.AsyncClient) -> None:
    await deploy(client)
    response = await client.get("/system/functions")
    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "echo",
            "image": "ghcr.io/example/echo:1",
            "namespace": "openfaas-fn",
            "envProcess": "cat",
            "labels": {},
            "annotations": {"topic": "t"},
            "invocationCount": 0.0,
            "replicas": 1,
            "availableReplicas": 1,
            "createdAt": "2026-01-02T03:04:05Z",
        }
    ]


async def test_list_of_an_empty_namespace_is_an_empty_array(client: httpx.AsyncClient) -> None:
    response = await client.get("/system/functions", params={"namespace": "staging"})
    assert (response.status_code, response.text) == (200, "[]")


async def test_namespace_comes_from_the_body_or_the_default(client: httpx.AsyncClient) -> None:
    await deploy(client, namespace="staging")
    await deploy(client, namespace="")
    staging = await client.get("/system/functions", params={"namespace": "staging"})
    default = await client.get("/system/functions", params={"namespace": ""})
    assert [f["namespace"] for f in staging.json()] == ["staging"]
    assert [f["namespace"] for f in default.json()] == ["openfaas-fn"]


async def test_deploy_twice_is_409(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deploy(client)
    response = await deploy(client, image="other")
    assert response.status_code == 409
    assert response.text == "function 'echo' already exists in namespace 'openfaas-fn'"
    assert fake.functions["openfaas-fn", "echo"].image == "ghcr.io/example/echo:1"


async def test_a_failed_deploy_is_500_and_logged(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    response = await deploy(client, image="explode")
    assert (response.status_code, response.text) == (500, "the backend is on fire")
    assert "POST /system/functions failed: the backend is on fire" in caplog.text


async def test_invalid_request_from_the_provider_is_400(client: httpx.AsyncClient) -> None:
    response = await deploy(client, image="invalid")
    assert (response.status_code, response.text) == (400, "this backend cannot run that image")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "failed to unmarshal request: empty body"),
        (b"{not json", "failed to unmarshal request: Expecting property name enclosed in double quotes"),
        (b"[1]", "failed to unmarshal request: expected a JSON object, got list"),
        (b'{"image":"x"}', "validation failed: service: Field required"),
        (b'{"service":"Bad_Name","image":"x"}', "validation failed: service: String should match pattern"),
        (b'{"service":"ok","image":"x","labels":[]}', "validation failed: labels: Input should be a valid dict"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_bad_deployments_are_400_with_a_message(
    client: httpx.AsyncClient, fake: FakeProvider, method: str, body: bytes, message: str
) -> None:
    response = await client.request(method, "/system/functions", content=body)
    assert response.status_code == 400
    assert response.text.startswith(message)
    assert response.headers["content-type"].startswith("text/plain")
    assert fake.functions == {}


async def test_update_replaces_and_keeps_replicas(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deploy(client)
    await client.post("/system/scale-function/echo", json={"serviceName": "echo", "replicas": 3})
    response = await client.put("/system/functions", json=DEPLOY | {"image": "v2"})
    assert (response.status_code, response.content) == (202, b"")
    function = fake.functions["openfaas-fn", "echo"]
    assert (function.image, function.replicas) == ("v2", 3)


async def test_update_of_a_missing_function_is_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/system/functions", json=DEPLOY)
    assert response.status_code == 404
    assert response.text == "function 'echo' not found in namespace 'openfaas-fn'"


async def test_delete(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deploy(client, namespace="staging")
    body = {"functionName": "echo", "namespace": "staging"}
    response = await client.request("DELETE", "/system/functions", json=body)
    assert (response.status_code, response.content) == (202, b"")
    assert fake.functions == {}
    again = await client.request("DELETE", "/system/functions", json=body)
    assert again.status_code == 404


async def test_delete_reads_the_namespace_from_the_query_too(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    # OpenFaaS: faas-netes' DELETE reads the namespace from the query string.
    await deploy(client, namespace="staging")
    response = await client.request(
        "DELETE", "/system/functions", params={"namespace": "staging"}, json={"functionName": "echo"}
    )
    assert response.status_code == 202
    assert fake.functions == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nope", "failed to unmarshal request: "),
        (b"{}", "validation failed: functionName: Field required"),
        (b'{"functionName":""}', "validation failed: functionName: String should have at least 1 character"),
    ],
)
async def test_bad_delete_is_400(client: httpx.AsyncClient, body: bytes, message: str) -> None:
    response = await client.request("DELETE", "/system/functions", content=body)
    assert response.status_code == 400
    assert response.text.startswith(message)


async def test_get_function(client: httpx.AsyncClient) -> None:
    await deploy(client, namespace="staging")
    response = await client.get("/system/function/echo", params={"namespace": "staging"})
    assert response.status_code == 200
    assert FunctionStatus.model_validate(response.json()).available_replicas == 1
    assert response.json()["name"] == "echo"
    assert "service" not in response.json()


async def test_get_missing_function_is_404_saying_so(client: httpx.AsyncClient) -> None:
    await deploy(client, namespace="staging")
    response = await client.get("/system/function/echo")
    assert (response.status_code, response.text) == (404, "function 'echo' not found in namespace 'openfaas-fn'")


async def test_scale(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    await deploy(client, namespace="staging")
    response = await client.post(
        "/system/scale-function/echo", json={"serviceName": "echo", "replicas": 0, "namespace": "staging"}
    )
    assert (response.status_code, response.content) == (202, b"")
    assert fake.functions["staging", "echo"].replicas == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"serviceName": "echo", "replicas": -1}, 400, "validation failed: replicas: Input should be greater"),
        ({"serviceName": "echo"}, 400, "validation failed: replicas: Field required"),
        ({"serviceName": "missing", "replicas": 1}, 404, "function 'missing' not found"),
    ],
)
async def test_bad_scale(
    client: httpx.AsyncClient, fake: FakeProvider, body: dict[str, Any], status: int, message: str
) -> None:
    await deploy(client)
    response = await client.post(f"/system/scale-function/{body['serviceName']}", json=body)
    assert response.status_code == status
    assert response.text.startswith(message)
    assert fake.functions["openfaas-fn", "echo"].replicas == 1


async def test_info(client: httpx.AsyncClient) -> None:
    response = await client.get("/system/info")
    assert response.json() == {
        "provider": "faasq-fake",
        "orchestration": "memory",
        "version": {"sha": "abc", "release": "1"},
    }


async def test_namespaces(client: httpx.AsyncClient) -> None:
    response = await client.get("/system/namespaces")
    assert (response.status_code, response.json()) == (200, ["openfaas-fn", "staging"])


async def test_secrets_lifecycle_never_shows_values(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    created = await client.post("/system/secrets", json={"name": "token", "value": "s3cret"})
    raw = await client.post("/system/secrets", json={"name": "key", "rawValue": "AAEC", "namespace": "staging"})
    assert (created.status_code, created.content, raw.status_code) == (202, b"", 202)
    assert fake.secrets["staging", "key"].payload() == b"\x00\x01\x02"
    listed = await client.get("/system/secrets")
    assert (listed.status_code, listed.json()) == (200, [{"name": "token", "namespace": "openfaas-fn"}])
    updated = await client.put("/system/secrets", json={"name": "token", "value": "new"})
    assert updated.status_code == 202
    assert fake.secrets["openfaas-fn", "token"].payload() == b"new"
    deleted = await client.request("DELETE", "/system/secrets", json={"name": "token"})
    assert deleted.status_code == 202
    assert (await client.get("/system/secrets")).json() == []


@pytest.mark.parametrize(
    ("method", "body", "status", "message"),
    [
        ("POST", {"name": "dup", "value": "v"}, 409, "secret 'dup' already exists in namespace 'openfaas-fn'"),
        ("PUT", {"name": "none", "value": "v"}, 404, "secret 'none' not found in namespace 'openfaas-fn'"),
        ("DELETE", {"name": "none"}, 404, "secret 'none' not found in namespace 'openfaas-fn'"),
        ("POST", {"name": "a", "rawValue": "!!"}, 400, "validation failed: rawValue: rawValue is not"),
        ("POST", {"value": "v"}, 400, "validation failed: name: Field required"),
    ],
)
async def test_secret_errors(
    client: httpx.AsyncClient, fake: FakeProvider, method: str, body: dict[str, Any], status: int, message: str
) -> None:
    fake.secrets["openfaas-fn", "dup"] = Secret(name="dup", value="old")
    response = await client.request(method, "/system/secrets", json=body)
    assert response.status_code == status
    assert response.text.startswith(message)
    assert list(fake.secrets) == [("openfaas-fn", "dup")]
    assert fake.secrets["openfaas-fn", "dup"].value == "old"


async def test_a_backend_without_a_capability_answers_501(client: httpx.AsyncClient, fake: FakeProvider) -> None:
    async def refuse() -> list[str]:
        raise NotImplementedError("FakeProvider cannot list namespaces")

    fake.namespaces = refuse  # type: ignore[method-assign]
    response = await client.get("/system/namespaces")
    assert (response.status_code, response.text) == (501, "FakeProvider cannot list namespaces")


async def test_openapi_documents_bodies_with_openfaas_names(client: httpx.AsyncClient, app: FastAPI) -> None:
    spec = (await client.get("/openapi.json")).json()
    deploy_op = spec["paths"]["/system/functions"]["post"]
    schema = deploy_op["requestBody"]["content"]["application/json"]["schema"]
    assert {"service", "envProcess", "readOnlyRootFilesystem"} <= set(schema["properties"])
    assert "$defs" not in str(schema)
    assert deploy_op["summary"] == "Deploy a function"
    assert not any(path.startswith("/function/") for path in spec["paths"])
    assert (await client.get("/docs")).status_code == 200
