from __future__ import annotations

import pytest

from provider.errors import InvalidRequest
from provider.namespaces import served_namespace


@pytest.mark.parametrize("namespace", [None, "", "openfaas-fn"])
def test_no_namespace_or_the_providers_own_is_served(namespace: str | None) -> None:
    assert served_namespace(namespace, "openfaas-fn") == "openfaas-fn"


def test_any_other_namespace_is_refused_and_named() -> None:
    with pytest.raises(
        InvalidRequest, match=r"^namespace 'elsewhere' is not allowed: this provider deploys to 'openfaas-fn'$"
    ) as caught:
        served_namespace("elsewhere", "openfaas-fn")
    assert caught.value.namespace == "elsewhere"
