"""The Kubernetes provider: the provider contract against the fake API server, plus what only it does."""

from __future__ import annotations

import pytest

from provider.kubernetes import KubernetesProvider
from tests.support.kube_provider import Kube
from tests.support.provider_contract import ProviderContract

pytestmark = pytest.mark.integration


class TestKubernetesProviderContract(ProviderContract):
    @pytest.fixture
    def provider(self, kube: Kube) -> KubernetesProvider:
        return kube.provider
