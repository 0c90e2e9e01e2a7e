"""``faasq up``: run the whole stack on this machine and deploy a stack file's functions to it.

nats-server (JetStream, unless a NATS URL is given), the provider on a private loopback port, the
gateway on the public port and the queue workers run as supervised children (see
:mod:`faasq.children`); crashed ones are restarted, and SIGINT/SIGTERM/SIGHUP stop them in order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from calls.wire import DEFAULT_QUEUE, DEFAULT_STREAM, QUEUE_ANNOTATION, queue_subject
from faasq.builds import build_all
from faasq.children import (
    NatsAddress,
    StackPlan,
    connector_spec,
    parse_nats_url,
    reserve_port,
    share_port,
    stack_children,
    start_nats,
    url_of,
)
from faasq.client import DEFAULT_GATEWAY, Gateway
from faasq.context import Console, Context
from faasq.deploy import build_deployment, deploy_functions
from faasq.errors import GatewayError, GatewayUnreachable, StackFailed
from faasq.functions import fetch_function
from faasq.output import Prefixer
from faasq.restarts import RestartPolicy
from faasq.stack import StackFunction
from faasq.supervisor import StopFlag, Stopped, Supervisor
from faasq.up_options import DEFAULT_STACK, DESCRIPTION, UpOptions, add_arguments
from plumbing.metrics import prepare_folder
from provider.types import LocalBuild

__all__ = ["Running", "banner", "extra_queues", "register", "run"]

# SIGHUP too: closing the terminal must not leave the children running (they are in their own groups).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_START_TIMEOUT = 60.0  # a slow machine under load can take seconds just to import the provider
_CALLBACK_EXAMPLE = "http://127.0.0.1:9000/cb"


@dataclass(frozen=True)
class Running:
    """Where the running stack is; printed in the banner and written to ``--ready-file`` as JSON."""

    gateway: str
    provider: str
    nats: str
    nats_monitor: str | None
    state_dir: str
    workers: int
    functions: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    queues: list[str] = field(default_factory=list)
    """The queues other than ``default`` that have a worker of their own."""
    connectors: list[str] = field(default_factory=list)
    webhooks: str | None = None
    """``http://host:port/webhook/`` when the webhook connector runs."""
    gateway_processes: int = 1
    """How many gateway processes serve the port (``gateway-1``, ``gateway-2``... in ``pids``)."""


def _processes(count: int) -> str:
    return "1 process" if count == 1 else f"{count} processes"


def _nats_lines(running: Running) -> list[str]:
    if running.nats_monitor is None:
        return [f"NATS:      {running.nats} (external)"]
    return [
        f"NATS:      {running.nats} (JetStream store in {Path(running.state_dir) / 'nats'})",
        f"Monitor:   {running.nats_monitor} (NATS: /connz, /jsz?consumers=true)",
    ]


def _workers_line(running: Running) -> str:
    if not running.queues:
        return f"Workers:   {running.workers}"
    return f"Workers:   {running.workers}, and one for each other queue: {', '.join(running.queues)}"


def _connector_lines(running: Running) -> list[str]:
    if not running.connectors:
        return []
    lines = [f"Connectors: {', '.join(running.connectors)}"]
    if running.webhooks:
        lines.append(f"Webhooks:  POST {running.webhooks}<topic>")
    return lines


def banner(running: Running) -> list[str]:
    """What ``faasq up`` prints once everything is ready."""
    url, functions = running.gateway, running.functions
    lines = [
        f"faasq is up: {url}",
        f"Gateway:   {url} ({_processes(running.gateway_processes)}; API docs at {url}/docs)",
        f"Metrics:   {url}/metrics (Prometheus: every process of the stack)",
        *_nats_lines(running),
        f"State dir: {running.state_dir}",
        _workers_line(running),
        f"Functions: {', '.join(functions) or '(none)'}",
        *_connector_lines(running),
        "Try:",
    ]
    if url != DEFAULT_GATEWAY:
        lines.append(f"  export OPENFAAS_URL={url}")
    example = "echo" if "echo" in functions else (functions[0] if functions else "NAME")
    return [
        *lines,
        f"  echo hi | faasq invoke {example}",
        f"  echo hi | faasq invoke {example} --async --callback-url {_CALLBACK_EXAMPLE}",
        f"  curl -i -X POST -H 'X-Callback-Url: {_CALLBACK_EXAMPLE}' -d hi {url}/async-function/{example}",
        "  faasq list",
        f"  faasq describe {example}",
        f"  faasq logs {example}",
        "Press Ctrl+C to stop.",
    ]


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


def _functions(options: UpOptions, ctx: Context) -> list[StackFunction]:
    if options.stack_file is None and not DEFAULT_STACK.exists():
        return []  # run from outside the repository: start with nothing deployed
    return ctx.stack(options.stack_file or DEFAULT_STACK).select(None)


def extra_queues(functions: list[StackFunction]) -> tuple[str, ...]:
    """The queues other than ``default`` that the functions name in ``com.openfaas.queue``, sorted.

    Raises:
        StackFailed: a function names an invalid queue.
    """
    queues: set[str] = set()
    for function in functions:
        if (queue := function.annotations.get(QUEUE_ANNOTATION)) is None:
            continue
        try:
            queue_subject(DEFAULT_STREAM, str(queue))
        except ValueError as exc:
            raise StackFailed(f"function {function.name}: {QUEUE_ANNOTATION}: {exc}") from None
        queues.add(str(queue))
    return tuple(sorted(queues - {DEFAULT_QUEUE}))


