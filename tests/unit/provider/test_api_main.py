"""``faasq-provider``'s uvicorn configuration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from provider.config import ProviderSettings
from provider.main import server


def test_server_is_configured_for_the_hot_path(tmp_path: Path) -> None:
    settings = ProviderSettings(
        state_dir=tmp_path, bind_address="127.0.0.2", port=9999, shutdown_timeout=timedelta(seconds=3)
    )
    config = server(settings).config
    assert (config.host, config.port) == ("127.0.0.2", 9999)
    assert (config.access_log, config.loop, config.server_header) == (False, "asyncio", False)
    assert config.timeout_graceful_shutdown == 3
    assert config.log_config is None


def test_listen_fd_and_shutdown_timeout_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("listen_fd", "7")
    monkeypatch.setenv("shutdown_timeout", "1m")
    settings = ProviderSettings()
    assert (settings.listen_fd, settings.shutdown_timeout) == (7, timedelta(minutes=1))
