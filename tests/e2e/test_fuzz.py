"""The gateway's HTTP API fuzzed from its own OpenAPI schema (schemathesis) on a whole ``faasq up`` stack.

Every documented operation gets requests generated from its schema, valid and invalid: none may
get a 5xx, every 4xx must say why in its body, and the stack must be healthy afterwards. A
bounded number of examples runs here; ``make fuzz`` runs many more (``FAASQ_FUZZ_EXAMPLES``).

Deploying and updating functions is left out: the local provider runs a deployment's process, and
a fuzzer must not choose what this machine runs. So are the logs, which may be followed forever.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case
from schemathesis.core.result import Ok

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("FAASQ_FUZZ_EXAMPLES", "8"))
LEFT_OUT = {("POST", "/system/functions"), ("PUT", "/system/functions"), ("GET", "/system/logs")}


def _gateway_schema() -> BaseSchema:
    """The schema the gateway serves at ``/openapi.json``: its app's, built here without serving it."""
    app = create_app(GatewaySettings.model_validate({"functions_provider_url": "http://127.0.0.1:1"}))
    schema = schemathesis.openapi.from_dict(app.openapi())
    return schema.exclude(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in LEFT_OUT)


@schemathesis.serializer("application/x-ndjson")
def _lines(ctx: object, value: object) -> bytes:
    """A batch as JSON lines: the generated text as it is, or each item of a generated list on a line."""
    if isinstance(value, list):
        return b"".join(json.dumps(item).encode() + b"\n" for item in value)
    return str(value).encode()


SCHEMA = _gateway_schema()


def test_no_request_gets_a_server_error_and_every_refusal_says_why(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    seen: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result  # the schema reads
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: Case[Any]) -> None:
            response = case.call(base_url=stack.url, timeout=30)
            seen[f"{case.method} {case.path}"][response.status_code] += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]!r}"
            assert response.status_code < 500 or _expected(case, response.status_code), where
            if 400 <= response.status_code < 500 and case.method != "HEAD":
                assert response.text.strip(), f"a refusal without a message: {where}"

        fuzz()
    documented = {f"{method.upper()} {path}" for path, item in SCHEMA.raw_schema["paths"].items() for method in item}
    assert set(seen) == documented - {f"{method} {path}" for method, path in LEFT_OUT}
    statuses = {status for answers in seen.values() for status in answers}
    assert {status // 100 for status in statuses} == {2, 4}, statuses  # accepted and refused, never a 5xx
    requests = sum(sum(answers.values()) for answers in seen.values())
    record_property("measured", f"{requests} requests to {len(seen)} operations, statuses {sorted(statuses)}")
    # Healthy afterwards: up, and a function still answers.
    assert stack.process.poll() is None
    assert stack.run("invoke", "echo", stdin="héllo".encode()).stdout == "héllo".encode()


def _expected(case: Case[Any], status: int) -> bool:
    """A 5xx that is the answer, not a fault: a sync call to a function that fails, or a proxied provider error."""
    return case.path.startswith("/function/") and status in (500, 502, 503, 504)
