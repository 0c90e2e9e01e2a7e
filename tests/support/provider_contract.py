"""The provider contract: one suite every backend passes, written against ``provider.protocol.Provider`` only.

Subclass :class:`ProviderContract` as ``Test<Backend>Contract`` and override the ``provider``
fixture (a started provider deploying to ``NAMESPACE``, shut down afterwards); override
``invoke`` if resolved URLs are not reachable from the test over plain HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from provider.errors import (
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    SecretExists,
    SecretNotFound,
)
from provider.protocol import Provider
from provider.types import FunctionDeployment, FunctionStatus, LogRequest, Secret, wire
from tests.support.polling import eventually

NAMESPACE = "openfaas-fn"
IMAGE = "ghcr.io/openfaas/alpine:latest"
READY_WITHIN = 20.0

Invoke = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


def echo(name: str = "echo", **fields: object) -> FunctionDeployment:
    """OpenFaaS's classic ``cat`` function: the response is the request body."""
    spec: dict[str, object] = {"service": name, "image": IMAGE, "namespace": NAMESPACE, "envProcess": "cat"}
    return FunctionDeployment.model_validate({**spec, **fields})


def printenv(name: str, env_vars: dict[str, str], **fields: object) -> FunctionDeployment:
    """A function answering with its environment."""
    return echo(name, envProcess="env", envVars=env_vars, **fields)


async def replicas_settle(provider: Provider, name: str, count: int) -> FunctionStatus:
    """Wait until ``count`` replicas are desired and exactly that many are available."""

    async def settled() -> FunctionStatus | None:
        status = await provider.get(name, NAMESPACE)
        return status if (status.replicas, status.available_replicas) == (count, count) else None

    return await eventually(settled, within=READY_WITHIN, every=0.05)


async def names(provider: Provider) -> list[str]:
    return [f.name for f in await provider.list_functions(NAMESPACE)]


