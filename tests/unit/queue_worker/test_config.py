from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from calls.retry_decision import RetryPolicy
from queue_worker.config import WorkerSettings
from queue_worker.main import _credentials


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WorkerSettings.model_fields:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_are_openfaas_names_and_values() -> None:
    settings = WorkerSettings()
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert (settings.subject, settings.durable) == ("faas-request.default", "faas-default")
    assert settings.invoke_base_url == "http://127.0.0.1:8080"
    assert settings.ack_wait == timedelta(seconds=30)
    assert settings.max_inflight > 1
    assert (settings.faas_max_reconnect, settings.faas_reconnect_delay) == (120, timedelta(seconds=2))
    # An accepted call is retried by default: 3 runs, 1s to 30s apart, OpenFaaS Pro's codes, no age limit.
    assert settings.retry_policy == RetryPolicy(3, frozenset({408, 429, 500, 502, 503, 504}), 1.0, 30.0, 0.0)


def test_retry_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    set_environment(
        monkeypatch,
        {
            "max_retry_attempts": "10",
            "retry_http_codes": "429, 503",
            "initial_retry_wait": "250ms",
            "max_retry_wait": "2m",
            "max_event_age": "1h",
        },
    )
    assert WorkerSettings().retry_policy == RetryPolicy(10, frozenset({429, 503}), 0.25, 120.0, 3600.0)


def test_no_retried_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("retry_http_codes", "none")
    assert WorkerSettings().retry_http_codes == frozenset()


def set_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    set_environment(
        monkeypatch,
        {
            "faas_nats_address": "nats",
            "faas_nats_port": "4333",
            "faas_nats_channel": "calls",
            "faas_nats_queue_group": "grp",
            "queue": "slow",
            "gateway_invoke": "false",
            "functions_provider_url": "http://provider:8081/",
            "ack_wait": "1m5s",
            "max_inflight": "8",
            "upstream_timeout": "90",
            "shutdown_grace": "0",
        },
    )
    settings = WorkerSettings()
    assert (settings.nats_url, settings.subject, settings.durable) == ("nats://nats:4333", "calls.slow", "grp-slow")
    assert settings.invoke_base_url == "http://provider:8081"
    assert (settings.ack_wait, settings.upstream_timeout) == (timedelta(seconds=65), timedelta(seconds=90))
    assert (settings.max_inflight, settings.shutdown_grace) == (8, timedelta(0))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gateway_invoke": False}, "gateway_invoke=false needs functions_provider_url"),
        ({"functions_provider_url": "ftp://x"}, "expected an http"),
        ({"queue": "a.b"}, "invalid queue name"),
        ({"faas_nats_channel": "a b"}, "invalid stream name"),
        ({"max_inflight": 0}, "greater than or equal to 1"),
        ({"ack_wait": "0s"}, "must be positive"),
        ({"shutdown_grace": "-1s"}, "must not be negative"),
        ({"max_retry_attempts": 0}, "greater than or equal to 1"),
        ({"max_retry_attempts": 1001}, "less than or equal to 1000"),
        ({"retry_http_codes": "500,abc"}, "invalid status codes"),
        ({"retry_http_codes": [700]}, "from 100 to 599"),
        ({"initial_retry_wait": "-1s"}, "must not be negative"),
        ({"max_event_age": "soon"}, "invalid duration"),
        ({"initial_retry_wait": "10s", "max_retry_wait": "5s"}, "initial_retry_wait must not be over max_retry_wait"),
    ],
)
def test_bad_values_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkerSettings.model_validate(fields)


def test_gateway_credentials_are_read_only_with_basic_auth_via_the_gateway(tmp_path: Path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text("secret\n")
    on = WorkerSettings(basic_auth=True, secret_mount_path=tmp_path)
    assert _credentials(on) == [("Authorization", "Basic YWRtaW46c2VjcmV0")]
    direct = WorkerSettings(basic_auth=True, secret_mount_path=tmp_path, gateway_invoke=False,
                            functions_provider_url="http://p:1")  # fmt: skip
    assert _credentials(direct) == []
    assert _credentials(WorkerSettings()) == []


def test_callback_and_dead_letter_defaults() -> None:
    settings = WorkerSettings()
    waits = [min(0.5 * 2**n, 10.0) for n in range(settings.callback_attempts - 1)]
    assert 50 <= sum(waits) <= 70  # a receiver down for about a minute still gets its callback
    assert (settings.callback_initial_wait, settings.callback_max_wait) == (
        timedelta(seconds=0.5),
        timedelta(seconds=10),
    )
    assert settings.callback_guard.refuse_host("169.254.169.254") is not None
    assert settings.callback_guard.refuse_host("127.0.0.1") is None
    assert (settings.dead_letter_stream, settings.dead_letter_max_age) == ("faas-dead-letters", timedelta(days=14))


def test_the_signing_secret_setting_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "callback-signing-secret").write_text(" from-file \n")
    assert WorkerSettings(secret_mount_path=tmp_path).signing_secret() == b"from-file"
    settings = WorkerSettings.model_validate({"secret_mount_path": tmp_path, "callback_signing_secret": "hunter2"})
    assert settings.signing_secret() == b"hunter2"
    assert "hunter2" not in repr(settings)
    assert WorkerSettings(secret_mount_path=tmp_path / "none").signing_secret() is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("callback_allowed_hosts", "10.0.0.0/40"), ("dead_letter_stream", "a.b"), ("callback_max_wait", "0s")],
)
def test_bad_callback_and_dead_letter_settings(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name):
        WorkerSettings.model_validate({name: value})
