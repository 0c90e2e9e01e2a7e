from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from watchdog.config import Mode, WatchdogSettings

ENV_NAMES = [
    "mode",
    "fprocess",
    "function_process",
    "upstream_url",
    "http_upstream_url",
    "cgi_headers",
    "marshal_request",
    "content_type",
    "read_timeout",
    "write_timeout",
    "exec_timeout",
    "write_debug",
    "combine_output",
    "suppress_lock",
    "lock_path",
    "port",
    "max_inflight",
    "bind_address",
    "listen_fd",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("fprocess", "cat")
    settings = WatchdogSettings()
    assert settings.mode is Mode.SERIALIZING
    assert settings.argv == ["cat"]
    assert settings.cgi_headers is True
    assert settings.combine_output is True
    assert settings.marshal_request is False
    assert settings.write_debug is False
    assert settings.suppress_lock is False
    assert settings.content_type == ""
    assert settings.read_timeout == timedelta(seconds=30)
    assert settings.write_timeout == timedelta(seconds=30)
    assert settings.exec_timeout == timedelta(0)
    assert settings.exec_seconds is None
    assert settings.port == 8080
    assert settings.max_inflight == 0
    assert settings.lock_path == Path("/tmp/.lock")
    assert settings.bind_address == "0.0.0.0"
    assert settings.listen_fd is None


def test_openfaas_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "function_process": "python3 -c 'print(1)'",
        "mode": "streaming",
        "cgi_headers": "false",
        "exec_timeout": "1m5s",
        "read_timeout": "10",
        "write_timeout": "250ms",
        "max_inflight": "3",
        "listen_fd": "7",
    }.items():
        monkeypatch.setenv(name, value)
    settings = WatchdogSettings()
    assert settings.argv == ["python3", "-c", "print(1)"]
    assert settings.mode is Mode.STREAMING
    assert settings.cgi_headers is False
    assert settings.exec_seconds == 65.0
    assert settings.read_timeout == timedelta(seconds=10)
    assert settings.write_timeout == timedelta(milliseconds=250)
    assert settings.max_inflight == 3
    assert settings.listen_fd == 7


def test_http_mode_accepts_of_watchdog_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("mode", "http")
    monkeypatch.setenv("fprocess", "server")
    monkeypatch.setenv("http_upstream_url", "http://127.0.0.1:5000")
    assert WatchdogSettings().upstream_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "fprocess (or function_process) is required in serializing mode"),
        ({"fprocess": "  "}, "fprocess (or function_process) is required"),
        ({"fprocess": "cat", "mode": "static"}, "Input should be 'serializing', 'streaming' or 'http'"),
        ({"fprocess": "cat", "exec_timeout": "soon"}, "invalid duration 'soon'"),
        ({"fprocess": "echo 'open", "mode": "streaming"}, "cannot be split into words"),
        ({"fprocess": "server", "mode": "http"}, "upstream_url (or http_upstream_url) is required in http mode"),
        ({"fprocess": "cat", "max_inflight": "-1"}, "greater than or equal to 0"),
        ({"fprocess": "cat", "read_timeout": "-1s"}, "must not be negative"),
    ],
)
def test_invalid_settings(monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WatchdogSettings()


def test_settings_are_frozen() -> None:
    settings = WatchdogSettings(fprocess="cat")
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_every_field_is_described() -> None:
    assert all(field.description for field in WatchdogSettings.model_fields.values())
