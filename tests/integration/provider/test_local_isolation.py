"""Local replicas answer as themselves: a fixed port is private to each, or never proxied to when it is not.

The functions are shaped like OpenFaaS's python3-http template: of-watchdog's http mode in
front of a server that binds a fixed port (5000 in the templates).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from provider.errors import InvalidRequest, NoReplicaAvailable
from provider.local import LocalProvider
from provider.types import WORKDIR_ANNOTATION, FunctionDeployment, LogRequest, Secret
from tests.support.local_provider import invoke, script, settings_for
from tests.support.polling import eventually
from tests.support.provider_contract import IMAGE, NAMESPACE, replicas_settle

pytestmark = pytest.mark.integration

SERVER = """
import os, socket, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, patient = int(sys.argv[1]), len(sys.argv) > 2


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        out = f"{os.environ['NAME']} {os.environ['HOSTNAME']} {socket.gethostname()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


while True:  # a patient server waits for its port; others die at once, as Flask's would
    try:
        server = HTTPServer(("127.0.0.1", port), Handler)
        break
    except OSError:
        if not patient:
            raise
        time.sleep(0.05)
server.serve_forever()
"""


def server_function(
    tmp_path: Path, name: str, port: int, *, patient: bool = False, **fields: object
) -> FunctionDeployment:
    command = script(tmp_path, "server.py", SERVER) + f" {port}" + (" patient" if patient else "")
    spec: dict[str, object] = {
        "service": name,
        "image": IMAGE,
        "namespace": NAMESPACE,
        "envProcess": command,
        "envVars": {"mode": "http", "upstream_url": f"http://127.0.0.1:{port}", "NAME": name},
    }
    return FunctionDeployment.model_validate(spec | fields)


@pytest.fixture
async def isolated(tmp_path: Path) -> AsyncIterator[LocalProvider]:
    """A local provider that must give every replica namespaces of its own (start-up fails if it cannot)."""
    provider = LocalProvider(settings_for(tmp_path / "state", replica_isolation="namespaces"))
    await provider.startup()
    try:
        yield provider
    finally:
        await provider.shutdown()


async def answers(provider: LocalProvider, name: str, calls: int) -> list[str]:
    return [(await invoke(provider, name)).decode() for _ in range(calls)]


async def test_functions_on_the_same_fixed_port_each_answer_as_themselves(
    isolated: LocalProvider, tmp_path: Path
) -> None:
    await isolated.deploy(server_function(tmp_path, "alpha", 5000))
    await isolated.deploy(server_function(tmp_path, "beta", 5000, labels={"com.openfaas.scale.min": "3"}))
    await replicas_settle(isolated, "alpha", 1)
    await replicas_settle(isolated, "beta", 3)
    [alpha] = isolated.instances("alpha", NAMESPACE)
    assert set(await answers(isolated, "alpha", 4)) == {f"alpha {alpha.id} {alpha.id}"}
    betas = {instance.id for instance in isolated.instances("beta", NAMESPACE)}
    # Each replica answers itself: its HOSTNAME and its namespace's host name are its own name.
    assert set(await answers(isolated, "beta", 6)) == {f"beta {replica} {replica}" for replica in betas}
    assert socket.gethostname() not in betas  # the machine's host name is untouched


async def test_secrets_are_where_openfaas_functions_read_them(isolated: LocalProvider, tmp_path: Path) -> None:
    await isolated.create_secret(Secret(name="api-key", namespace=NAMESPACE, value="s3cret"))
    deployment = FunctionDeployment.model_validate(
        {
            "service": "reader",
            "image": IMAGE,
            "namespace": NAMESPACE,
            "envProcess": "cat /var/openfaas/secrets/api-key",
            "secrets": ["api-key"],
        }
    )
    await isolated.deploy(deployment)
    await replicas_settle(isolated, "reader", 1)
    assert await invoke(isolated, "reader") == b"s3cret"
    assert not (Path("/var/openfaas/secrets") / "api-key").exists()  # mounted in the replica's namespace only


async def test_a_replica_runs_in_its_functions_folder_never_the_providers(
    isolated: LocalProvider, tmp_path: Path
) -> None:
    stack = tmp_path / "stack"
    (stack / "fn").mkdir(parents=True)
    (stack / "fn" / "handler.py").write_text("import os, sys\nprint(os.getcwd(), sys.stdin.read())\n")
    relative = FunctionDeployment.model_validate(
        {
            "service": "relative",
            "image": IMAGE,
            "namespace": NAMESPACE,
            "envProcess": f"{sys.executable} fn/handler.py",
            "annotations": {WORKDIR_ANNOTATION: str(stack)},
        }
    )
    await isolated.deploy(relative)
    await isolated.deploy(FunctionDeployment(service="where", image=IMAGE, namespace=NAMESPACE, env_process="pwd"))
    await replicas_settle(isolated, "relative", 1)
    await replicas_settle(isolated, "where", 1)
    assert await invoke(isolated, "relative", b"hi") == f"{stack} hi\n".encode()
    own = tmp_path / "state" / "work" / NAMESPACE / "where"
    assert await invoke(isolated, "where") == f"{own}\n".encode()


async def test_a_workdir_that_is_not_a_folder_is_refused(isolated: LocalProvider, tmp_path: Path) -> None:
    deployment = FunctionDeployment.model_validate(
        {
            "service": "lost",
            "image": IMAGE,
            "namespace": NAMESPACE,
            "envProcess": "cat",
            "annotations": {WORKDIR_ANNOTATION: str(tmp_path / "missing")},
        }
    )
    with pytest.raises(InvalidRequest, match=r"com\.faasq\.workdir: .* is not an absolute path to a folder"):
        await isolated.deploy(deployment)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_without_namespaces_a_port_held_by_another_function_is_never_answered_from(tmp_path: Path) -> None:
    provider = LocalProvider(settings_for(tmp_path / "state", replica_isolation="off", ready_timeout="1s"))
    await provider.startup()
    try:
        port = free_port()
        await provider.deploy(server_function(tmp_path, "alpha", port))
        await replicas_settle(provider, "alpha", 1)
        await provider.deploy(server_function(tmp_path, "beta", port, patient=True))
        reason = f"port {port} is held by another process"

        async def held() -> str | None:
            reasons = [instance.reason for instance in provider.instances("beta", NAMESPACE)]
            return reason if reasons == [reason] else None

        await eventually(held, within=10)
        with pytest.raises(NoReplicaAvailable):
            await provider.resolve("beta", NAMESPACE)
        [beta] = provider.instances("beta", NAMESPACE)
        async with httpx.AsyncClient() as client:  # even straight at its watchdog: never alpha's answer
            direct = await client.post(f"{beta.url}/", content=b"x")
        assert (direct.status_code, direct.text) == (
            502,
            f"Can't reach service for: http://127.0.0.1:{port}: {reason}\n",
        )
        assert (await invoke(provider, "alpha")).startswith(b"alpha ")
    finally:
        await provider.shutdown()


async def test_without_namespaces_a_server_that_cannot_bind_ends_its_replica(tmp_path: Path) -> None:
    provider = LocalProvider(settings_for(tmp_path / "state", replica_isolation="off"))
    await provider.startup()
    try:
        with socket.create_server(("127.0.0.1", 0)) as other:
            port = other.getsockname()[1]
            await provider.deploy(server_function(tmp_path, "gamma", port))

            async def restarted() -> int | None:
                restarts = [instance.restarts for instance in provider.instances("gamma", NAMESPACE)]
                return restarts[0] if restarts and restarts[0] >= 2 else None

            await eventually(restarted, within=15)  # its watchdog exits with it; the provider restarts the replica
            [gamma] = provider.instances("gamma", NAMESPACE)
            assert not gamma.available
            request = LogRequest(name="gamma", namespace=NAMESPACE, follow=False)
            logs = [line.text async for line in provider.logs(request)]
            assert any("Forked function has terminated: exit status 1" in line for line in logs)
    finally:
        await provider.shutdown()


REACH = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    print("reached")
except OSError:
    print("unreachable")
"""


async def test_a_private_network_has_loopback_only_and_a_forked_function_keeps_the_machines(
    isolated: LocalProvider, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as service:  # something on this machine's loopback
        command = script(tmp_path, "reach.py", REACH) + f" {service.getsockname()[1]}"
        forked = FunctionDeployment(service="forked", image=IMAGE, namespace=NAMESPACE, env_process=command)
        walled = forked.model_copy(update={"service": "walled", "annotations": {"com.faasq.network": "private"}})
        await isolated.deploy(forked)
        await isolated.deploy(walled)
        await replicas_settle(isolated, "forked", 1)
        await replicas_settle(isolated, "walled", 1)
        assert (await invoke(isolated, "forked"), await invoke(isolated, "walled")) == (b"reached\n", b"unreachable\n")