class ProviderContract:
    """Behaviour every provider shares; see the module docstring for how to run it."""

    @pytest.fixture
    def provider(self) -> Provider:
        raise NotImplementedError("a backend's test class provides the provider fixture")

    @pytest.fixture
    async def invoke(self) -> AsyncIterator[Invoke]:
        async with httpx.AsyncClient(timeout=10) as client:

            async def call(url: str, body: bytes) -> tuple[int, bytes]:
                response = await client.post(f"{url}/", content=body)
                return response.status_code, response.content

            yield call

    async def test_deploy_then_get_and_list_show_it_exactly(self, provider: Provider) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        request = echo(
            "shown",
            envVars={"A": "1"},
            labels={"team": "blue"},
            annotations={"topic": "orders"},
            constraints=["node=one"],
            limits={"memory": "128Mi"},
            requests={"cpu": "100m"},
            readOnlyRootFilesystem=True,
        )
        await provider.deploy(request)
        status = await provider.get("shown", NAMESPACE)
        assert status.created_at is not None
        assert before <= status.created_at <= datetime.now(UTC)
        assert wire(status) | {"createdAt": None, "availableReplicas": None} == {
            "name": "shown",
            "image": IMAGE,
            "namespace": NAMESPACE,
            "envProcess": "cat",
            "envVars": {"A": "1"},
            "labels": {"team": "blue", "faas_function": "shown"},  # as faas-netes lists it
            "annotations": {"topic": "orders"},
            "constraints": ["node=one"],
            "limits": {"memory": "128Mi"},
            "requests": {"cpu": "100m"},
            "readOnlyRootFilesystem": True,
            "invocationCount": 0.0,
            "replicas": 1,
            "availableReplicas": None,
            "createdAt": None,
        }
        assert await provider.list_functions(NAMESPACE) == [await provider.get("shown", NAMESPACE)]

    async def test_list_is_sorted_by_name(self, provider: Provider) -> None:
        for name in ("charlie", "alpha", "bravo"):
            await provider.deploy(echo(name))
        assert await names(provider) == ["alpha", "bravo", "charlie"]

    async def test_available_replicas_reach_the_desired_count(self, provider: Provider) -> None:
        await provider.deploy(echo(labels={"com.openfaas.scale.min": "2"}))
        status = await replicas_settle(provider, "echo", 2)
        assert status.replicas == 2

    async def test_resolve_gives_a_url_that_answers_and_counts_invocations(
        self, provider: Provider, invoke: Invoke
    ) -> None:
        await provider.deploy(echo())
        url = await provider.resolve("echo", NAMESPACE)
        assert url.startswith("http")
        assert await invoke(url, b"hello") == (200, b"hello")
        await provider.resolve("echo", NAMESPACE)
        assert (await provider.get("echo", NAMESPACE)).invocation_count == 2.0
        assert [f.invocation_count for f in await provider.list_functions(NAMESPACE)] == [2.0]

    async def test_update_replaces_the_definition_and_keeps_the_count(self, provider: Provider, invoke: Invoke) -> None:
        await provider.deploy(printenv("env", {"GREETING": "one"}))
        await provider.scale("env", NAMESPACE, 2)
        await replicas_settle(provider, "env", 2)
        await provider.update(printenv("env", {"GREETING": "two"}, labels={"v": "2"}))
        status = await provider.get("env", NAMESPACE)
        assert (status.env_vars, status.labels, status.replicas) == (
            {"GREETING": "two"},
            {"v": "2", "faas_function": "env"},
            2,
        )

        async def greets_two() -> bool | None:
            _, body = await invoke(await provider.resolve("env", NAMESPACE), b"")
            return True if b"GREETING=two" in body else None

        await eventually(greets_two, within=READY_WITHIN, every=0.05)
        await replicas_settle(provider, "env", 2)
        for _ in range(4):  # every replica left runs the new definition
            _, body = await invoke(await provider.resolve("env", NAMESPACE), b"")
            assert b"GREETING=two" in body

    async def test_scale_up_and_down(self, provider: Provider) -> None:
        await provider.deploy(echo())
        await replicas_settle(provider, "echo", 1)
        await provider.scale("echo", NAMESPACE, 3)
        await replicas_settle(provider, "echo", 3)
        await provider.scale("echo", NAMESPACE, 1)
        await replicas_settle(provider, "echo", 1)

    async def test_scale_is_clamped_to_the_labels(self, provider: Provider) -> None:
        await provider.deploy(echo(labels={"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "3"}))
        await provider.scale("echo", NAMESPACE, 10)
        assert (await provider.get("echo", NAMESPACE)).replicas == 3
        await provider.scale("echo", NAMESPACE, 1)
        assert (await provider.get("echo", NAMESPACE)).replicas == 2

    async def test_scale_to_zero_then_resolve_scales_from_zero(self, provider: Provider, invoke: Invoke) -> None:
        await provider.deploy(echo(labels={"com.openfaas.scale.min": "2"}))
        await provider.scale("echo", NAMESPACE, 0)
        await replicas_settle(provider, "echo", 0)
        url = await provider.resolve("echo", NAMESPACE)
        assert await invoke(url, b"woke") == (200, b"woke")
        status = await provider.get("echo", NAMESPACE)
        assert status.replicas == 2
        assert status.available_replicas is not None
        assert status.available_replicas >= 1
        assert status.invocation_count == 1.0

    async def test_delete_removes_the_function(self, provider: Provider) -> None:
        await provider.deploy(echo("gone"))
        await provider.deploy(echo("kept"))
        await provider.delete("gone", NAMESPACE)
        assert await names(provider) == ["kept"]
        with pytest.raises(FunctionNotFound):
            await provider.get("gone", NAMESPACE)
        with pytest.raises(FunctionNotFound):
            await provider.delete("gone", NAMESPACE)

    async def test_a_deleted_name_can_be_deployed_again(self, provider: Provider, invoke: Invoke) -> None:
        await provider.deploy(echo())
        await provider.delete("echo", NAMESPACE)
        await provider.deploy(printenv("echo", {"AGAIN": "yes"}))
        _, body = await invoke(await provider.resolve("echo", NAMESPACE), b"")
        assert b"AGAIN=yes" in body
        assert (await provider.get("echo", NAMESPACE)).invocation_count == 1.0

    async def test_missing_functions_are_not_found_and_nothing_changes(self, provider: Provider) -> None:
        await provider.deploy(echo("present"))
        before = wire(await provider.get("present", NAMESPACE))
        with pytest.raises(FunctionNotFound) as raised:
            await provider.get("absent", NAMESPACE)
        assert (raised.value.name, raised.value.namespace) == ("absent", NAMESPACE)
        with pytest.raises(FunctionNotFound):
            await provider.update(echo("absent"))
        with pytest.raises(FunctionNotFound):
            await provider.scale("absent", NAMESPACE, 2)
        with pytest.raises(FunctionNotFound):
            await provider.resolve("absent", NAMESPACE)
        with pytest.raises(FunctionNotFound):
            await provider.delete("absent", NAMESPACE)
        with pytest.raises(FunctionNotFound):
            [m async for m in provider.logs(LogRequest(name="absent", namespace=NAMESPACE))]
        assert await names(provider) == ["present"]
        after = wire(await provider.get("present", NAMESPACE))
        assert after | {"availableReplicas": 0} == before | {"availableReplicas": 0}

    async def test_deploying_an_existing_name_fails_and_keeps_the_original(self, provider: Provider) -> None:
        await provider.deploy(echo("twice", envVars={"V": "1"}))
        with pytest.raises(FunctionExists):
            await provider.deploy(echo("twice", envVars={"V": "2"}, image="other:latest"))
        status = await provider.get("twice", NAMESPACE)
        assert (status.image, status.env_vars) == (IMAGE, {"V": "1"})

    @pytest.mark.parametrize(
        "fields",
        [
            {"namespace": "kube-system"},
            {"labels": {"com.openfaas.scale.min": "many"}},
            {"labels": {"com.openfaas.scale.min": "3", "com.openfaas.scale.max": "2"}},
            {"secrets": ["not-stored"]},
        ],
    )
    async def test_invalid_deployments_are_rejected_and_nothing_changes(
        self, provider: Provider, fields: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidRequest):
            await provider.deploy(echo("bad", **fields))
        assert await names(provider) == []
        await provider.deploy(echo("bad"))
        with pytest.raises(InvalidRequest):
            await provider.update(echo("bad", envVars={"X": "1"}, **fields))
        status = await provider.get("bad", NAMESPACE)
        assert (status.env_vars, status.labels, status.secrets) == (None, {"faas_function": "bad"}, None)

    async def test_secrets_crud(self, provider: Provider) -> None:
        assert await provider.list_secrets(NAMESPACE) == []
        await provider.create_secret(Secret(name="beta", namespace=NAMESPACE, value="b"))
        await provider.create_secret(
            Secret.model_validate({"name": "alpha", "namespace": NAMESPACE, "rawValue": "AQI="})
        )
        listed = await provider.list_secrets(NAMESPACE)
        assert [wire(s) for s in listed] == [
            {"name": "alpha", "namespace": NAMESPACE},
            {"name": "beta", "namespace": NAMESPACE},
        ]
        with pytest.raises(SecretExists):
            await provider.create_secret(Secret(name="beta", namespace=NAMESPACE, value="again"))
        await provider.update_secret(Secret(name="beta", namespace=NAMESPACE, value="b2"))
        with pytest.raises(SecretNotFound):
            await provider.update_secret(Secret(name="gamma", namespace=NAMESPACE, value="g"))
        await provider.delete_secret("beta", NAMESPACE)
        with pytest.raises(SecretNotFound):
            await provider.delete_secret("beta", NAMESPACE)
        assert [s.name for s in await provider.list_secrets(NAMESPACE)] == ["alpha"]

    async def test_a_function_may_use_a_stored_secret(self, provider: Provider) -> None:
        await provider.create_secret(Secret(name="token", namespace=NAMESPACE, value="t"))
        await provider.deploy(echo(secrets=["token"]))
        assert (await provider.get("echo", NAMESPACE)).secrets == ["token"]

    async def test_namespaces_and_info(self, provider: Provider) -> None:
        assert NAMESPACE in await provider.namespaces()
        info = await provider.info()
        assert info.provider
        assert info.orchestration
        assert info.version.release

    async def test_logs_of_a_new_function_can_be_read(self, provider: Provider) -> None:
        await provider.deploy(echo())
        lines = [m async for m in provider.logs(LogRequest(name="echo", namespace=NAMESPACE, tail=5))]
        assert len(lines) <= 5
        assert all((m.name, m.namespace) == ("echo", NAMESPACE) for m in lines)
