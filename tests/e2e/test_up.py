"""``faasq up`` as a user runs it: starts, serves, stops cleanly, and fails clearly."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from faasq.natsserver import NatsServer
from tests.support.callbacks import Callback, Receiver, serving, socket_owner
from tests.support.paths import ROOT
from tests.support.polling import eventually, until
from tests.support.processes import alive, descendants
from tests.support.stack import ENVIRON, FAASQ, Lines, Stack, faasq

pytestmark = pytest.mark.e2e

ECHO_ONLY = "provider: {name: openfaas}\nfunctions:\n  echo: {fprocess: cat}\n"


@pytest.fixture
def echo_stack(tmp_path: Path) -> Iterator[Stack]:
    (tmp_path / "stack.yml").write_text(ECHO_ONLY)
    running = Stack(tmp_path / "stack.yml", tmp_path / "state", gateways=2)
    try:
        yield running
    finally:
        try:
            running.stop()  # gracefully: a killed `faasq up` would leave its provider running
        except subprocess.TimeoutExpired:
            running.process.kill()
            raise


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_stack_with_no_process_left(echo_stack: Stack, signum: int) -> None:
    assert echo_stack.cli("invoke", "echo", stdin=b"hi\n").stdout == b"hi\n"
    children = descendants(echo_stack.process.pid)
    assert len(children) >= 2  # the provider and at least one watchdog
    assert echo_stack.stop(signum) == 0
    assert echo_stack.lines[-2:] == ["Stopping faasq...", "faasq stopped."]
    assert not echo_stack.ready_file.exists()
    assert [pid for pid in children if alive(pid)] == []


def test_a_killed_provider_is_restarted_at_the_same_address(echo_stack: Stack) -> None:
    provider = echo_stack.ready["pids"]["provider"]
    replicas = descendants(provider)
    try:
        os.kill(provider, signal.SIGKILL)
        until(lambda: "faasq: restarted provider" in echo_stack.log.read_text() or None, within=20)
        assert "faasq: provider was killed by signal 9; restarting it in 0.5s\n" in echo_stack.log.read_text()
        # The new provider kills the replicas the old one left, starts its own, and serves at the same URL.
        until(lambda: echo_stack.run("invoke", "echo", stdin=b"back").stdout == b"back" or None, within=30, every=0.1)
        assert echo_stack.process.poll() is None
    finally:
        for pid in replicas:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_gateway_process_is_restarted_on_its_socket_and_the_others_serve_meanwhile(echo_stack: Stack) -> None:
    pids = echo_stack.ready["pids"]
    assert (echo_stack.ready["gateway_processes"], "gateway-3" in pids) == (2, False)
    url = echo_stack.url
    assert f"Gateway:   {url} (2 processes; API docs at {url}/docs)" in echo_stack.lines
    os.kill(pids["gateway-1"], signal.SIGKILL)
    until(lambda: "faasq: restarted gateway-1" in echo_stack.log.read_text() or None, within=20)
    assert "faasq: gateway-1 was killed by signal 9; restarting it in 0.5s\n" in echo_stack.log.read_text()
    # Calls on new connections reach both processes again: none is refused, whichever socket takes it.
    for n in range(8):
        assert echo_stack.run("invoke", "echo", stdin=f"again {n}".encode()).stdout == f"again {n}".encode()


def test_children_log_behind_their_names(echo_stack: Stack) -> None:
    logged = echo_stack.log.read_text().splitlines()
    assert any(line.startswith("provider   | ") for line in logged)
    assert any(line.startswith("gateway-1  | ") for line in logged)
    assert any(line.startswith("gateway-2  | ") for line in logged)


async def test_calls_through_several_gateway_processes_are_each_accepted_once(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text(ECHO_ONLY)
    receiver = Receiver()
    with serving(receiver) as callback:
        running = Stack(tmp_path / "stack.yml", tmp_path / "state", workers=1, gateways=3)
        try:
            gateways = [running.ready["pids"][f"gateway-{n}"] for n in (1, 2, 3)]
            port = int(running.url.rsplit(":", 1)[1])
            served: dict[str, list[int | None]] = {}
            for n in range(30):
                # Each call is sent twice, on two new connections: a caller's resend, which may reach another process.
                call_id = f"call-{n:02d}"
                served[call_id] = [_send(port, call_id, callback, gateways) for _ in range(2)]
            assert {pid for pids in served.values() for pid in pids} == set(gateways)  # every process took calls
            assert any(len(set(pids)) == 2 for pids in served.values())  # and a resend reached another one
            calls = await eventually(lambda: _all_called(receiver, len(served)), within=30)
            assert sorted(calls) == sorted(served)
            assert all(len(callbacks) == 1 for callbacks in calls.values())  # each stored and run once
            assert {called.body for callbacks in calls.values() for called in callbacks} == {
                f"body of {call_id}".encode() for call_id in served
            }
            for call_id in served:  # the record is written just after the callback
                until(partial(_finished, running, call_id), within=10)
        finally:
            assert running.stop() == 0
    assert len(receiver.by_call_id()) == 30


def _send(port: int, call_id: str, callback: str, gateways: list[int]) -> int | None:
    """One async call on a new connection: the gateway process that accepted it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = f"body of {call_id}".encode()
        headers = {"X-Call-Id": call_id, "X-Callback-Url": callback}
        connection.request("POST", "/async-function/echo", body=body, headers=headers)
        response = connection.getresponse()
        assert (response.status, response.read()) == (202, b"")
        assert response.headers["X-Call-Id"] == call_id
        assert connection.sock is not None
        return socket_owner(port, connection.sock.getsockname()[1], gateways)
    finally:
        connection.close()


