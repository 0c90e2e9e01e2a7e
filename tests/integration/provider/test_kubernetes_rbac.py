"""The provider's Role in deploy/ grants exactly the calls the provider makes, and only in the functions namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provider.types import LogRequest, Secret
from tests.support.kube_provider import Kube, send_every_kind
from tests.support.provider_contract import NAMESPACE, echo, replicas_settle

pytestmark = pytest.mark.integration

RBAC = Path(__file__).parents[3] / "deploy" / "base" / "provider-rbac.yaml"


def granted() -> tuple[set[tuple[str, str, str]], set[str]]:
    """(verb, group, resource) the provider's Role grants, and the namespaces of its Roles."""
    roles = [d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] in ("Role", "ClusterRole")]
    rules = {
        (verb, group, resource)
        for role in roles
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    return rules, {role["kind"] + "/" + role["metadata"].get("namespace", "") for role in roles}


async def use_every_method(kube: Kube) -> None:
    provider = kube.provider
    await send_every_kind(kube)
    await provider.deploy(echo())
    await replicas_settle(provider, "echo", 1)
    await provider.resolve("echo", NAMESPACE)
    [m async for m in provider.logs(LogRequest(name="echo", namespace=NAMESPACE, tail=1))]
    await provider.list_functions(NAMESPACE)
    await provider.get("echo", NAMESPACE)
    await provider.list_secrets(NAMESPACE)
    await provider.create_secret(Secret(name="gone", namespace=NAMESPACE, value="x"))
    await provider.delete_secret("gone", NAMESPACE)
    await provider.delete("echo", NAMESPACE)


async def test_the_role_grants_exactly_what_the_provider_calls(kube: Kube) -> None:
    await use_every_method(kube)
    rules, roles = granted()
    assert roles == {f"Role/{NAMESPACE}"}
    assert kube.api.calls == rules
