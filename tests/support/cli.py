"""faasq's command line in process, with byte buffers for its console.

``Cli`` is a command line in a box, a scripted gateway behind ``httpx.MockTransport``;
``faasq_against`` runs a command against a real gateway over HTTP.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

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


def faasq_against(gateway: httpx.AsyncClient, tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    """Run ``faasq`` in process against ``gateway``'s URL over real HTTP; (exit code, stdout, stderr)."""
    out, err = io.BytesIO(), io.BytesIO()
    console = Console(stdin=io.BytesIO(), stdout=out, stderr=err)
    environ = {"OPENFAAS_URL": str(gateway.base_url), "OPENFAAS_CONFIG": str(tmp_path / "openfaas")}
    code = run(list(argv), Context(console=console, environ=environ))
    return code, out.getvalue().decode(), err.getvalue().decode()
