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
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from calls.wire import DEFAULT_QUEUE, DEFAULT_STREAM, QUEUE_ANNOTATION, queue_subject
from faasq.children import (
    NatsAddress,
    StackPlan,
    connector_spec,
    parse_nats_url,
    reserve_port,
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

__all__ = ["Running", "banner", "extra_queues", "register"]

# SIGHUP too: closing the terminal must not leave the children running (they are in their own groups).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_START_TIMEOUT = 60.0  # a slow machine under load can take seconds just to import the provider
_DEFAULT_STACK = Path("examples/stack.yml")
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
        f"Gateway:   {url} (API docs at {url}/docs)",
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


def _functions(args: argparse.Namespace, ctx: Context) -> list[StackFunction]:
    if args.yaml is None and not _DEFAULT_STACK.exists():
        return []  # run from outside the repository: start with nothing deployed
    return ctx.stack(Path(args.yaml or _DEFAULT_STACK)).select(None)


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


def wanted_connectors(args: argparse.Namespace, functions: list[StackFunction]) -> list[str]:
    """The connectors to run: those asked for, cron for a scheduled function, webhook and redis when configured."""
    wanted = set(args.connector or [])
    if any(_scheduled(function) for function in functions):
        wanted.add("cron")
    if args.webhook_config:
        wanted.add("webhook")
    if args.redis_url:
        wanted.add("redis")
    return sorted(wanted)


def redis_settings(args: argparse.Namespace) -> dict[str, str]:
    """The redis connector's environment from ``--redis-url``, ``--redis-channels`` and ``--redis-streams``."""
    given = {"redis_url": args.redis_url, "redis_channels": args.redis_channels, "redis_streams": args.redis_streams}
    return {name: value for name, value in given.items() if value}


def _scheduled(function: StackFunction) -> bool:
    topics = str(function.annotations.get("topic", "")).split(",")
    return "cron-function" in (topic.strip() for topic in topics) and "schedule" in function.annotations


def _start_connectors(
    supervisor: Supervisor,
    sockets: contextlib.ExitStack,
    args: argparse.Namespace,
    ctx: Context,
    plan: tuple[str, list[StackFunction]],
) -> tuple[list[str], str | None]:
    gateway, functions = plan
    names = wanted_connectors(args, functions)
    webhooks = None
    for name in names:
        if name != "webhook":
            settings = redis_settings(args) if name == "redis" else {}
            supervisor.start(connector_spec(name, gateway, ctx.environ, None, **settings))
            continue
        sock = sockets.enter_context(reserve_port(args.webhook_port))
        config = {"webhook_config": str(Path(args.webhook_config).resolve())} if args.webhook_config else {}
        supervisor.start(connector_spec(name, gateway, ctx.environ, sock, **config))
        webhooks = f"{url_of(sock)}/webhook/"
    return names, webhooks


def _nats_address(args: argparse.Namespace, ctx: Context) -> NatsAddress | None:
    url = args.nats_url or ctx.environ.get("FAASQ_NATS_URL")
    return parse_nats_url(url) if url else None


def _bring_up(supervisor: Supervisor, sockets: contextlib.ExitStack, args: argparse.Namespace, ctx: Context) -> Running:
    functions = _functions(args, ctx)
    queues = extra_queues(functions)
    external = _nats_address(args, ctx)
    state_dir = Path(args.state_dir)
    # Bound here, first: a taken port fails at once, --port 0 picks a free one, and restarts keep the URL.
    gateway = sockets.enter_context(reserve_port(args.port))
    provider = sockets.enter_context(reserve_port(0))
    nats = external or start_nats(supervisor, state_dir / "nats", ctx.environ)
    for spec in stack_children(StackPlan(state_dir, ctx.environ, nats, provider, gateway, args.workers, queues)):
        supervisor.start(spec)
    url = url_of(gateway)
    with Gateway(url, transport=ctx.transport) as client:
        try:
            names = _deploy(functions, client, ctx.console)
            _wait_until_ready(supervisor, client, functions, args.timeout)
        except (GatewayError, GatewayUnreachable) as exc:
            supervisor.check()  # a child that died explains a failed request better than the request does
            raise StackFailed(f"the gateway failed: {exc}") from None
    connectors, webhooks = _start_connectors(supervisor, sockets, args, ctx, (url, functions))
    return Running(
        url, url_of(provider), nats.url, nats.monitor, str(state_dir), args.workers, names, supervisor.named_pids,
        list(queues) if args.workers else [], connectors, webhooks,
    )  # fmt: skip


def _write_ready_file(path: Path, running: Running) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(running), indent=2) + "\n")
    os.replace(partial, path)  # readers never see half a file


