"""``faasq up``: run the embedded stack on this machine and deploy a stack file's functions to it.

Today the stack is the provider REST server with the local provider; the gateway, nats-server
and queue workers join the same list of :class:`ChildSpec` in later increments.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

from faasq.client import DEFAULT_GATEWAY, Gateway
from faasq.context import Console, Context
from faasq.deploy import build_deployment, deploy_functions
from faasq.errors import GatewayError, GatewayUnreachable, StackFailed
from faasq.functions import fetch_function
from faasq.stack import StackFunction
from faasq.supervisor import ChildSpec, StopFlag, Stopped, Supervisor

__all__ = ["banner", "provider_spec", "register", "reserve_port", "stack_children"]

_HOST = "127.0.0.1"
# SIGHUP too: closing the terminal must not leave the children running (they are in their own groups).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_START_TIMEOUT = 60.0  # a slow machine under load can take seconds just to import the provider
_DEFAULT_STACK = Path("examples/stack.yml")


def reserve_port(port: int, host: str = _HOST) -> socket.socket:
    """A listening socket on ``host:port`` (0: the kernel picks), so a taken port fails early and clearly.

    Raises:
        StackFailed: the port is in use or cannot be bound.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StackFailed(
                f"port {port} on {host} is already in use: is faasq already running? (choose another with --port)"
            ) from None
        raise StackFailed(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


def provider_spec(sock: socket.socket, state_dir: Path, environ: Mapping[str, str]) -> ChildSpec:
    """The provider REST server, serving on the listening socket ``sock`` that it inherits (``listen_fd``)."""
    port = sock.getsockname()[1]
    settings = {"bind_address": _HOST, "port": str(port), "listen_fd": str(sock.fileno())}
    return ChildSpec(
        name="provider",
        # The console script's entry point, run with this interpreter so no PATH lookup is needed.
        argv=[sys.executable, "-m", "provider.main"],
        env={**environ, **settings, "state_dir": str(state_dir / "provider")},
        ready_url=f"http://{_HOST}:{port}/healthz",
        pass_fds=(sock.fileno(),),
    )


def stack_children(sock: socket.socket, state_dir: Path, environ: Mapping[str, str]) -> list[ChildSpec]:
    """The processes of the embedded stack, in start order (stopped in reverse).

    ``sock`` is the API's listening socket. Today: the provider. nats-server, the gateway (which then
    takes over ``sock``) and the queue workers join this list.
    """
    return [provider_spec(sock, state_dir, environ)]


def banner(url: str, functions: list[str]) -> list[str]:
    """What ``faasq up`` prints once everything is ready."""
    lines = [f"faasq is up: {url}", f"Functions: {', '.join(functions) or '(none)'}", "Try:"]
    if url != DEFAULT_GATEWAY:
        lines.append(f"  export OPENFAAS_URL={url}")
    example = "echo" if "echo" in functions else (functions[0] if functions else "NAME")
    lines += [f"  echo hi | faasq invoke {example}", "  faasq list", f"  faasq describe {example}"]
    return [*lines, f"  faasq logs {example}", "Press Ctrl+C to stop."]


@contextlib.contextmanager
def _stop_on_signals(stop: StopFlag) -> Iterator[None]:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _functions(args: argparse.Namespace, ctx: Context) -> list[StackFunction]:
    if args.yaml is None and not _DEFAULT_STACK.exists():
        return []  # run from outside the repository: start with nothing deployed
    return ctx.stack(Path(args.yaml or _DEFAULT_STACK)).select(None)


def _deploy(functions: list[StackFunction], gateway: Gateway, console: Console) -> list[str]:
    deployments = [build_deployment(function) for function in functions]
    failed = deploy_functions(gateway, deployments, console, verbose=False)
    if failed:
        raise StackFailed(f"could not deploy {', '.join(failed)}")
    return [deployment.service for deployment in deployments]


def _wait_until_ready(supervisor: Supervisor, gateway: Gateway, functions: list[StackFunction], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = {function.name: function.namespace for function in functions}
    while waiting:
        for name, namespace in list(waiting.items()):
            status = fetch_function(gateway, name, namespace)
            if status is not None and (status.available_replicas or 0) > 0:
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise StackFailed(f"not ready after {timeout:g}s: {', '.join(sorted(waiting))} (see the logs above)")
        if waiting:
            supervisor.check()
            supervisor.pause()


def _bring_up(supervisor: Supervisor, args: argparse.Namespace, ctx: Context, functions: list[StackFunction]) -> None:
    # Binding here makes a taken port fail at once, and lets --port 0 pick a free one.
    with reserve_port(args.port) as sock:
        for spec in stack_children(sock, Path(args.state_dir), ctx.environ):
            supervisor.start(spec)
        url = f"http://{_HOST}:{sock.getsockname()[1]}"
    with Gateway(url, transport=ctx.transport) as gateway:
        try:
            names = _deploy(functions, gateway, ctx.console)
            _wait_until_ready(supervisor, gateway, functions, args.timeout)
        except (GatewayError, GatewayUnreachable) as exc:
            supervisor.check()  # a provider that died explains a failed request better than the request does
            raise StackFailed(f"the provider failed: {exc}") from None
    for line in banner(url, names):
        ctx.console.out(line)


def run(args: argparse.Namespace, ctx: Context) -> int:
    functions = _functions(args, ctx)
    stop = StopFlag()
    with _stop_on_signals(stop), Supervisor(stop, start_timeout=_START_TIMEOUT) as supervisor:
        try:
            _bring_up(supervisor, args, ctx, functions)
            supervisor.watch()
        except Stopped:
            pass
        ctx.console.out("Stopping faasq...")
    ctx.console.out("faasq stopped.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up`` to the command line."""
    parser = commands.add_parser(
        "up",
        help="run faasq on this machine and deploy a stack file",
        description="Run faasq on this machine (the provider API on 127.0.0.1) and deploy a stack file's functions. "
        "Runs until SIGINT or SIGTERM, then stops everything it started.",
    )
    parser.add_argument("-f", "--yaml", help=f"stack file (default: {_DEFAULT_STACK}, if there is one)")
    parser.add_argument("--port", type=int, default=8080, help="port of the API on 127.0.0.1 (0: any free port)")
    parser.add_argument("--state-dir", default=".faasq", help="where faasq keeps its state (default: .faasq)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the functions to be ready")
    parser.set_defaults(run=run)
