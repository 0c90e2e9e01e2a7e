"""``/system/alert`` scales a real function through a real provider, and a deploy with bad scaling labels is a 400."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def _firing(status: str, function_name: str) -> dict[str, object]:
    labels = {"alertname": "APIHighInvocationRate", "function_name": function_name}
    return {"version": "4", "status": status, "receiver": "scale-up", "alerts": [{"status": status, "labels": labels}]}


async def _replicas(gateway: httpx.AsyncClient, name: str, count: int) -> bool | None:
    status = (await gateway.get(f"/system/function/{name}")).json()
    return True if (status["replicas"], status["availableReplicas"]) == (count, count) else None


async def test_firing_scales_the_function_up_and_resolved_back_to_min(gateway: httpx.AsyncClient) -> None:
    name = f"alerted-{uuid.uuid4().hex[:6]}"
    labels = {"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "3", "com.openfaas.scale.factor": "34"}
    deployed = await gateway.post(
        "/system/functions", json={"service": name, "image": "i", "envProcess": "cat", "labels": labels}
    )
    assert deployed.status_code == 202, deployed.text
    try:
        await eventually(lambda: _replicas(gateway, name, 1), within=20)
        answered = []
        for _ in range(3):  # +ceil(3 * 34 / 100) = +2 per firing, up to max
            answer = await gateway.post("/system/alert", json=_firing("firing", f"{name}.openfaas-fn"))
            assert answer.status_code == 200, answer.text
            answered += [row["replicas"] for row in answer.json()["scaled"]]
        assert answered == [3, 3, 3]
        await eventually(lambda: _replicas(gateway, name, 3), within=20)
        assert (await gateway.post("/system/alert", json=_firing("resolved", f"{name}.openfaas-fn"))).status_code == 200
        await eventually(lambda: _replicas(gateway, name, 1), within=20)
    finally:
        await gateway.request("DELETE", "/system/functions", json={"functionName": name})


@pytest.mark.parametrize(
    ("labels", "named"),
    [
        ({"com.openfaas.scale.min": "-1"}, "com.openfaas.scale.min"),
        ({"com.openfaas.scale.min": "3", "com.openfaas.scale.max": "2"}, "com.openfaas.scale.min (3) exceeds"),
        ({"com.openfaas.scale.type": "memory"}, "com.openfaas.scale.type"),
        ({"com.openfaas.scale.target": "lots"}, "com.openfaas.scale.target"),
        ({"com.openfaas.scale.zero-duration": "soon"}, "com.openfaas.scale.zero-duration"),
    ],
)
async def test_a_deploy_with_bad_scaling_labels_is_a_400_naming_the_label(
    gateway: httpx.AsyncClient, labels: dict[str, str], named: str
) -> None:
    name = f"badly-{uuid.uuid4().hex[:6]}"
    answer = await gateway.post(
        "/system/functions", json={"service": name, "image": "i", "envProcess": "cat", "labels": labels}
    )
    assert answer.status_code == 400
    assert named in answer.text
    assert (await gateway.get(f"/system/function/{name}")).status_code == 404
