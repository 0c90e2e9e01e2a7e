"""Gateway settings: OpenFaaS's names, defaults, and one-line errors for bad values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings
from gateway.main import main


def test_defaults_and_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("functions_provider_url", "http://127.0.0.1:8081/")
    monkeypatch.setenv("faas_nats_address", "nats.example")
    monkeypatch.setenv("faas_nats_port", "4333")
    monkeypatch.setenv("upstream_timeout", "1m5s")
    settings = GatewaySettings()
    assert settings.functions_provider_url == "http://127.0.0.1:8081"
    assert settings.nats_url == "nats://nats.example:4333"
    assert (settings.faas_nats_channel, settings.max_body_bytes, settings.basic_auth) == (
        "faas-request",
        64 * 1024 * 1024,
        False,
    )
    assert (settings.upstream_timeout, settings.read_timeout) == (timedelta(seconds=65), timedelta(seconds=60))
    assert (settings.enqueue_timeout, settings.function_cache_ttl) == (timedelta(seconds=5), timedelta(seconds=5))
    assert settings.nats_duplicate_window == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("functions_provider_url", "127.0.0.1:8081", "expected an http\\(s\\) URL"),
        ("functions_provider_url", "http://", "expected an http\\(s\\) URL"),
        ("faas_nats_channel", "has.dot", "invalid stream name 'has.dot'"),
        ("faas_nats_channel", "", "invalid stream name ''"),
        ("enqueue_timeout", "0s", "must be positive"),
        ("max_body_bytes", 0, "greater than or equal to 1"),
        ("direct_functions_suffix", "svc..local", "invalid DNS suffix 'svc..local'"),
        ("direct_functions_suffix", "svc/local", "invalid DNS suffix"),
        ("nats_servers", "nats://a:4222,http://b:4222", "invalid NATS URL 'http://b:4222': expected nats://HOST"),
        ("nats_servers", "nats://a:notaport", "invalid NATS URL 'nats://a:notaport'"),
        ("nats_servers", "a:4222", "invalid NATS URL 'a:4222'"),
    ],
)
def test_bad_values_are_named(field: str, value: object, message: str) -> None:
    values = {"functions_provider_url": "http://p:1"} | {field: value}
    with pytest.raises(ValidationError, match=message):
        GatewaySettings.model_validate(values)


def test_a_cluster_is_a_list_of_servers_that_replaces_the_one_address() -> None:
    values = {"functions_provider_url": "http://p:1", "faas_nats_address": "ignored"}
    one = GatewaySettings.model_validate(values)
    assert (one.nats_urls, one.nats_url) == (["nats://ignored:4222"], "nats://ignored:4222")
    several = GatewaySettings.model_validate(values | {"nats_servers": " nats://a:4222, nats://b ,,tls://c:4223"})
    assert several.nats_urls == ["nats://a:4222", "nats://b", "tls://c:4223"]
    assert several.nats_url == "nats://a:4222,nats://b,tls://c:4223"


def test_main_exits_with_one_line_on_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("functions_provider_url", raising=False)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == "faasq-gateway: invalid settings: functions_provider_url: Field required"


def test_direct_functions_is_off_by_default_and_its_suffix_loses_outer_dots() -> None:
    settings = GatewaySettings.model_validate({"functions_provider_url": "http://p:1"})
    assert (settings.direct_functions, settings.direct_functions_suffix, settings.direct_functions_port) == (
        False,
        "",
        8080,
    )
    settings = GatewaySettings.model_validate(
        {"functions_provider_url": "http://p:1", "direct_functions": "true", "direct_functions_suffix": ".svc.local."}
    )
    assert (settings.direct_functions, settings.direct_functions_suffix) == (True, "svc.local")


def test_callback_guard_and_dead_letter_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("callback_allowed_hosts", "hooks.example.com, 10.0.0.0/8")
    monkeypatch.setenv("dead_letter_max_age", "72h")
    settings = GatewaySettings(functions_provider_url="http://p:1")
    assert settings.callback_guard.refuse_url("http://hooks.example.com/") is None
    assert settings.callback_guard.refuse_url("http://192.168.1.1/") is not None
    assert (settings.dead_letter_stream, settings.dead_letter_max_age) == ("faas-dead-letters", timedelta(hours=72))
    assert GatewaySettings(functions_provider_url="http://p:1", callback_allowed_hosts="").callback_guard.refuse_url(
        "http://169.254.169.254/"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("callback_allowed_hosts", "not a host"), ("dead_letter_stream", "a.b"), ("dead_letter_max_age", "0")],
)
def test_bad_callback_guard_and_dead_letter_settings(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name):
        GatewaySettings.model_validate({"functions_provider_url": "http://p:1", name: value})