def _deploy(
    functions: list[StackFunction], built: dict[str, LocalBuild], gateway: Gateway, console: Console
) -> list[str]:
    deployments = [build_deployment(function, build=built.get(function.name)) for function in functions]
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


def _start_connectors(
    supervisor: Supervisor,
    sockets: contextlib.ExitStack,
    options: UpOptions,
    ctx: Context,
    plan: tuple[str, list[StackFunction]],
) -> tuple[list[str], str | None]:
    gateway, functions = plan
    names = options.connectors_for(functions)
    webhooks = None
    for name in names:
        if name != "webhook":
            settings = options.redis_settings() if name == "redis" else {}
            supervisor.start(connector_spec(name, gateway, ctx.environ, None, **settings))
            continue
        sock = sockets.enter_context(reserve_port(options.webhook_port))
        config = {"webhook_config": str(options.webhook_config.resolve())} if options.webhook_config else {}
        supervisor.start(connector_spec(name, gateway, ctx.environ, sock, **config))
        webhooks = f"{url_of(sock)}/webhook/"
    return names, webhooks


def _nats_address(options: UpOptions, ctx: Context) -> NatsAddress | None:
    url = options.nats_url or ctx.environ.get("FAASQ_NATS_URL")
    return parse_nats_url(url) if url else None


def _bring_up(supervisor: Supervisor, sockets: contextlib.ExitStack, options: UpOptions, ctx: Context) -> Running:
    functions = _functions(options, ctx)
    queues = extra_queues(functions)
    external = _nats_address(options, ctx)
    state_dir = options.state_dir
    built = build_all(functions, state_dir, ctx.console)  # first, as docker compose does: a failed build starts nothing
    # Bound here, first: a taken port fails at once, --port 0 picks a free one, and restarts keep the URL.
    gateway = sockets.enter_context(reserve_port(options.port, shared=options.gateways > 1))
    gateways = (gateway, *(sockets.enter_context(share_port(gateway)) for _ in range(options.gateways - 1)))
    provider = sockets.enter_context(reserve_port(0))
    nats = external or start_nats(supervisor, state_dir / "nats", ctx.environ)
    # Emptied: the series of an earlier run would add up with this one's.
    metrics_dir = prepare_folder(state_dir.resolve() / "metrics")
    plan = StackPlan(state_dir, ctx.environ, nats, provider, gateways, options.workers, queues, metrics_dir)
    shutil.rmtree(plan.run_dir, ignore_errors=True)  # an earlier run's ready files must not pass for this one's
    plan.run_dir.mkdir(parents=True)
    for spec in stack_children(plan):
        supervisor.start(spec)
    url = url_of(gateway)
    with Gateway(url, transport=ctx.transport) as client:
        try:
            names = _deploy(functions, built, client, ctx.console)
            _wait_until_ready(supervisor, client, functions, options.timeout)
        except (GatewayError, GatewayUnreachable) as exc:
            supervisor.check()  # a child that died explains a failed request better than the request does
            raise StackFailed(f"the gateway failed: {exc}") from None
    connectors, webhooks = _start_connectors(supervisor, sockets, options, ctx, (url, functions))
    return Running(
        gateway=url,
        provider=url_of(provider),
        nats=nats.url,
        nats_monitor=nats.monitor,
        state_dir=str(state_dir),
        workers=options.workers,
        gateway_processes=len(gateways),
        functions=names,
        pids=supervisor.named_pids,
        queues=list(queues) if options.workers else [],
        connectors=connectors,
        webhooks=webhooks,
    )


def _write_ready_file(path: Path, running: Running) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(running), indent=2) + "\n")
    os.replace(partial, path)  # readers never see half a file


def run(options: UpOptions, ctx: Context) -> int:
    """Run the stack until a stop signal; 0 once every part has stopped."""
    try:
        return _run(options, ctx, options.ready_file)
    finally:
        if options.ready_file:
            options.ready_file.unlink(missing_ok=True)  # it describes a running stack only


def _run(options: UpOptions, ctx: Context, ready_file: Path | None) -> int:
    if ready_file:
        ready_file.unlink(missing_ok=True)  # a file from an earlier run must not pass for this one
    stop = StopFlag()
    output = Prefixer(ctx.console.stderr)
    supervisor = Supervisor(
        stop, start_timeout=_START_TIMEOUT, restart=RestartPolicy(), report=ctx.console.err, output=output
    )
    # The sockets close after the children stopped: a restarted provider or gateway needs its socket.
    with _stop_on_signals(stop), contextlib.ExitStack() as sockets, supervisor:
        try:
            running = _bring_up(supervisor, sockets, options, ctx)
            for line in banner(running):
                ctx.console.out(line)
            if ready_file:
                _write_ready_file(ready_file, running)
            supervisor.watch()
        except Stopped:
            pass
        ctx.console.out("Stopping faasq...")
    ctx.console.out("faasq stopped.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up`` to the command line."""
    parser = commands.add_parser(
        "up", help="run faasq on this machine and deploy a stack file", description=DESCRIPTION
    )
    add_arguments(parser)
    parser.set_defaults(run=lambda args, ctx: run(UpOptions.from_args(args), ctx))
