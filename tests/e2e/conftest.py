"""One ``faasq up -f examples/stack.yml`` per test module (per xdist worker), stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sockets import free_port
from tests.support.stack import EXAMPLES, Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # http-echo's upstream port is a number in its environment; parallel stacks must not share it.
    # Two gateway processes, as `make up` runs on two cores: the flows must work whichever one answers.
    port = str(free_port())
    running = Stack(EXAMPLES, tmp_path_factory.mktemp("faasq"), env={"HTTP_ECHO_PORT": port}, gateways=2)
    try:
        yield running
    finally:
        running.close()
