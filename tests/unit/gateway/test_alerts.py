"""``POST /system/alert``: AlertManager's webhook body scales functions as OpenFaaS CE's gateway does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.app import create_app
from provider.types import FunctionStatus
from tests.support.gateway_fakes import FakeLink, FakeLookup, serve, settings_with


def scaled(name: str, replicas: int, **labels: str) -> FunctionStatus:
    return FunctionStatus(
        name=name, namespace="openfaas-fn", image="i", replicas=replicas,
        labels={f"com.openfaas.scale.{key.replace('_', '-')}": value for key, value in labels.items()},
    )  # fmt: skip


def notification(status: str, *function_names: str, alertname: str = "APIHighInvocationRate") -> dict[str, Any]:
    """AlertManager's webhook body, as its version 4 sends it."""
    alerts = [
        {
            "status": status,
            "labels": {"alertname": alertname, "function_name": name, "service": "gateway", "severity": "major"},
            "annotations": {"description": f'High invocation total on "{name}"'},
            "startsAt": "2026-12-04T19:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "0123456789abcdef",
        }
        for name in function_names
    ]
    return {
        "version": "4", "groupKey": "{}:{alertname=\"APIHighInvocationRate\"}", "truncatedAlerts": 0,
        "status": status, "receiver": "scale-up", "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }  # fmt: skip


async def test_firing_adds_a_step_per_notification_up_to_max_and_resolved_returns_to_min(tmp_path: Path) -> None:
    lookup = FakeLookup(scaled("figlet", 1, min="1", max="5", factor="20"))  # step: ceil(5 * 20 / 100) = 1
    async with serve(create_app(settings_with(tmp_path), link=FakeLink(), lookup=lookup)) as client:
        replicas = []
        for _ in range(6):
            answer = await client.post("/system/alert", json=notification("firing", "figlet.openfaas-fn"))
            assert answer.status_code == 200, answer.text
            replicas.append(lookup.functions[("figlet", "openfaas-fn")].replicas)
        assert replicas == [2, 3, 4, 5, 5, 5]
        answer = await client.post("/system/alert", json=notification("resolved", "figlet.openfaas-fn"))
        assert answer.json() == {"scaled": [{"function": "figlet.openfaas-fn", "result": "resolved", "replicas": 1}]}
    assert lookup.functions[("figlet", "openfaas-fn")].replicas == 1


async def test_the_default_step_is_ten_percent_of_max_and_fixed_functions_are_left_alone(tmp_path: Path) -> None:
    lookup = FakeLookup(scaled("big", 1), scaled("pinned", 2, min="2", max="2"), scaled("off", 1, factor="0"))
    async with serve(create_app(settings_with(tmp_path), link=FakeLink(), lookup=lookup)) as client:
        body = notification("firing", "big.openfaas-fn", "pinned.openfaas-fn", "off.openfaas-fn", "ghost.openfaas-fn")
        answer = await client.post("/system/alert", json=body)
    assert answer.status_code == 200
    assert [row["result"] for row in answer.json()["scaled"]] == ["firing", "fixed", "fixed", "no such function"]
    counts = {name: status.replicas for (name, _), status in lookup.functions.items()}
    assert counts == {"big": 3, "pinned": 2, "off": 1}  # max 20, factor 10: +2


async def test_other_alerts_and_bad_bodies_scale_nothing(tmp_path: Path) -> None:
    lookup = FakeLookup(scaled("figlet", 1))
    async with serve(create_app(settings_with(tmp_path), link=FakeLink(), lookup=lookup)) as client:
        other = await client.post("/system/alert", json=notification("firing", "figlet", alertname="HighMemory"))
        assert other.json() == {"scaled": []}
        assert (await client.post("/system/alert", content=b"not json")).status_code == 422
        assert (await client.post("/system/alert", json={"alerts": [{"labels": {}}]})).status_code == 422
    assert not [event for event in lookup.events if event.startswith("scale")]


async def test_a_provider_outage_is_a_5xx_so_alertmanager_sends_it_again(tmp_path: Path) -> None:
    lookup = FakeLookup(scaled("figlet", 1))
    async with serve(create_app(settings_with(tmp_path), link=FakeLink(), lookup=lookup)) as client:
        lookup.down = True
        answer = await client.post("/system/alert", json=notification("firing", "figlet.openfaas-fn"))
    assert answer.status_code == 502
    assert "provider" in answer.json()["detail"]


async def test_the_alert_route_needs_the_gateways_credentials(tmp_path: Path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("secret")
    lookup = FakeLookup(scaled("figlet", 1))
    app = create_app(settings_with(tmp_path, basic_auth=True), link=FakeLink(), lookup=lookup)
    async with serve(app) as client:
        body = notification("firing", "figlet.openfaas-fn")
        assert (await client.post("/system/alert", json=body)).status_code == 401
        assert (await client.post("/system/alert", json=body, auth=("admin", "secret"))).status_code == 200
