"""A command line in a box: byte buffers for the console and a scripted gateway behind httpx.MockTransport."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from faasq.cli import run
from faasq.context import Console, Context

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Cli:
    """Runs ``faasq`` in process; ``routes`` maps "METHOD /path" to a handler or a response."""

    routes: dict[str, Handler | httpx.Response] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""
    requests: list[httpx.Request] = field(default_factory=list)
    stdout: str = ""
    raw_stdout: bytes = b""
    stderr: str = ""

    def __call__(self, *argv: str) -> int:
        out, err = io.BytesIO(), io.BytesIO()
        console = Console(stdin=io.BytesIO(self.stdin), stdout=out, stderr=err)
        code = run(
            list(argv), Context(console=console, environ=self.environ, transport=httpx.MockTransport(self._handle))
        )
        self.raw_stdout = out.getvalue()
        self.stdout, self.stderr = self.raw_stdout.decode(errors="replace"), err.getvalue().decode()
        return code

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = self.routes.get(f"{request.method} {request.url.path}")
        if route is None:
            return httpx.Response(404, text=f"no route for {request.method} {request.url.path}")
        return route(request) if callable(route) else route

    def bodies(self) -> list[tuple[str, str, object]]:
        """(method, path, JSON body or None) of every request sent."""
        return [(r.method, r.url.path, json.loads(r.content) if r.content else None) for r in self.requests]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    # Never the real ~/.openfaas: saved credentials live in the test's own directory.
    return Cli(environ={"OPENFAAS_CONFIG": str(tmp_path / "openfaas")})