def _finished(running: Stack, call_id: str) -> bool | None:
    status = json.loads(running.run("status", call_id, "--json").stdout)
    if status["state"] == "running":
        return None
    assert (status["state"], status["attempt"]) == ("succeeded", 1)
    return True


async def _all_called(receiver: Receiver, count: int) -> dict[str, list[Callback]] | None:
    calls = receiver.by_call_id()
    return calls if len(calls) >= count else None


async def test_an_external_nats_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text(ECHO_ONLY)
    receiver = Receiver()
    with NatsServer.start(tmp_path / "nats") as nats, serving(receiver) as callback:
        running = Stack(tmp_path / "stack.yml", tmp_path / "state", env={"FAASQ_NATS_URL": nats.url}, workers=1)
        try:
            assert (running.ready["nats"], running.ready["nats_monitor"]) == (nats.url, None)
            assert set(running.ready["pids"]) == {"provider", "gateway-1", "autoscaler", "worker-1"}
            assert f"NATS:      {nats.url} (external)" in running.lines
            call_id = running.run("invoke", "echo", "--async", "--callback-url", callback, stdin=b"x").stdout.strip()
            (called,) = await eventually(lambda: _calls(receiver, call_id.decode()), within=20)
            assert (called.body, called.headers["x-function-status"]) == (b"x", "200")
        finally:
            assert running.stop() == 0
        assert nats.process.poll() is None  # not ours to stop


async def _calls(receiver: Receiver, call_id: str) -> list[Callback] | None:
    return receiver.by_call_id().get(call_id)


def test_a_taken_port_is_reported(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text(ECHO_ONLY)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = faasq("up", "-f", str(tmp_path / "stack.yml"), "--port", port, "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"faasq: port {port} on 127.0.0.1 is already in use: is faasq already running? (choose another with --port)\n"
    )


def test_a_bad_stack_file_is_reported_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("functions:\n  Bad_Name: {fprocess: cat}\n")
    result = faasq("up", "-f", str(tmp_path / "stack.yml"), "--port", "0", "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"faasq: {tmp_path / 'stack.yml'}: functions.Bad_Name.name: ")


def test_a_failed_build_is_reported_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("functions:\n  ghost: {lang: python3-http, handler: ./ghost, image: ghost:1}\n")
    result = faasq("up", "-f", str(tmp_path / "stack.yml"), "--port", "0", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "Building ghost (python3-http template)...\n"
        f"faasq: template 'python3-http' not found in {tmp_path / 'template'}: "
        "faas-cli template pull (or faas-cli new --lang python3-http) puts it there\n"
    )
    assert not (tmp_path / "state" / "nats").exists()  # no NATS, no provider, no gateway: nothing started


def test_a_function_that_never_gets_ready_fails_up(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("functions:\n  broken: {fprocess: /nonexistent/program}\n")
    args = ["up", "-f", str(tmp_path / "stack.yml"), "--port", "0", "--state-dir", str(tmp_path), "--timeout", "2"]
    result = faasq(*args)
    assert result.returncode == 1
    assert "faasq: not ready after 2s: broken (see the logs above)\n" in result.stderr.decode()


def test_connection_refused_says_how_to_start_faasq() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = faasq("list", "-g", url)
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr.decode() == (
        f"faasq: cannot connect to {url}: is faasq running? (start it with `make up` or `faasq up`)\n"
    )


def test_logs_follow_streams_new_lines_until_interrupted(echo_stack: Stack) -> None:
    follow = subprocess.Popen(
        [*FAASQ, "logs", "echo", "--since", "1s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**ENVIRON, "OPENFAAS_URL": echo_stack.url},
        cwd=ROOT,
    )
    assert follow.stdout is not None
    assert follow.stderr is not None
    lines = Lines(follow.stdout)

    def invoked_and_followed() -> str | None:
        # The follower may connect after the first call: invoke until it prints one.
        assert echo_stack.run("invoke", "echo", stdin=b"x").returncode == 0
        return _forked(lines.lines)

    try:
        until(invoked_and_followed, within=20, every=0.2)
    finally:
        follow.send_signal(signal.SIGINT)
        code = follow.wait(10)
        lines.join(10)
        errors = follow.stderr.read()
        follow.stderr.close()
    assert (code, errors) == (130, b"")


def _forked(lines: list[str]) -> str | None:
    return next((line for line in lines if line.endswith("Forking fprocess.")), None)


def test_up_outside_the_repository_starts_with_no_functions(tmp_path: Path) -> None:
    running = Stack(None, tmp_path / "state", cwd=tmp_path)
    try:
        assert running.lines[0] == f"faasq is up: {running.url}"
        assert "Functions: (none)" in running.lines
        assert running.run("list").stdout.decode().splitlines()[1:] == []
    finally:
        assert running.stop() == 0


def test_each_component_runs_on_its_event_loop(tmp_path: Path) -> None:
    # uvloop where nothing forks (the gateway, the workers), asyncio's where processes start.
    (tmp_path / "stack.yml").write_text(ECHO_ONLY)
    running = Stack(tmp_path / "stack.yml", tmp_path / "state", workers=1)
    try:

        def logged(name: str, text: str) -> bool | None:
            lines = running.log.read_text().splitlines()
            return True if any(line.startswith(name) and text in line for line in lines) else None

        until(lambda: logged("gateway-1 ", "gateway ready on uvloop"), within=10, what="the gateway on uvloop")
        until(lambda: logged("worker-1 ", "calls at once, on uvloop"), within=10, what="the worker on uvloop")
        until(lambda: logged("provider ", "provider API ready on asyncio"), within=10, what="the provider")
        replica = running.run("logs", "echo", "--no-follow", "--since", "10m")
        assert "Event loop: asyncio" in replica.stdout.decode(), replica
    finally:
        running.close()