def run(args: argparse.Namespace, ctx: Context) -> int:
    ready_file = Path(args.ready_file) if args.ready_file else None
    try:
        return _run(args, ctx, ready_file)
    finally:
        if ready_file:
            ready_file.unlink(missing_ok=True)  # it describes a running stack only


def _run(args: argparse.Namespace, ctx: Context, ready_file: Path | None) -> int:
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
            running = _bring_up(supervisor, sockets, args, ctx)
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


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return number


_DESCRIPTION = """\
Run faasq on this machine and deploy a stack file's functions: nats-server with JetStream (data in
STATE_DIR/nats; skipped when --nats-url or $FAASQ_NATS_URL names a server), the provider (on a private
loopback port, state in STATE_DIR/provider), the gateway on 127.0.0.1:PORT, and the queue workers,
which invoke functions through the provider: --workers for the default queue, and one more for each
queue a function names in its com.openfaas.queue annotation. Connectors run next to them as
`faasq-connector NAME` children: cron whenever a stack function has `topic: cron-function` and a
`schedule` (or with --connector cron), the webhook connector with --webhook-config FILE (or
--connector webhook) on its own port, shown in the banner, the redis connector with --redis-url URL
and --redis-streams and/or --redis-channels (or their environment variables redis_streams,
redis_channels, redis_patterns), and any installed connector with --connector NAME; their other
settings come from the environment (see docs/connectors.md). A part
that crashes is restarted with backoff at the same address; one that keeps crashing stops faasq with an
error. SIGINT (Ctrl+C), SIGTERM or SIGHUP stops
everything in order: the gateway, the workers (they finish their calls), the provider, nats-server."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up`` to the command line."""
    parser = commands.add_parser(
        "up", help="run faasq on this machine and deploy a stack file", description=_DESCRIPTION
    )
    parser.add_argument("-f", "--yaml", help=f"stack file to deploy (default: {_DEFAULT_STACK}, if there is one)")
    parser.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1; 0: any free port (8080)")
    parser.add_argument("--state-dir", default=".faasq", help="where faasq keeps its state and NATS data (.faasq)")
    parser.add_argument("--workers", type=_count, default=2, help="queue worker processes to run (default: 2)")
    parser.add_argument(
        "--nats-url",
        metavar="URL",
        help="use this NATS server (nats://HOST:PORT, JetStream on) instead of starting one",
    )
    parser.add_argument(
        "--connector",
        action="append",
        metavar="NAME",
        help="also run this connector (cron, redis, webhook, or one installed through the faasq.connectors "
        "entry points); repeatable",
    )
    parser.add_argument(
        "--webhook-config",
        metavar="FILE",
        help="run the webhook connector with this topics file (YAML: topics, signature schemes, secrets)",
    )
    parser.add_argument(
        "--webhook-port", type=int, default=8085, help="webhook connector port on 127.0.0.1; 0: any free port (8085)"
    )
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="run the redis connector against this Redis (redis://HOST:PORT/DB or unix:///PATH)",
    )
    parser.add_argument(
        "--redis-streams", metavar="NAMES", help="streams the redis connector consumes (comma-separated)"
    )
    parser.add_argument(
        "--redis-channels", metavar="NAMES", help="Pub/Sub channels the redis connector subscribes to (comma-separated)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the functions (default: 60)")
    parser.add_argument(
        "--ready-file", metavar="PATH", help="once ready, write the URLs, state dir and child pids to PATH as JSON"
    )
    parser.set_defaults(run=run)
