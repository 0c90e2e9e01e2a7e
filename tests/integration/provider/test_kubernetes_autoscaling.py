"""The autoscaler scales a function of the Kubernetes provider: its Deployment's scale, patched on the API server.

The same loop as under ``faasq up``, in process: it reads the gateway's ``/metrics`` and
scales through the gateway's system API, in front of the Kubernetes provider, which talks
to the fake API server (whose pods run on a local provider).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from autoscaler.decision import Tuning
from autoscaler.loop import Autoscaler, SystemApi
from autoscaler.metrics import AutoscalerMetrics
from faasq.natsserver import NatsServer
from provider.app import create_app
from tests.support.gateway_process import running_gateway, settings_for
from tests.support.kube_provider import Kube
from tests.support.local_provider import settings_for as provider_settings
from tests.support.polling import eventually
from tests.support.worker import serving

pytestmark = pytest.mark.integration


async def test_a_backlog_patches_the_deployments_scale_up_to_max(
    kube: Kube, nats_server: NatsServer, unique_stream: str, tmp_path: Path
) -> None:
    name = f"backlog-{uuid.uuid4().hex[:6]}"
    labels = {"com.openfaas.scale.type": "queue", "com.openfaas.scale.target": "5", "com.openfaas.scale.max": "4"}
    provider_app = create_app(provider_settings(tmp_path / "provider"), kube.provider)
    async with (
        serving(provider_app) as provider_url,
        running_gateway(settings_for(provider_url, nats_server, unique_stream, tmp_path)) as gateway,
    ):
        body = {"service": name, "image": "faasq/echo:1", "envProcess": "cat", "labels": labels}
        assert (await gateway.post("/system/functions", json=body)).status_code == 202
        for n in range(20):  # no worker runs: they wait, 20 pending calls = ceil(20 / (5 * 0.9)) = 5 replicas
            assert (await gateway.post(f"/async-function/{name}", content=f"{n}")).status_code == 202
        api = SystemApi(str(gateway.base_url), timeout=10, headers={})
        async with api:
            autoscaler = Autoscaler(api, Tuning(), window=10, metrics=AutoscalerMetrics())
            decided = {status.name: decision for status, decision in await autoscaler.tick(time.monotonic())}
        assert (decided[name].desired, decided[name].cause) == (4, "load")

        async def scaled() -> bool | None:
            status = await kube.provider.get(name, "openfaas-fn")
            return True if status is not None and status.replicas == 4 else None

        await eventually(scaled, within=20)
    assert ("patch", "apps", "deployments/scale") in kube.api.calls
